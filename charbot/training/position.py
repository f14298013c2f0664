"""Where a run stands and why it stopped: the position saved for exact resume, the result, the stop flag.

This module trains nothing; `loop` keeps these up to date.
"""

from __future__ import annotations

import dataclasses
import math
import signal
from dataclasses import dataclass, field
from pathlib import Path

from charbot.config import TrainConfig
from charbot.errors import CharbotError
from charbot.model import checkpoint


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = 0
    stopped: str = "finished"  # finished | early-stopped | budget | max-steps | interrupted (metrics: or in progress)
    reason: str = ""  # what stopped it, in words: "all 20 epochs done", "--max-steps 3 reached", "Ctrl-C", ...
    seconds: float = 0.0


def check_folder(out: Path, resume: bool) -> None:
    """Whether `out` can take this run: a new run needs a folder without one (a checkpoint a killed save
    left between two names is put back first). Needs no TensorFlow, so the CLI asks before loading it."""
    checkpoint.recover(out / "latest")
    checkpoint.recover(out / "best")
    if not resume and (out / "latest").exists():
        raise CharbotError(f"{out} already holds a run: add --resume to continue it, or pick another --out")


def _reason(stopped: str, config: TrainConfig) -> str:
    """What stopped a run that was not interrupted, in words."""
    return {"finished": f"all {config.epochs} epochs done" if config.epochs > 1 else "its one epoch done",
            "early-stopped": f"validation did not improve for {config.patience} epochs (--patience)",
            "budget": f"--budget {config.budget_seconds:g} s used up",
            "max-steps": f"--max-steps {config.max_steps} reached"}[stopped]


class _StopFlag:
    """Ctrl-C (or a plain `kill`) during training asks the loop to stop after the current window (then
    it saves)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.by = ""  # "Ctrl-C" or "SIGTERM" once a signal asked
        self._previous = {}

    def __enter__(self):
        self._previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C while saving: give up the old way
            raise KeyboardInterrupt
        self.requested = True
        self.by = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name

    def __exit__(self, *exc):
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        return False


@dataclass
class Position:
    """Where a run stands: saved in `latest/resume.json` and read back by one pair of functions."""

    epoch: int = 0  # epochs finished
    window: int = 0  # windows finished in the current epoch
    elapsed: float = 0.0  # seconds of training so far
    bad_epochs: int = 0  # epochs since validation last improved
    epoch_losses: list[float] = field(default_factory=list)  # this epoch's window losses so far
    best_val_loss: float = math.inf
    best_epoch: int = 0
    stops: list[dict] = field(default_factory=list)  # where the run was interrupted and later resumed

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Position":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})
