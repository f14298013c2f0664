"""The prompt's parts: slash-command completion, the history file, and the key bindings.

No chat logic lives here; `repl` puts these together into a prompt-toolkit session.
"""

from __future__ import annotations

import os

from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings

from charbot.chat import commands
from charbot.system.resources import data_dir


class CommandCompleter(Completer):
    def get_completions(self, document, complete_event):
        text = document.text_before_cursor
        if not text.startswith("/") or " " in text:
            return
        for command in commands.COMMANDS:
            if command.name.startswith(text[1:].lower()):
                yield Completion("/" + command.name, start_position=-len(text),
                                 display_meta=command.description)


HISTORY_LIMIT = 10_000  # characters; longer lines are not kept in the history file


class SafeFileHistory(FileHistory):
    """File history that warns once and carries on when the file cannot be written."""

    def __init__(self, filename: str, on_error):
        super().__init__(filename)
        self.on_error = on_error

    def store_string(self, string: str) -> None:
        if len(string) > HISTORY_LIMIT:  # a long paste: history would load it on every start
            return
        try:
            super().store_string(string)
        except OSError as error:
            self.on_error(f"history is not saved ({os.fsdecode(self.filename)}: {error.strerror}); carrying on without it")


def make_history(warn) -> History:
    warned: list[str] = []

    def warn_once(message: str) -> None:
        if not warned:
            warned.append(message)
            warn(message)

    folder = data_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "history"
        with open(path, "ab"):
            pass
        return SafeFileHistory(str(path), warn_once)
    except OSError as error:
        warn_once(f"history is not saved ({folder}: {error.strerror}); carrying on without it")
        return InMemoryHistory()


def key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event):
        event.current_buffer.insert_text("\n")

    return bindings
