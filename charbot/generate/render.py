"""Showing text: the user's seed, streamed characters, heat colours, warnings and the probs table.

The engine yields `Token`s; this module writes them. Generated text is written as plain text, never
interpreted as rich markup (`[` is ordinary text in a play). On a terminal the characters are
flushed as they arrive; when output is piped, the same text is written with no styling at all.
"""

from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.style import Style
from rich.table import Table

SEED_STYLE = Style(bold=True)
REPLY_STYLE = Style(color="cyan")
NOTE_STYLE = Style(dim=True)
SEED_ECHO_LIMIT, SEED_ECHO_HEAD = 2_000, 500  # a longer seed is echoed as its first and last characters


def count(n: int, noun: str) -> str:
    """'1 turn', '3 turns', '1,200 turns'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def heat_style(probability: float) -> Style:
    """Red for characters the model thought unlikely, through yellow, to green for confident ones."""
    p = min(1.0, max(0.0, probability))
    red = int(255 * min(1.0, 2.0 * (1.0 - p)))
    green = int(255 * min(1.0, 2.0 * p))
    return Style(color=f"rgb({red},{green},60)")


def print_heat(console: Console, text: str, vocab, losses) -> None:
    """`text` coloured by how surprised the model was by each character (`losses`: nats, one per scored
    character); unknown characters and the unscored first one stay plain."""
    import math

    from rich.text import Text

    out, k, first = Text(), 0, True
    for char in text:
        if char not in vocab or first:  # unknown, or the first (nothing to predict it from): plain
            first = first and char not in vocab
            out.append(char)
            continue
        out.append(char, style=heat_style(math.exp(-float(losses[k]))))
        k += 1
    console.print(out, highlight=False)


class TerminalRenderer:
    """A `base.Renderer` for the terminal (or a pipe): seeds bold, replies in colour or heat, notes dim."""

    def __init__(self, console: Console, heat: Callable[[], bool] = lambda: False):
        """Args:
            heat: whether to colour by probability now (the chat's answer lives on its session)."""
        self.console = console
        self._heat = heat

    @property
    def heat(self) -> bool:
        return self._heat()

    @property
    def styled(self) -> bool:
        return self.console.is_terminal and self.console.color_system is not None

    def _write(self, text: str, style: Style | None) -> None:
        if self.styled and style is not None:
            text = style.render(text, color_system=self.console.color_system)  # type: ignore[arg-type]  # rich maps the name
        # Straight to the file, not console.print: a reply arrives a character at a time and must show
        # at once, unwrapped, with `[` and the like never read as markup.
        self.console.file.write(text)
        self.console.file.flush()

    def seed(self, text: str) -> None:
        """Echo a seed; on a terminal a very long one (a paste) shows its start and end only."""
        if self.console.is_terminal and len(text) > SEED_ECHO_LIMIT:
            head, tail = text[:SEED_ECHO_HEAD], text[-(SEED_ECHO_LIMIT - SEED_ECHO_HEAD):]
            self._write(head, SEED_STYLE)
            self._write(f"\n[… {len(text) - len(head) - len(tail):,} characters not shown …]\n", NOTE_STYLE)
            text = tail
        self._write(text, SEED_STYLE)

    def token(self, token) -> None:
        self._write(token.text, heat_style(token.probability) if self.heat else REPLY_STYLE)

    def text(self, text: str) -> None:
        self._write(text, REPLY_STYLE)

    def end_line(self, text_so_far: str) -> None:
        """Make sure the next output starts on a fresh line."""
        if text_so_far and not text_so_far.endswith("\n"):
            self._write("\n", None)

    def note(self, message: str) -> None:
        self.console.print(message, style=NOTE_STYLE, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        self.console.print(message, style="yellow", markup=False, highlight=False)

    def error(self, message: str) -> None:
        self.console.print(message, style="bold red", markup=False, highlight=False)

    def probs(self, pairs: list[tuple[str, float]]) -> None:
        table = Table(title="next character", show_edge=False)
        table.add_column("char")
        table.add_column("probability", justify="right")
        table.add_column("")
        for char, p in pairs:
            table.add_row(repr(char), f"{p:.3f}", "█" * max(1, round(p * 30)) if p >= 0.005 else "",
                          style=heat_style(p) if self.heat else None)
        self.console.print(table)
