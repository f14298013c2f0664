"""Loading the chat's model in the background, so that the prompt appears at once.

The loader builds the engine on a thread and warms its compiled code while the user types; the chat
waits on it only when a line needs the model. This module draws nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

from charbot.errors import CharbotError
from charbot.generate.base import Engine


class ModelLoader:
    """Loads a checkpoint into an engine on a background thread, and warms its compiled code."""

    def __init__(self, path: Path | None, runtime: str = "auto"):
        self.path = path
        self.runtime = runtime
        self.notes: list[str] = []  # one-line notes from loading (an export on first use), shown by the chat
        self.ready = threading.Event()
        self.engine: Engine | None = None
        self.checkpoint = None
        self.error: str | None = None
        self._closing = threading.Event()
        self._later: threading.Thread | None = None

    def start(self) -> "ModelLoader":
        threading.Thread(target=self._load, name="charbot-loader", daemon=True).start()
        return self

    def _load(self) -> None:
        try:
            from charbot.generate.loading import load_engine

            engine, data = load_engine(self.path, self.runtime, self.notes.append)
            engine.warm_up()  # what a first short line and a reply need; longer inputs after "ready"
            self.engine, self.checkpoint = engine, data
        except CharbotError as error:
            self.error = str(error)
        except Exception as error:  # a bug, but the prompt must stay usable to say so
            self.error = f"could not load the model: {type(error).__name__}: {error}"
        finally:
            self.ready.set()
        if self.engine is not None and not self._closing.is_set():  # the rest, later, so as not to slow the
            # first reply; published only once started, for `close` may run on another thread
            later = threading.Thread(target=self._warm_rest, daemon=True)
            later.start()
            self._later = later

    def _warm_rest(self) -> None:
        if not self._closing.wait(3.0) and self.engine is not None:
            self.engine.warm_up_rest(self._closing)

    def close(self) -> None:
        """Stop background compiling before the interpreter exits (TensorFlow dislikes dying mid-compile)."""
        self._closing.set()
        if self._later is not None:
            self._later.join(timeout=30)

    def wait(self):
        while not self.ready.wait(0.1):  # short waits keep Ctrl-C responsive
            pass
        if self.error:
            raise CharbotError(self.error)
        return self.engine, self.checkpoint
