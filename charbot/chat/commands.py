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
from charbot.generate.render import count
from charbot.generate.settings import SETTINGS, Setting


@dataclass(frozen=True)
class Command:
    name: str
    argument: str  # how the argument is written in /help, "" for none
    description: str
    handler: Callable


class Quit(Exception):
    """Raised by /quit; the chat loop ends cleanly."""


def _setting_command(setting: Setting) -> Command:
    """`/name [value]`: show the setting, or parse and set it."""

    def handle(chat, arg):
        if arg:
            settings = chat.wait_for_model().settings.replace(**{setting.field: setting.parse(arg)})
            if settings.form != "off" or settings.acrostic or settings.rhyme:
                from charbot.generate.forms import constraint_for

                constraint_for(settings, chat.wait_for_model().engine.vocab)  # this model, this phrase, this form
            chat.wait_for_model().settings = settings
        chat.renderer.note(f"{setting.name} {setting.show(getattr(chat.wait_for_model().settings, setting.field))}")

    return Command(setting.command, setting.argument, f"show or set the {setting.description}", handle)


def _party(chat, arg, field, what):
    """/as and /to: show, set (a speaker's name, as the corpus writes it) or turn off."""
    session = chat.wait_for_model()
    if arg.lower() == "off":
        setattr(session, field, None)
    elif arg:
        if ":" in arg or "\n" in arg:
            raise CharbotError(f"/{'as' if field == 'speaker' else 'to'} takes a speaker's name without ':', "
                               f"e.g. ROMEO, or 'off'")
        setattr(session, field, arg)
    value = getattr(session, field)
    chat.renderer.note(f"{what} {value}" if value else f"{what} off" + (
        ": plain seed mode" if field == "speaker" else ": the model picks who answers"))


def _as(chat, arg):
    _party(chat, arg, "speaker", "you speak as")


def _to(chat, arg):
    _party(chat, arg, "addressee", "the model answers as")


def _reset(chat, arg):
    chat.wait_for_model().reset()
    chat.renderer.note("memory cleared")


def _undo(chat, arg):
    turn = chat.wait_for_model().undo()
    chat.renderer.note(f"undid the turn that began {turn.seed_text[:30]!r}; memory {chat.wait_for_model().memory_chars:,} chars")


def _regen(chat, arg):
    turn = chat.wait_for_model().regenerate(chat.renderer)
    chat.renderer.note(f"seed {turn.seed}")


def _probs(chat, arg):
    chat.renderer.probs(chat.wait_for_model().engine.top_next(chat.wait_for_model().state, k=10))


def _heat(chat, arg):
    if arg not in ("on", "off", ""):
        raise CharbotError(f"/heat takes 'on' or 'off', not {arg!r}")
    if arg:
        chat.wait_for_model().heat = arg == "on"
    chat.renderer.note(f"heat {'on: red = unlikely, green = confident' if chat.wait_for_model().heat else 'off'}")


def _info(chat, arg):
    from charbot.model.describe import describe

    chat.wait_for_model()  # which sets chat.checkpoint
    chat.renderer.console.print(describe(chat.checkpoint))


def _model(chat, arg):
    if not arg:
        chat.wait_for_model()  # which sets chat.checkpoint
        chat.renderer.note(f"model {chat.checkpoint.path}")
        return
    from charbot.model.names import resolve

    chat.switch_model(resolve(arg))
    chat.renderer.note(f"switched to {chat.checkpoint.path}; memory cleared")


def _transcript(chat, arg):
    if not arg:
        raise CharbotError("/transcript needs a file name, e.g. /transcript scene.txt (or scene.md for Markdown)")
    from charbot.system.resources import write_atomically

    path = Path(arg).expanduser()
    text = chat.wait_for_model().transcript()
    if path.suffix.lower() in (".md", ".markdown"):
        text = f"# charbot session with {chat.wait_for_model().model_name}\n\n```text\n{text}```\n"
    try:
        write_atomically(path, text.encode("utf-8"))
    except OSError as error:
        raise CharbotError(f"cannot write {path}: {error.strerror}") from None
    chat.renderer.note(f"wrote {count(len(chat.wait_for_model().turns), 'turn')} to {path}")


def _save(chat, arg):
    from charbot.chat import saved as sessions

    if not arg:
        raise CharbotError("/save needs a session name, e.g. /save verona (or a path)")
    if not chat.claim(arg):
        return
    path = sessions.save(chat.wait_for_model(), chat.checkpoint, arg)
    chat.renderer.note(f"saved session {arg} ({path}); it is saved after every turn from now on")


def _load(chat, arg):
    if not arg:
        raise CharbotError("/load needs a session name; /sessions lists them")
    chat.load_session(arg)


def _sessions(chat, arg):
    from charbot.chat import saved as sessions

    rows = sessions.listing()
    if not rows:
        chat.renderer.note(f"no saved sessions in {sessions.folder()}; /save NAME saves this one")
        return
    chat.renderer.note("\n".join(f"  {r['name']:<20} {count(r['turns'], 'turn'):>10}  {r['saved']}  {r['model']}" for r in rows))


def _help(chat, arg):
    lines = [f"  {'/' + c.name + (' ' + c.argument if c.argument else ''):<20} {c.description}" for c in COMMANDS]
    chat.renderer.note("Type a line and the model continues it; an empty line continues from where it is.\n"
                       "Alt-Enter (or Esc then Enter) inserts a newline; Ctrl-C stops a reply; Ctrl-D quits.\n"
                       + "\n".join(lines))


def _quit(chat, arg):
    raise Quit


COMMANDS = [
    *(_setting_command(setting) for setting in SETTINGS),
    Command("as", "[NAME|off]", "dialogue: each line you type is a speech of NAME", _as),
    Command("to", "[NAME|off]", "dialogue: the model answers as NAME", _to),
    Command("reset", "", "clear the model's memory", _reset),
    Command("undo", "", "drop the last turn and its memory", _undo),
    Command("regen", "", "sample the last reply again with a new seed", _regen),
    Command("probs", "", "the most likely next characters right now", _probs),
    Command("heat", "on|off", "colour each character by the model's confidence", _heat),
    Command("info", "", "the model, its corpus and validation loss", _info),
    Command("model", "NAME|PATH", "switch to another checkpoint", _model),
    Command("save", "NAME", "save this session as NAME and keep saving it", _save),
    Command("load", "NAME", "switch to the saved session NAME", _load),
    Command("sessions", "", "list the saved sessions", _sessions),
    Command("transcript", "FILE", "write the transcript to FILE (.md for Markdown)", _transcript),
    Command("help", "", "list the commands", _help),
    Command("quit", "", "leave charbot", _quit),
]
BY_NAME = {command.name: command for command in COMMANDS}


def parse(line: str) -> tuple[Command, str]:
    """`/temp 0.2` -> (the temp command, "0.2"). Raises `CharbotError` for an unknown command."""
    name, arg = (line[1:].split(maxsplit=1) + ["", ""])[:2]  # any whitespace ends the name (a newline too)
    command = BY_NAME.get(name.lower())
    if command is None:
        close = difflib.get_close_matches(name.lower(), BY_NAME, n=1, cutoff=0.5)
        hint = f"; did you mean /{close[0]}?" if close else "; /help lists them"
        raise CharbotError(f"unknown command /{name}{hint}")
    return command, arg.strip()
