"""The command line: `charbot [chat|generate|train|corpus|info]`.

Parsing is done before anything heavy is imported, so `--help` and bad flags answer at once. Every
user error ends as one line on stderr and a non-zero exit status; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from charbot.version import __version__
from charbot.config import ModelConfig, SampleConfig, TrainConfig, flagged
from charbot.training.distribute import STRATEGIES
from charbot.errors import NEEDS_TENSORFLOW, TRAINING_STACK, CharbotError
from charbot.training.precision import PRECISIONS
from charbot.generate.settings import SETTINGS

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    commands: tuple[str, ...] = ()  # the subcommands (build_parser sets them)

    def error(self, message):  # one line, not argparse's usage block
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def _typed(parse):
    def convert(text):
        try:
            return parse(text)
        except CharbotError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__.replace("parse_", "")
    return convert


def _whole(text, least):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {least} or more, not {text!r}")
    return value


def _positive_int(text):
    return _whole(text, 1)


def _count(text):
    return _whole(text, 0)


def _float(text, allowed, rule):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not allowed(value):
        raise argparse.ArgumentTypeError(f"must be {rule}, not {text!r}")
    return value


def _fraction(text):
    return _float(text, lambda v: 0.0 <= v < 1.0, "at least 0 and below 1")


def _count_float(text):
    return _float(text, lambda v: v >= 0, "a number of 0 or more")


def _positive_float(text):
    return _float(text, lambda v: 0.0 < v < float("inf"), "a finite number above 0")


class _Given(argparse.Action):
    """Stores a setting and remembers that it was given: flags given win over a resumed session's."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = {*getattr(namespace, "given", ()), self.dest}


def _add_sampling(parser, stop_default=None):
    """The settings table's flags (`--stop` only where `stop_default` is given), and --checkpoint."""
    sample = SampleConfig()
    for setting in SETTINGS:
        if setting.field == "stop" and stop_default is None:
            continue
        default = stop_default if setting.field == "stop" else getattr(sample, setting.field)
        bare = {} if setting.bare is None else {"nargs": "?", "const": setting.parse(setting.bare)}
        parser.add_argument(setting.flag, dest=setting.field, type=_typed(setting.parse), default=default, action=_Given,
                            help=f"{setting.description} (default {setting.show(default)})", **bare)
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint folder, run folder (its best/) or shipped model name "
                             "(default: the shipped Shakespeare model)")
    _add_runtime(parser)


def _add_runtime(parser) -> None:
    parser.add_argument("--runtime", choices=("auto", "litert", "tf"), default="auto",
                        help="litert runs the checkpoint's model.tflite without TensorFlow (fast start, small "
                             "memory); tf runs the TensorFlow engine; auto is litert where installed (default)")


