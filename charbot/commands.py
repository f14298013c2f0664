"""The chat's slash commands: one table, each entry a handler, its argument and a one-line help.

Handlers take the `Chat` (session, renderer, loader) and the argument text. Bad arguments raise
`CharbotError`, which the chat prints as one line before carrying on. The table feeds `/help`, tab
completion (with the descriptions) and the "did you mean" suggestion for unknown commands.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from charbot.errors import CharbotError
from charbot.settings import (
    parse_length, parse_seed, parse_stop, parse_temperature, parse_top_k, parse_top_p, show_stop,
)


@dataclass(frozen=True)
class Command:
    name: str
    argument: str  # how the argument is written in /help, "" for none
    description: str
    handler: Callable
    needs_model: bool = True


class Quit(Exception):
    """Raised by /quit; the chat loop ends cleanly."""


def _setting(chat, arg, field, parse, show=str, label=None):
    label = label or field
    if arg:
        value = parse(arg)
        chat.session.settings = chat.session.settings.replace(**{field: value})
    chat.renderer.note(f"{label} {show(getattr(chat.session.settings, field))}")


def _temp(chat, arg):
    _setting(chat, arg, "temperature", parse_temperature, lambda t: f"{t:g}" + (" (greedy)" if t == 0 else ""))


def _len(chat, arg):
    _setting(chat, arg, "max_chars", parse_length, label="length")


def _topk(chat, arg):
    _setting(chat, arg, "top_k", parse_top_k, lambda k: str(k) if k else "off", label="top-k")


def _topp(chat, arg):
    _setting(chat, arg, "top_p", parse_top_p, lambda p: f"{p:g}" if p < 1 else "off", label="top-p")


def _seed(chat, arg):
    _setting(chat, arg, "seed", parse_seed, lambda s: "random" if s is None else str(s))


def _stop(chat, arg):
    _setting(chat, arg, "stop", parse_stop, show_stop)


def _reset(chat, arg):
    chat.session.reset()
    chat.renderer.note("memory cleared")


def _undo(chat, arg):
    turn = chat.session.undo()
    chat.renderer.note(f"undid the turn that began {turn.seed_text[:30]!r}; memory {chat.session.memory_chars:,} chars")


def _regen(chat, arg):
    turn = chat.session.regenerate(chat.renderer)
    chat.renderer.note(f"seed {turn.seed}")


def _probs(chat, arg):
    chat.renderer.probs(chat.session.engine.top_next(chat.session.state, k=10))


def _heat(chat, arg):
    if arg not in ("on", "off", ""):
        raise CharbotError(f"/heat takes 'on' or 'off', not {arg!r}")
    if arg:
        chat.session.heat = chat.renderer.heat = arg == "on"
    chat.renderer.note(f"heat {'on: red = unlikely, green = confident' if chat.session.heat else 'off'}")


def _info(chat, arg):
    from charbot.describe import describe

    chat.renderer.console.print(describe(chat.checkpoint))


def _model(chat, arg):
    if not arg:
        chat.renderer.note(f"model {chat.checkpoint.path}")
        return
    from charbot.checkpoint import resolve

    chat.switch_model(resolve(arg))
    chat.renderer.note(f"switched to {chat.checkpoint.path}; memory cleared")


def _save(chat, arg):
    if not arg:
        raise CharbotError("/save needs a file name, e.g. /save scene.txt")
    from charbot.resources import write_atomically

    path = Path(arg).expanduser()
    try:
        write_atomically(path, chat.session.transcript().encode("utf-8"))
    except OSError as error:
        raise CharbotError(f"cannot write {path}: {error.strerror}") from None
    chat.renderer.note(f"saved {len(chat.session.turns)} turns to {path}")


def _help(chat, arg):
    lines = [f"  {'/' + c.name + (' ' + c.argument if c.argument else ''):<20} {c.description}" for c in COMMANDS]
    chat.renderer.note("Type a line and the model continues it; an empty line continues from where it is.\n"
                       "Alt-Enter (or Esc then Enter) inserts a newline; Ctrl-C stops a reply; Ctrl-D quits.\n"
                       + "\n".join(lines))


def _quit(chat, arg):
    raise Quit


COMMANDS = [
    Command("temp", "[T]", "show or set the temperature (0 = greedy)", _temp),
    Command("len", "[N]", "show or set the reply length limit", _len),
    Command("topk", "[K|off]", "sample only from the K most likely characters", _topk),
    Command("topp", "[P|off]", "sample only from the smallest set with probability P", _topp),
    Command("seed", "[N|random]", "fix the seed for reproducible replies", _seed),
    Command("stop", "[SEQ|off]", "end replies at SEQ (\\n for newline)", _stop),
    Command("reset", "", "clear the model's memory", _reset),
    Command("undo", "", "drop the last turn and its memory", _undo),
    Command("regen", "", "sample the last reply again with a new seed", _regen),
    Command("probs", "", "the most likely next characters right now", _probs),
    Command("heat", "on|off", "colour each character by the model's confidence", _heat),
    Command("info", "", "the model, its corpus and validation loss", _info),
    Command("model", "NAME|PATH", "switch to another checkpoint", _model),
    Command("save", "FILE", "write the transcript to FILE", _save),
    Command("help", "", "list the commands", _help, needs_model=False),
    Command("quit", "", "leave charbot", _quit, needs_model=False),
]
BY_NAME = {command.name: command for command in COMMANDS}


def parse(line: str) -> tuple[Command, str]:
    """`/temp 0.2` -> (the temp command, "0.2"). Raises `CharbotError` for an unknown command."""
    name, _, arg = line[1:].strip().partition(" ")
    command = BY_NAME.get(name.lower())
    if command is None:
        close = difflib.get_close_matches(name.lower(), BY_NAME, n=1, cutoff=0.5)
        hint = f"; did you mean /{close[0]}?" if close else "; /help lists them"
        raise CharbotError(f"unknown command /{name}{hint}")
    return command, arg.strip()
