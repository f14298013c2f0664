"""One writer per file: a lock file holding the writer's pid and host. A run folder has one trainer
(`run_lock`, `OUT/train.lock`); a chat session has one chat (`NAME.lock` beside `NAME.json`).

A second writer is refused in one line naming the process that holds the lock. A lock whose process
is gone (a crash, a kill -9) is stale and is taken over with a note. A lock held on another host
cannot be checked from here, so it is refused with the file to delete if it is stale. This module
knows nothing about training or chat.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from charbot.errors import CharbotError

LOCK_NAME = "train.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class PidLock:
    """Hold the lock file `path` between `acquire()` and `release()` (or for a `with` block).

    Args:
        held: how a refusal begins, before "process PID", e.g. "session scene is open in".
        advice: what to do instead, ending the refusal.
        holder: what the holding process is called, e.g. "run" or "chat".
        note: hears of a stale lock taken over.
    """

    def __init__(self, path: Path, held: str, advice: str, holder: str, note=None, unwritable: str = ""):
        self.path, self.held, self.advice, self.holder = Path(path), held, advice, holder
        self.unwritable = unwritable  # what follows where the lock file cannot be written at all
        self.note = note or (lambda text: None)
        self.mine = {"pid": os.getpid(), "host": socket.gethostname()}

    def acquire(self) -> "PidLock":
        for _ in range(2):  # a second try after removing a stale lock
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._clear_stale()
                continue
            except OSError as error:  # no such folder, read-only, /proc: one line, never a traceback
                raise CharbotError(f"cannot write the lock {self.path}: {error.strerror or error}"
                                   + (f"; {self.unwritable}" if self.unwritable else "")) from None
            with os.fdopen(handle, "w") as file:
                json.dump(self.mine, file)
            return self
        raise CharbotError(f"{self.path} was taken by another process at the same moment; try again")

    __enter__ = acquire

    def check(self) -> None:
        """Refuse now if a live process holds the lock (without taking it): an early answer, before a
        slow start-up; `acquire` still decides."""
        if self.path.exists():
            self._clear_stale()

    def _clear_stale(self) -> None:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            pid, host = int(holder["pid"]), str(holder["host"])
        except FileNotFoundError:
            return  # released meanwhile
        except (OSError, ValueError, KeyError, TypeError):
            self.note(f"{self.path} was unreadable; taking it over")
            self.path.unlink(missing_ok=True)
            return
        if host != self.mine["host"]:
            raise CharbotError(f"{self.held} process {pid} on {host}; if that {self.holder} is over, delete "
                               f"{self.path}")
        if _alive(pid):
            raise CharbotError(f"{self.held} process {pid}: {self.advice}")
        self.note(f"taking over the lock of process {pid}, which is gone (a crashed or killed {self.holder})")
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        try:
            if json.loads(self.path.read_text(encoding="utf-8")) == self.mine:
                self.path.unlink()
        except (OSError, ValueError):
            pass

    def __exit__(self, *exc) -> None:
        self.release()


def run_lock(out: Path, note=None) -> PidLock:
    """`with run_lock(out, note)`: one trainer for the run folder `out`."""
    return PidLock(Path(out) / LOCK_NAME, f"{Path(out)} is being trained by",
                   "wait for it, stop it, or pick another --out", "run", note, unwritable="pick another --out")