def build_parser() -> _Parser:
    parser = _Parser(prog="charbot", description="Chat with a character-level LSTM, generate text, train your own.")
    parser.add_argument("--version", action="version", version=f"charbot {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for add in (_add_chat, _add_generate, _add_serve, _add_train, _add_corpus, _add_eval, _add_info, _add_export):
        add(sub)
    for name, command in sub.choices.items():
        command.set_defaults(run=_runner(name))
    parser.commands = tuple(sub.choices)  # for `charbot [chat options]`
    return parser


def _add_chat(sub) -> None:
    """`charbot chat`."""
    chat = sub.add_parser("chat", help="the interactive chat (the default command)",
                          description="Each line you type is a seed; the model continues it. /help lists commands.")
    _add_sampling(chat)
    chat.add_argument("--session", metavar="NAME", default=None,
                      help="resume session NAME if it exists, and save it after every turn")


def _add_generate(sub) -> None:
    """`charbot generate`."""
    generate = sub.add_parser("generate", help="continue a seed string and print the result",
                              description="Continue SEED_TEXT and print it; streams on a terminal.")
    generate.add_argument("seed_text", metavar="SEED_TEXT", help="text to continue, e.g. 'ROMEO:'; '-' reads it from standard input")
    _add_sampling(generate, stop_default=())
    generate.add_argument("-n", type=_positive_int, default=1, dest="samples", help="number of samples (default 1)")


def _add_serve(sub) -> None:
    """`charbot serve`."""
    serve = sub.add_parser("serve", help="an OpenAI-compatible HTTP API for other programs",
                           description="Serve /v1/completions and /v1/chat/completions (streamed or not), /v1/models, "
                                       "/health and /metrics. Tokens are characters.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=_positive_int, default=8000)
    serve.add_argument("--checkpoint", action="append", default=None, metavar="NAME",
                       help="a model to serve, by shipped name or path; repeat for several (default shakespeare)")
    serve.add_argument("--api-key", default=None, help="require Authorization: Bearer KEY (or set CHARBOT_API_KEY)")
    serve.add_argument("--max-streams", type=_positive_int, default=16, help="streams generated at once (default 16)")
    _add_runtime(serve)


_KINDS: dict[str, dict[str, Any]] = {"positive": {"type": _positive_int}, "count": {"type": _count}, "fraction": {"type": _fraction},
          "number": {"type": _positive_float}, "count_number": {"type": _count_float}, "whole": {"type": int},
          "switch": {"action": "store_true"}, "precision": {"choices": PRECISIONS}}


def _add_train(sub) -> None:
    """`charbot train`: the corpus and the run folder, then a flag for every field of ModelConfig and
    TrainConfig that `config.flag` marks."""
    trainer = sub.add_parser("train", help="train a model on a corpus",
                             description="Train a character LSTM; keeps OUT/best and a resumable OUT/latest.")
    trainer.add_argument("--corpus", nargs="+", default=[TrainConfig.corpus],
                         help="'shakespeare', 'tang', a UTF-8 text file, a folder (its .txt files), a pattern such "
                              "as 'texts/*.txt', or several of these; validation is the last 10%% of them all")
    trainer.add_argument("--out", type=Path, default=None, help="run folder (default runs/<corpus name>)")
    trainer.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    for config in (TrainConfig, ModelConfig):
        for field in flagged(config):
            name = field.metadata["name"] or "--" + field.name.replace("_", "-")
            helped = field.metadata["kind"] == "switch" or "default" in field.metadata["help"]
            shown = "" if helped else f" (default {field.default})"
            trainer.add_argument(name, dest=field.name, default=field.default,
                                 help=field.metadata["help"].replace("%", "%%") + shown, **_KINDS[field.metadata["kind"]])
    trainer.add_argument("--strategy", choices=STRATEGIES, default="auto",
                         help="one device, mirrored (all local GPUs, or --cpu-devices), multi-worker (TF_CONFIG); "
                              "auto is mirrored with more than one GPU, or over one logical device a core on an AVX-512 CPU "
                              "(default auto)")
    trainer.add_argument("--cpu-devices", type=_positive_int, default=0,
                         help="split the CPU into N logical devices for --strategy mirrored")


def _add_corpus(sub) -> None:
    """`charbot corpus list|show`."""
    corpus = sub.add_parser("corpus", help="list or show corpora")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", parser_class=_Parser, required=True)
    listing = corpus_sub.add_parser("list", help="each corpus with its size, sha256 and licence")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = corpus_sub.add_parser("show", help="print an excerpt of a corpus")
    show.add_argument("name", help="'shakespeare' or a path")
    show.add_argument("--chars", type=_positive_int, default=1000)
    build = corpus_sub.add_parser("build", help="build a corpus from files you have (tang: 全唐诗)",
                                  description="Build the corpus 'tang' from chinese-poetry's quantangshi folder or "
                                              "the npm tarball chinese-poetry-2.0.1.tgz, into your data folder.")
    build.add_argument("name", choices=("tang",))
    build.add_argument("--from", dest="source", type=Path, required=True, metavar="PATH",
                       help="the folder of poet.tang.*.json files, or chinese-poetry-2.0.1.tgz")


def _add_eval(sub) -> None:
    """`charbot eval`."""
    evaluate = sub.add_parser("eval", help="score a model on a text: nats and bits per character",
                              description="Score a model on a text file or corpus, the state carried through it.")
    evaluate.add_argument("text", metavar="FILE|CORPUS", help="a UTF-8 text file, or a corpus name such as 'shakespeare'")
    evaluate.add_argument("--checkpoint", type=Path, default=None,
                          help="checkpoint folder, run folder or shipped model name (default: the shipped model)")
    evaluate.add_argument("--split", choices=("all", "train", "val"), default="all",
                          help="the whole text, or the training or validation part as the checkpoint's training "
                               "split it (default all)")
    evaluate.add_argument("--streams", type=_positive_int, default=64,
                          help="read the text as this many parallel streams; 1 reads it in one piece (default 64)")
    evaluate.add_argument("--worst", type=_positive_int, default=0, metavar="N",
                          help="show the N most surprising characters in context")
    evaluate.add_argument("--heat", action="store_true", help="print the text coloured by the model's surprisal")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.add_argument("--runtime", choices=("tf", "litert"), default="tf",
                          help="tf scores with the TensorFlow model (default); litert scores the checkpoint's "
                               "model.tflite, read as one stream")


def _add_info(sub) -> None:
    """`charbot info`."""
    info = sub.add_parser("info", help="describe a checkpoint")
    info.add_argument("checkpoint", nargs="?", type=Path, default=None,
                      help="checkpoint folder, run folder or shipped model name (default: the shipped model)")
    info.add_argument("--json", action="store_true", help="machine-readable output")


def _add_export(sub) -> None:
    """`charbot export`."""
    export = sub.add_parser("export", help="write a checkpoint's model for LiteRT (model.tflite)",
                            description="Convert a checkpoint with TensorFlow's TFLiteConverter into model.tflite, "
                                        "listed in its manifest; chat and generate then run it without TensorFlow.")
    export.add_argument("checkpoint", nargs="?", type=Path, default=None,
                        help="checkpoint folder, run folder or shipped model name (default: the shipped model)")
    export.add_argument("--quantize", choices=("int8", "float32"), default="int8",
                        help="int8: dynamic-range int8 weights, about 4x smaller and faster (default); "
                             "float32 keeps the weights as they are")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0] not in parser.commands and argv[0] not in ("-h", "--help", "--version")):
        argv = ["chat", *argv]  # `charbot [chat options]` is the chat
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CharbotError as error:
        sys.stderr.write(f"charbot: error: {error}\n")
        return 1
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in TRAINING_STACK:
            raise
        sys.stderr.write(f"charbot: error: {NEEDS_TENSORFLOW.format(what=f'charbot {args.command}')}\n")
        return 1
    except BrokenPipeError:
        return 0


# Each command's runner, imported only when the command runs (a bad flag is answered before anything heavy).
_RUNNERS = {"chat": "charbot.chat.repl:run_chat", "generate": "charbot.generate.command:run_generate",
            "serve": "charbot.serve.command:run_serve", "train": "charbot.cli:_run_train",
            "corpus": "charbot.subcommands:run_corpus", "eval": "charbot.subcommands:run_eval",
            "info": "charbot.subcommands:run_info", "export": "charbot.subcommands:run_export"}


def _runner(command: str):
    def run(args) -> int:
        import importlib

        module, function = _RUNNERS[command].split(":")
        return getattr(importlib.import_module(module), function)(args)

    return run


def _run_train(args) -> int:
    from charbot.training.command import run_train

    from charbot.generate.epoch import EpochSampler

    return run_train(args, sample=EpochSampler())  # training never imports generation: the CLI hands it the sampler
