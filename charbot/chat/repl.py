"""The chat: a prompt-toolkit loop that streams replies through rich.

The prompt appears at once; TensorFlow and the model load in a background thread while the user types
(the toolbar says "loading" until then, and a line sent early waits for the model). On a terminal:
history in the user's data folder, tab completion of slash commands, Alt-Enter for a newline, a
bottom toolbar with the live settings. With stdin not a terminal, lines are read as a script and the
output is plain text. This module never imports training.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import HTML
from rich.console import Console

from charbot.chat import commands
from charbot.chat import saved as sessions
from charbot.chat import toolbar
from charbot.config import SampleConfig
from charbot.errors import CharbotError
from charbot.system.runlock import PidLock
from charbot.generate.render import TerminalRenderer, count
from charbot.chat.loader import ModelLoader
from charbot.chat.prompt import CommandCompleter, key_bindings, make_history
from charbot.chat.session import Session
from charbot.generate.settings import given_settings, overridden, settings_from_args, show_settings


class Chat:
    """Everything a chat turn touches: the loader, the session, the renderer."""

    def __init__(self, console: Console, loader, settings: SampleConfig, session_name: str | None = None,
                 given: dict | None = None):
        """Args:
            given: settings given on the command line; they win over those of a session loaded."""
        self.console = console
        self.renderer = TerminalRenderer(console, heat=lambda: self._session is not None and self._session.heat)
        self.loader = loader
        self.settings = settings
        self._session: Session | None = None
        self.checkpoint = None
        self.session_name = session_name  # saved after every line when set (--session, /save, /load)
        self.given = given or {}
        self.lock: PidLock | None = None  # held for session_name, so that one chat at a time saves it

    def wait_for_model(self) -> Session:
        """The session, once the model has loaded: waits for it (with a note), shows the loader's notes, and
        opens the --session NAME given. Every flow that needs the model calls this first."""
        if self._session is None:
            if not self.loader.ready.is_set():
                self.renderer.note("loading the model…")
            engine, self.checkpoint = self.loader.wait()
            for note in self.loader.notes:
                self.renderer.note(note)
            self._session = Session(engine, model_name(self.checkpoint), settings=self.settings)
            name = self.session_name
            if name and sessions.path_for(name).is_file():
                self.load_session(name)
            elif name:
                self.claim(name)
        return self._session

    def load_session(self, name: str) -> None:
        """Switch to the saved session `name` (it is then saved after every line)."""
        document, arrays = sessions.read(name)
        engine, checkpoint = self.wait_for_model().engine, self.checkpoint
        make = lambda settings: Session(engine, model_name(checkpoint), settings=settings)  # noqa: E731
        self._session, note = sessions.restore(document, arrays, engine, checkpoint, make)
        self._session.settings, flags = overridden(self._session.settings, self.given)
        notes = "".join(f"; {n}" for n in (note, flags) if n)
        self.renderer.note(f"session {name}: {count(len(self._session.turns), 'turn')}{notes}")
        self.claim(name)

    def claim(self, name: str) -> bool:
        """Become the one writer of session `name`; if another chat is, say so and go on read-only."""
        if self.lock is not None and self.lock.path == sessions.lock(name).path:
            self.session_name = name
            return True
        try:
            lock = sessions.lock(name, self.renderer.note).acquire()
        except CharbotError as error:
            self.renderer.warn(str(error))
            self.release()
            return False
        self.release()
        self.lock, self.session_name = lock, name
        return True

    def release(self) -> None:
        """Stop being the writer of the current session (at exit, or on switching to another)."""
        if self.lock is not None:
            self.lock.release()
        self.lock, self.session_name = None, None

    def autosave(self) -> None:
        if self.session_name and self._session is not None:
            sessions.save(self._session, self.checkpoint, self.session_name)

    def switch_model(self, path: Path) -> None:
        from charbot.generate.loading import load_engine

        engine, data = load_engine(path, self.loader.runtime, self.renderer.note)
        old = self.wait_for_model()
        self._session = Session(engine, model_name(data), settings=old.settings, heat=old.heat)
        self.checkpoint = data

    def handle(self, line: str) -> None:
        """One line of input: a slash command, or a seed to continue (empty: continue as is)."""
        if line.startswith("/"):
            command, arg = commands.parse(line)
            command.handler(self, arg)
            return
        session = self.wait_for_model()
        turn = session.say(line, self.renderer)
        if self.console.is_terminal:
            ended = {"stop": "", "length": " · length limit", "interrupted": " · stopped"}[turn.stopped_by]
            self.renderer.note(f"seed {turn.seed} · {len(turn.reply)} chars · {session.last_speed:,.0f} chars/s{ended}")

    def toolbar(self, width: int | None = None):
        """The bottom toolbar, fitted to `width` columns (default: the terminal's)."""
        if self.loader.error and self._session is None:
            return HTML("<b>model failed to load</b>: <style fg='ansired'>{}</style>").format(self.loader.error)
        if not self.loader.ready.is_set():
            return HTML("<b>charbot</b> · loading the model…")
        session = self.wait_for_model()  # ready: the session is made now, so the toolbar shows its settings
        return toolbar.render(toolbar_fields(session), width or toolbar.terminal_width())


def toolbar_fields(session) -> list[toolbar.Field]:
    """The session's toolbar fields in order, each with its priority (see `charbot.chat.toolbar`)."""
    name = session.model_name
    fields = [toolbar.Field(name, short=name.rsplit("/", 1)[-1], bold=True)]
    if session.speaker:
        to = session.addressee or "anyone"
        fields.append(toolbar.Field(f"{session.speaker} → {to}", short=f"{session.speaker}→{to}"))
    fields += [toolbar.Field(text, priority) for text, priority in show_settings(session.settings)]
    fields.append(toolbar.Field(f"memory {session.memory_chars:,}", 3, short=f"mem {session.memory_chars:,}"))
    if session.last_speed:
        fields.append(toolbar.Field(f"{session.last_speed:,.0f} ch/s", 4))
    if session.heat:
        fields.append(toolbar.Field("heat on", 4))
    return fields


def model_name(data) -> str:
    return data.path.name if data.path.name not in ("best", "latest") else f"{data.path.parent.name}/{data.path.name}"


def loop(chat: Chat, prompt_session: PromptSession) -> int:
    """The interactive loop; returns the exit status."""
    while True:
        try:
            line = prompt_session.prompt("› ")
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            return 0
        if not turn(chat, line):
            return 0


def turn(chat: Chat, line: str) -> bool:
    """Handle one line; False when the chat should end."""
    try:
        chat.handle(line)
    except commands.Quit:
        return False
    except CharbotError as error:
        chat.renderer.error(str(error))
    except KeyboardInterrupt:
        chat.renderer.note("stopped")
    try:
        chat.autosave()
    except CharbotError as error:
        chat.renderer.error(str(error))
    return True


def _take_ctrl_c() -> None:
    """Make Ctrl-C stop a reply even when charbot started with SIGINT ignored.

    A job that a script or `nohup` starts in the background inherits SIGINT ignored, and Python then
    never raises KeyboardInterrupt: the prompt still saw Ctrl-C (prompt-toolkit handles it itself), but
    a reply streamed on to its length limit. An interactive chat reads its own terminal, so a Ctrl-C
    typed there is meant for it."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run_script(chat: Chat, lines) -> int:
    """Lines from a pipe or file; exit status 1 when the model could not be loaded."""
    for line in lines:
        if not turn(chat, line.rstrip("\n")):
            break
    return 1 if chat.loader.ready.is_set() and chat.loader.error else 0


def run_chat(args) -> int:
    from charbot.model.names import resolve

    loader = ModelLoader(resolve(args.checkpoint), getattr(args, "runtime", "auto")).start()  # a typo is an error now, not after loading
    settings = settings_from_args(args)
    try:
        return _run(loader, settings, args.session, given_settings(args))
    finally:
        loader.close()


def _run(loader: ModelLoader, settings: SampleConfig, session_name: str | None, given: dict) -> int:
    chat = Chat(Console(), loader, settings, session_name, given)
    try:
        return run_script(chat, sys.stdin) if not sys.stdin.isatty() else _interactive(chat)
    finally:
        chat.release()


def _interactive(chat: Chat) -> int:
    _take_ctrl_c()
    console = chat.console
    console.print("[bold]charbot[/] · type a line and the model continues it · [dim]/help for commands, "
                  "Ctrl-D to quit[/]", highlight=False)
    prompt_session: PromptSession[str] = PromptSession(
        history=make_history(chat.renderer.warn), bottom_toolbar=chat.toolbar, completer=CommandCompleter(),
        complete_while_typing=True, key_bindings=key_bindings(), refresh_interval=0.5, erase_when_done=True,
    )
    return loop(chat, prompt_session)
