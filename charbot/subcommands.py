"""`charbot eval`, `info`, `export` and `corpus`: the commands that read a model or a corpus and report.

They train nothing and generate nothing.
"""

from __future__ import annotations

import json
import sys


def run_corpus(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from charbot.corpus import catalogue, load_corpus
    from charbot.errors import CharbotError

    console = Console()
    if args.corpus_command == "build":
        return _build_corpus(args, console)
    if args.corpus_command == "list":
        columns = ("name", "characters", "distinct", "sha256", "licence", "source")
        rows = []
        for name in catalogue():
            try:
                corpus = load_corpus(name)
            except CharbotError as error:  # a corpus built from the user's files, not built yet
                rows.append((name, 0, 0, "not built", "", str(error)))
                continue
            rows.append((name, len(corpus.text), len(set(corpus.text)), corpus.sha256, corpus.licence, corpus.source))
        if args.json:
            print(json.dumps([dict(zip(columns, row)) for row in rows], ensure_ascii=False, indent=1))
        elif not console.is_terminal:  # whole values, tab-separated, for scripts
            print("\t".join(columns))
            for row in rows:
                print("\t".join(str(value) for value in row))
        else:
            table = Table(title="corpora")
            for column in columns:
                table.add_column(column, overflow="fold")
            for row in rows:
                table.add_row(row[0], f"{row[1]:,}", *(str(value) for value in row[2:]))
            console.print(table)
            console.print("any UTF-8 text file is a corpus too: charbot train --corpus PATH", highlight=False)
        return 0
    corpus = load_corpus(args.name)
    sys.stdout.write(corpus.text[: args.chars])
    if not corpus.text[: args.chars].endswith("\n"):
        sys.stdout.write("\n")
    return 0


def _build_corpus(args, console) -> int:
    from charbot.corpus import tang

    with console.status(f"building {args.name} from {args.source} ..."):
        record = tang.build(args.source)
    console.print(f"wrote {tang.text_path()}: {record['poems']:,} poems, {record['characters']:,} characters, "
                  f"{record['distinct_characters']:,} distinct, sha256 {record['sha256'][:16]}", highlight=False)
    from charbot.corpus import read_manifest

    reference = read_manifest(args.name).get("reference_build", {})
    if reference.get("sha256") not in (None, record["sha256"]):
        console.print(f"note: this differs from the text the shipped model was trained on (sha256 "
                      f"{reference['sha256'][:16]}, OpenCC {reference['opencc']}; this build used OpenCC "
                      f"{record['opencc']})", style="dim", highlight=False)
    return 0


def run_eval(args) -> int:
    from rich.console import Console

    from charbot.model import names
    from charbot.corpus import load_corpus
    from charbot.model.evaluate import as_json, score_text, split_text, worst_spans
    from charbot.generate.render import print_heat
    from charbot.model.vocab import describe_chars

    corpus = load_corpus(args.text)
    path = names.resolve(args.checkpoint)
    if args.runtime == "litert":
        from charbot.generate.loading import load_engine

        engine, data = load_engine(path, "litert")
        scored = engine.score  # one stream
    else:
        from charbot.model import network  # TensorFlow loads here: a missing text or model is answered first

        model, data = network.load_model(path)
        scored = lambda text: score_text(model, data.vocab, text, streams=args.streams)  # noqa: E731
    text = split_text(corpus.text, args.split, data.train_config.val_fraction)
    result = scored(text)
    spans = worst_spans(text, data.vocab, result.losses, args.worst) if args.worst else []
    if args.json:
        print(json.dumps(as_json(result, corpus.name, str(path), spans), ensure_ascii=False))
        return 0
    console = Console(soft_wrap=True)
    if args.heat:
        print_heat(console, text, data.vocab, result.losses)
    console.print(f"{corpus.name} ({args.split}): {result.nats:.4f} nats/char = {result.bits:.4f} bits/char over "
                  f"{result.characters:,} characters, {result.streams} streams, {result.seconds:.1f} s "
                  f"(model {path})", highlight=False, markup=False)
    if result.skipped:
        console.print(f"skipped characters the model does not know: {describe_chars(result.skipped)}",
                      style="yellow", highlight=False, markup=False)
    for span in spans:
        console.print(f"{span['nats']:6.2f} nats  {span['before']!r} [{span['char']!r}] {span['after']!r}",
                      highlight=False, markup=False)
    return 0


def run_info(args) -> int:
    from rich.console import Console

    from charbot.model import checkpoint, describe, names

    data = checkpoint.load(names.resolve(args.checkpoint))
    console = Console()
    if args.json:
        print(json.dumps(describe.as_json(data), ensure_ascii=False, indent=1))
    elif console.is_terminal:
        console.print(describe.describe(data))
    else:
        sys.stdout.write(describe.plain(data))
    return 0


def run_export(args) -> int:
    from charbot.model import checkpoint, export, names

    data = checkpoint.load(names.resolve(args.checkpoint))
    path = export.export(data, args.quantize)
    where = "" if path.parent == data.path else " (the checkpoint folder is read-only: into the user cache)"
    print(f"wrote {path}{where}: {path.stat().st_size / 1e6:.1f} MB, {args.quantize} weights")
    return 0
