"""Parse and check the runtime settings a user types, as flags or as slash-command arguments.

One function per setting, each raising `CharbotError` with a one-line message that names the bad
value and what is allowed. The command line and the chat share them, so `--temp abc` and
`/temp abc` say the same thing.
"""

from __future__ import annotations

import math

from charbot.config import MAX_CHARS_LIMIT
from charbot.errors import CharbotError

MAX_TEMPERATURE = 100.0


def _number(text: str, what: str, kind=float):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise CharbotError(f"{what} must be a number, not {text!r}") from None
    return value


def parse_temperature(text: str) -> float:
    value = _number(text, "temperature")
    if math.isnan(value) or math.isinf(value):
        raise CharbotError(f"temperature must be a finite number, not {text!r}: try 0.6 (0 = greedy)")
    if value < 0:
        raise CharbotError(f"temperature must be 0 or more, not {text!r}: try 0.6 (0 = greedy)")
    if value > MAX_TEMPERATURE:
        raise CharbotError(f"temperature {text!r} is too high (at most {MAX_TEMPERATURE:g}): try 0.6 to 1.5")
    return value


def parse_length(text: str) -> int:
    value = _number(text, "length", int)
    if value <= 0:
        raise CharbotError(f"length must be a whole number above 0, not {text!r}")
    if value > MAX_CHARS_LIMIT:
        raise CharbotError(f"length {text!r} is too large (at most {MAX_CHARS_LIMIT:,})")
    return value


def parse_top_k(text: str) -> int:
    if text.strip().lower() == "off":
        return 0
    value = _number(text, "top-k", int)
    if value < 1:
        raise CharbotError(f"top-k must be 1 or more (or 'off'), not {text!r}")
    return value


def parse_top_p(text: str) -> float:
    if text.strip().lower() == "off":
        return 1.0
    value = _number(text, "top-p")
    if not (0.0 < value <= 1.0) or math.isnan(value):
        raise CharbotError(f"top-p must be above 0 and at most 1 (or 'off'), not {text!r}")
    return value


def parse_seed(text: str) -> int | None:
    if text.strip().lower() == "random":
        return None
    value = _number(text, "seed", int)
    if not (0 <= value < 2**31 - 1):
        raise CharbotError(f"seed must be a whole number from 0 to {2**31 - 2} (or 'random'), not {text!r}")
    return value


def parse_stop(text: str) -> tuple[str, ...]:
    """`off` -> no stop sequence; otherwise the text, with \\n and \\t escapes understood."""
    if text.strip().lower() == "off":
        return ()
    value = text.replace("\\n", "\n").replace("\\t", "\t")
    if not value:
        raise CharbotError("stop sequence is empty: give some text (\\n for a newline) or 'off'")
    return (value,)


def show_stop(stop: tuple[str, ...]) -> str:
    if not stop:
        return "off"
    return " | ".join(s.replace("\n", "\\n").replace("\t", "\\t") for s in stop)
