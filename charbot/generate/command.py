"""`charbot generate`: continue a seed string once (or `-n` times) and print it.

Streams on a terminal; prints plain text when piped. The seed used goes to stderr, so a good result
can be made again with `--seed`.
"""

from __future__ import annotations

import sys

from rich.console import Console

from charbot.errors import CharbotError
from charbot.generate.forms import constraint_for
from charbot.generate.render import TerminalRenderer
from charbot.generate.settings import settings_from_args
from charbot.model.vocab import describe_chars


def _stdin_text() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CharbotError(f"standard input is not UTF-8 text (byte {error.start:,} is invalid): "
                           f"convert it, e.g. with iconv") from None


def run_generate(args) -> int:
    from charbot.model.names import resolve

    path = resolve(args.checkpoint)  # bad input is answered before TensorFlow loads
    seed_text = _stdin_text() if args.seed_text == "-" else args.seed_text
    settings = settings_from_args(args)
    from charbot.generate.loading import load_engine
    from charbot.generate.state import seed_or_new

    errors = Console(stderr=True)
    note = lambda text: errors.print(text, style="dim", markup=False, highlight=False)  # noqa: E731
    engine, _ = load_engine(path, args.runtime, note)
    seed = seed_or_new(settings.seed)
    state, skipped = engine.start(seed_text)
    if skipped:
        errors.print(f"warning: skipped characters the model does not know: {describe_chars(skipped)}",
                     style="yellow", markup=False, highlight=False)
    errors.print(f"seed {seed}", style="dim", highlight=False)
    constraint = lambda: constraint_for(settings, engine.vocab, seed_text)  # noqa: E731  (one for each sample)
    constraint()  # a seed that breaks the form is refused before anything is printed
    renderer = TerminalRenderer(Console())
    if args.samples > 1:
        for i, text in enumerate(engine.sample(state, settings, seed, args.samples, constraint), start=1):
            renderer.note(f"── sample {i} of {args.samples} ──")
            renderer.seed(seed_text)
            renderer.text(text)
            renderer.end_line(seed_text + text)
        return 0
    renderer.seed(seed_text)
    stream = engine.stream(state, settings, seed, constraint())
    try:
        for token in stream:
            renderer.token(token)
    except KeyboardInterrupt:
        renderer.end_line(seed_text + stream.text)
        return 130
    renderer.end_line(seed_text + stream.text)
    sys.stdout.flush()
    return 0
