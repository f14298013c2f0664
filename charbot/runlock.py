"""One run folder, one trainer: a lock file in the run folder holding the trainer's pid and host.

A second `charbot train` on the same folder refuses in one line naming the process that holds it. A
lock whose process is gone (a crash, a kill -9) is stale and is taken over with a note. A lock held
on another host cannot be checked from here, so it is refused with the file to delete if it is stale.
This module knows nothing about training.
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


class RunLock:
    """`with RunLock(out, note)`: hold `out/train.lock` for the block; `note(text)` hears of a takeover."""

    def __init__(self, out: Path, note=None):
        self.path = Path(out) / LOCK_NAME
        self.note = note or (lambda text: None)
        self.mine = {"pid": os.getpid(), "host": socket.gethostname()}

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # a second try after removing a stale lock
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._clear_stale()
                continue
            with os.fdopen(handle, "w") as file:
                json.dump(self.mine, file)
            return self
        raise CharbotError(f"{self.path.parent} is locked by another trainer that started at the same moment; try again")

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
            raise CharbotError(f"{self.path.parent} is being trained by process {pid} on {host}; if that run is "
                               f"over, delete {self.path}")
        if _alive(pid):
            raise CharbotError(f"{self.path.parent} is being trained by process {pid}: wait for it, stop it, "
                               f"or pick another --out")
        self.note(f"taking over the lock of process {pid}, which is gone (a crashed or killed run)")
        self.path.unlink(missing_ok=True)

    def __exit__(self, *exc) -> bool:
        try:
            if json.loads(self.path.read_text(encoding="utf-8")) == self.mine:
                self.path.unlink()
        except (OSError, ValueError):
            pass
        return False
