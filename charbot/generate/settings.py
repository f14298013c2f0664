"""The runtime settings a user can change: one table, feeding flags, slash commands and the toolbar.

Each `Setting` row names a `SampleConfig` field, its flag and slash command, how to parse what the
user typed (raising `CharbotError` with one line that names the bad value and what is allowed) and
how to show the value. The command line and the chat share the rows, so `--temp abc` and
`/temp abc` say the same thing, and a new setting is one row here plus its field in `config.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from charbot.config import MAX_CHARS_LIMIT, SampleConfig
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


def parse_min_p(text: str) -> float:
    if text.strip().lower() == "off":
        return 0.0
    value = _number(text, "min-p")
    if not (0.0 <= value < 1.0) or math.isnan(value):
        raise CharbotError(f"min-p must be at least 0 and below 1 (or 'off'), not {text!r}")
    return value


FORMS = {"五绝": (5, 4), "七绝": (7, 4), "五律": (5, 8), "七律": (7, 8)}  # (characters a line, lines)
FORM_ALIASES = {"wujue": "五绝", "qijue": "七绝", "wulv": "五律", "qilv": "七律"}
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF))


def is_han(char: str) -> bool:
    """A Chinese character (the CJK ideographs of the BMP: extension A and the unified block)."""
    return any(low <= ord(char) <= high for low, high in _HAN_RANGES)


def parse_form(text: str) -> str:
    """'五绝' (or an alias such as 'qijue') -> its name; 'off' -> 'off'."""
    value = text.strip()
    if value.lower() == "off":
        return "off"
    name = FORM_ALIASES.get(value.lower(), value)
    if name not in FORMS:
        raise CharbotError(f"unknown form {text!r}: use {', '.join(FORMS)} (or wujue, qijue, wulv, qilv) or off")
    return name


def parse_acrostic(text: str) -> str:
    value = text.strip()
    if value.lower() in ("off", ""):
        return ""
    if not all(is_han(char) for char in value):
        raise CharbotError(f"an acrostic is a phrase of Chinese characters such as 春夏秋冬 (or off), not {text!r}")
    return value


def parse_switch(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off", "true", "false"):  # true/false: the API's and llm's booleans, as text
        raise CharbotError(f"rhyme must be on or off, not {text!r}")
    return value in ("on", "true")


def show_stop(stop: tuple[str, ...]) -> str:
    if not stop:
        return "off"
    return " | ".join(s.replace("\n", "\\n").replace("\t", "\\t") for s in stop)


@dataclass(frozen=True)
class Setting:
    field: str  # the SampleConfig field
    name: str  # how the chat's notes name it
    label: str  # how the toolbar names it (short)
    command: str  # the slash command, without the slash
    flag: str  # the command-line flag
    argument: str  # how the argument is written in /help
    description: str
    parse: Callable  # text -> value, raising CharbotError
    show: Callable = str  # value -> text
    always_shown: bool = True  # False: the toolbar shows it only when it is not "off" (it must fit)
    bare: str | None = None  # what the flag means when given with no value (--rhyme is --rhyme on)
    priority: int = 0  # on a narrow toolbar, higher is dropped sooner (0 stays with the model's name)


SETTINGS = (
    Setting("temperature", "temperature", "temp", "temp", "--temp", "[T]", "temperature (0 = greedy)",
            parse_temperature, lambda t: f"{t:g}" + (" (greedy)" if t == 0 else "")),
    Setting("max_chars", "length", "len", "len", "--len", "[N]", "reply length limit in characters", parse_length),
    Setting("top_k", "top-k", "top-k", "topk", "--top-k", "[K|off]", "sample only from the K most likely characters",
            parse_top_k, lambda k: str(k) if k else "off", always_shown=False, priority=1),
    Setting("top_p", "top-p", "top-p", "topp", "--top-p", "[P|off]", "sample only from the smallest set with probability P",
            parse_top_p, lambda p: f"{p:g}" if p < 1 else "off", always_shown=False, priority=1),
    Setting("min_p", "min-p", "min-p", "minp", "--min-p", "[P|off]",
            "drop characters less likely than P times the most likely one", parse_min_p,
            lambda p: f"{p:g}" if p > 0 else "off", always_shown=False, priority=1),
    Setting("seed", "seed", "seed", "seed", "--seed", "[N|random]", "random seed: the same seed gives the same text",
            parse_seed, lambda s: "random" if s is None else str(s), priority=2),
    Setting("stop", "stop", "stop", "stop", "--stop", "[SEQ|off]", "end replies at SEQ (\\n for newline)", parse_stop,
            show_stop, priority=3),
    Setting("form", "form", "form", "form", "--form", "[五绝|七绝|五律|七律|off]",
            "write poems of this form, exact at every character (wujue, qijue, wulv, qilv)", parse_form,
            always_shown=False, priority=1),
    Setting("acrostic", "acrostic", "藏头", "acrostic", "--acrostic", "[PHRASE|off]",
            "each line of a poem starts with the next character of PHRASE", parse_acrostic,
            lambda a: a or "off", always_shown=False, priority=1),
    Setting("rhyme", "rhyme", "rhyme", "rhyme", "--rhyme", "[on|off]",
            "every second line of a poem ends in one rhyme group", parse_switch,
            lambda r: "on" if r else "off", always_shown=False, bare="on", priority=2),
)


def checked(base: SampleConfig | None = None, **values) -> SampleConfig:
    """`base` (default: the defaults) with `values` put in, each checked by its row's rule.

    The one check behind the API and the llm plugin; flags and slash commands parse text with the same
    rows. A value equal to the field's default is taken as it is (0 for top-k means off, as "off" does).
    Raises `CharbotError` naming the bad value.
    """
    base, defaults, rows = base or SampleConfig(), SampleConfig(), {s.field: s for s in SETTINGS}
    changes = {}
    for name, value in values.items():
        if name not in rows:
            raise CharbotError(f"unknown setting {name!r}: use {', '.join(rows)}")
        if name == "stop":
            value = () if value is None else (value,) if isinstance(value, str) else tuple(value)
            if not all(isinstance(stop, str) and stop for stop in value):
                raise CharbotError("a stop sequence must be non-empty text")
        elif value != getattr(defaults, name):
            value = rows[name].parse(value if isinstance(value, str) else str(value))
        changes[name] = value
    return base.replace(**changes)


def settings_from_args(args) -> SampleConfig:
    """A SampleConfig from parsed flags (a setting without a flag keeps its default)."""
    return SampleConfig(**{s.field: getattr(args, s.field) for s in SETTINGS if hasattr(args, s.field)})


def given_settings(args) -> dict:
    """The settings given on the command line (not defaults): they win over a resumed session's."""
    return {s.field: getattr(args, s.field) for s in SETTINGS if s.field in getattr(args, "given", ())}


def overridden(settings: SampleConfig, given: dict) -> tuple[SampleConfig, str]:
    """(`settings` with the `given` ones put in, a note naming each one that changed, or "")."""
    changed = [s for s in SETTINGS if s.field in given and getattr(settings, s.field) != given[s.field]]
    note = "; ".join(f"{s.flag} {s.show(given[s.field])} overrides the session's {s.name} "
                     f"{s.show(getattr(settings, s.field))}" for s in changed)
    return settings.replace(**given), note


def show_settings(settings) -> list[tuple[str, int]]:
    """(`label value`, priority) for the settings of a SampleConfig that the toolbar shows."""
    shown = [(s, s.show(getattr(settings, s.field))) for s in SETTINGS]
    return [(f"{s.label} {text}", s.priority) for s, text in shown if s.always_shown or text != "off"]
