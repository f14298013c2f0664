"""The chat's bottom toolbar: the session's fields, fitted to the terminal's width by priority.

A field is never cut inside: what does not fit is shortened (where a field has a short form) or
dropped, the least important first. The model, who speaks to whom, the temperature and the length
come first; the filters, the seed, the memory, the stop sequence, the speed and the heat follow.
This module only lays out text; it reads no session and imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompt_toolkit.formatted_text import HTML
from prompt_toolkit.formatted_text.html import html_escape as escape
from prompt_toolkit.utils import get_cwidth

SEPARATOR = " · "
FIRST = 0  # the priority of what is kept longest


@dataclass(frozen=True)
class Field:
    text: str
    priority: int = FIRST  # higher is dropped sooner
    short: str | None = None  # what it becomes when the full form does not fit
    bold: bool = False


def _width(fields: list[Field]) -> int:
    """Columns, not characters: a Chinese character takes two."""
    return get_cwidth(SEPARATOR.join(f.text for f in fields))


def fit(fields: list[Field], width: int) -> list[Field]:
    """The fields that fit in `width` columns, in their order: dropped by priority, then shortened,
    then the first-priority ones dropped from the end."""
    kept = list(fields)
    while _width(kept) > width:
        later = [i for i, f in enumerate(kept) if f.priority > FIRST]
        if later:
            kept.pop(max(later, key=lambda i: (kept[i].priority, i)))
            continue
        long = [i for i, f in enumerate(kept) if f.short is not None and f.short != f.text]
        if long:
            i = max(long, key=lambda i: len(kept[i].text))
            kept[i] = Field(kept[i].short or "", kept[i].priority, None, kept[i].bold)
            continue
        kept.pop()
    return kept


def render(fields: list[Field], width: int) -> HTML:
    shown = [f"<b>{escape(f.text)}</b>" if f.bold else escape(f.text) for f in fit(fields, width)]
    return HTML(SEPARATOR.join(shown))


def terminal_width(default: int = 80) -> int:
    """The running prompt's width in columns, else the terminal's."""
    import shutil

    from prompt_toolkit.application import get_app_or_none

    app = get_app_or_none()
    if app is not None:
        try:
            return app.output.get_size().columns
        except Exception:  # an output without a size (a pipe in tests)
            pass
    return shutil.get_terminal_size((default, 24)).columns
