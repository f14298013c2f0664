"""Training: stateful truncated back-propagation through time, validation, early stopping.

The training split is laid out as `batch_size` parallel streams (`streams.lay_out`); each window
continues the previous window's streams and the LSTM state is carried across windows (reset at each
epoch), as char-rnn does. The compiled step is `charbot.trainer`'s, not `fit()`: `fit()` cannot carry
state between batches without a stateful model whose state Keras 3 hides. This module is the loop.

Exact resume: the position (epoch, window), the carried state, the optimizer slots and the weights
are saved in `latest/`; dropout masks are derived from (seed, epoch, window), so a resumed run draws
the same masks an uninterrupted one would. This module never imports the chat.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from charbot import checkpoint
from charbot.config import LN2, ModelConfig, TrainConfig
from charbot.corpus import Corpus
from charbot.distribute import Placement, place
from charbot.errors import CharbotError
from charbot.hardware import machine
from charbot.precision import choose_here as choose_precision
from charbot.runlock import RunLock
from charbot.tensorboard import RunLog
from charbot.streams import lay_out, split, validation_layout
from charbot.trainer import Trainer
from charbot.vocab import Vocabulary


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = 0
    stopped: str = "finished"  # finished | early-stopped | budget | max-steps | interrupted (metrics: or in progress)
    reason: str = ""  # what stopped it, in words: "all 20 epochs done", "--max-steps 3 reached", "Ctrl-C", ...
    seconds: float = 0.0


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


def _start_or_resume(corpus: Corpus, model_config: ModelConfig, train_config: TrainConfig, out: Path, resume: bool):
    """(model settings, training settings, vocabulary, the `latest/` checkpoint or None) for a run."""
    if not resume:
        if (out / "latest").exists():
            raise CharbotError(f"{out} already holds a run: add --resume to continue it, or pick another --out")
        vocab = Vocabulary(corpus.alphabet)
        return dataclasses.replace(model_config, vocab_size=len(vocab)), train_config, vocab, None
    resumed = checkpoint.load(out / "latest", with_resume=True)
    trained_on = resumed.config["corpus"]
    if trained_on["sha256"] != corpus.sha256:
        raise CharbotError(
            f"cannot resume {out}: it was trained on corpus {trained_on['name']} "
            f"(sha256 {trained_on['sha256'][:12]}...), not this one"
        )
    return resumed.model_config, resumed.train_config, resumed.vocab, resumed


def _ids_in(corpus: Corpus, vocab: Vocabulary, progress) -> np.ndarray:
    """The corpus as ids of `vocab`: the cached memory map (a resumed run's vocabulary is the corpus's)."""
    if vocab.chars != corpus.alphabet:
        raise CharbotError(f"the run's vocabulary ({len(vocab)} characters) is not the corpus's "
                           f"({len(corpus.alphabet)}): its vocab.json does not belong to this corpus")
    return corpus.ids(progress)


class _Run:
    """One call of `train`: the data, the trainer, the position, and how a checkpoint is written."""

    def __init__(self, corpus, model_config, train_config, out: Path, resume: bool, placement, reporter, sample):
        self.out = out
        self.model_config, train_config, self.vocab, resumed = _start_or_resume(
            corpus, model_config, train_config, out, resume)
        self.report = reporter or (lambda *args, **kwargs: None)
        progress = None
        if reporter:
            progress = lambda what, done, total: reporter("reading", what=what, done=done, total=total)  # noqa: E731
        precision, why = choose_precision(train_config.precision)
        self.train_config = train_config = dataclasses.replace(train_config, precision=precision)
        train_ids, val_ids = split(_ids_in(corpus, self.vocab, progress), train_config.val_fraction)
        self.train_layout = lay_out(train_ids, train_config.batch_size, train_config.seq_len)
        self.val_layout = validation_layout(val_ids, train_config.batch_size, train_config.seq_len,
                                            train_config.val_chars)
        self.windows = self.train_layout.num_windows
        total_steps = train_config.schedule_steps or self.windows * train_config.epochs
        self.trainer = Trainer(self.model_config, train_config, total_steps, placement, precision)
        self.result, self.position = TrainResult(), Position()
        self.states = self.trainer.zero_state()
        if resumed is not None:
            self.states = self.trainer.restore(resumed)
            self.position = Position.from_json(resumed.resume)
            self.result.history = resumed.metrics.get("epochs", [])
        self.corpus_info = {"name": corpus.name, "sha256": corpus.sha256, "source": corpus.source,
                            "licence": corpus.licence, "characters": corpus.characters}
        if corpus.files:
            self.corpus_info["files"] = list(corpus.files)
        placement = self.trainer.placement
        self.info = {"parameters": self.trainer.model.count_params(), "machine": machine(),
                     "train_chars": int(train_ids.size), "val_chars": int(val_ids.size),
                     "val_scored_chars": self.val_layout.characters,
                     "precision": precision, "precision_reason": why, "strategy": placement.name,
                     "replicas": placement.replicas, "placement": placement.description,
                     "xla": self.trainer.xla}
        self.sample = sample
        self.log = RunLog(out / "logs") if placement.is_chief else None

    def metrics(self) -> dict:
        position, result = self.position, self.result
        best = {"epoch": position.best_epoch, "val_loss": position.best_val_loss,
                "val_bpc": position.best_val_loss / LN2} if position.best_epoch else None
        stopped = result.stopped
        if stopped == "finished" and position.epoch < self.train_config.epochs:
            stopped = "in progress"  # saved mid-run (best/ at its epoch, latest/ after each epoch)
        reason = result.reason or (_reason(stopped, self.train_config) if stopped != "in progress" else "")
        return {**self.info, "epochs": result.history, "best": best, "wall_seconds": position.elapsed,
                "stopped": stopped, "stop_reason": reason, "interruptions": position.stops}

    def save(self, name: str, with_position: bool) -> None:
        """Write `out/name` (every worker joins in gathering the state; only the chief writes)."""
        arrays = self.trainer.resume_arrays(self.states) if with_position else None
        if not self.trainer.placement.is_chief:
            return
        checkpoint.save(
            self.out / name, weights=checkpoint.model_weights(self.trainer.model), model_config=self.model_config,
            train_config=self.train_config, vocab=self.vocab, corpus=self.corpus_info, metrics=self.metrics(),
            resume=self.position.to_json() if with_position else None, resume_arrays=arrays,
            then="then continue with --resume" if (self.out / "latest").exists() else "then run again",
        )

    def train_epoch(self, stop: "_StopFlag", max_windows: int | None) -> float:
        """Train windows until the epoch ends or something asks to stop. Returns characters per second."""
        position, config, trainer = self.position, self.train_config, self.trainer
        epoch_start, chars, windows_run = time.perf_counter(), 0, 0
        while position.window < self.windows:
            x, y = self.train_layout.window(position.window)
            loss, self.states = trainer.step(x, y, self.states, (config.seed, position.epoch * self.windows + position.window))
            if not math.isfinite(loss):
                raise CharbotError(f"training diverged at epoch {position.epoch + 1}: the loss is {loss}; "
                                  f"lower --learning-rate (now {config.learning_rate:g})")
            position.epoch_losses.append(loss)
            position.window += 1
            windows_run += 1
            chars += x.size
            seconds = time.perf_counter() - epoch_start
            self.report("window", window=position.window, loss=loss, chars_per_second=chars / seconds)
            if self.log:
                self.log.window(position.epoch * self.windows + position.window, loss)
            if stop.requested or self.limit_reached(seconds) or (max_windows and windows_run >= max_windows):
                break
        seconds = time.perf_counter() - epoch_start
        position.elapsed += seconds
        return chars / max(1e-9, seconds)

    def limit_reached(self, running: float = 0.0) -> str | None:
        """"max-steps" or "budget" when --max-steps windows or --budget seconds are used up, else None
        (`running`: seconds not yet counted)."""
        config, position = self.train_config, self.position
        if config.max_steps and position.epoch * self.windows + position.window >= config.max_steps:
            return "max-steps"
        if config.budget_seconds and position.elapsed + running >= config.budget_seconds:
            return "budget"
        return None

    def end_epoch(self, chars_per_second: float) -> None:
        """Validate, record the epoch, keep the best, and decide whether the run stops here."""
        position, result = self.position, self.result
        val_loss = self.trainer.evaluate(self.val_layout)
        uniform = math.log(len(self.vocab))
        train_loss = float(np.mean(position.epoch_losses)) if position.epoch_losses else None
        # Diverged: worse than a uniform guess on the held-out text and on the text it trained on (a
        # held-out text unlike the training text may be worse than uniform on its own). Checked before
        # anything is saved, so best/ and latest/ stay as they were.
        if not math.isfinite(val_loss) or (val_loss >= uniform and (train_loss is None or train_loss >= uniform)):
            raise CharbotError(
                f"training diverged at epoch {position.epoch + 1}: validation loss {val_loss:.4g} nats/char is no "
                f"better than a uniform guess over {len(self.vocab)} characters ({uniform:.4g}); "
                f"lower --learning-rate (now {self.train_config.learning_rate:g})"
            )
        record = {"epoch": position.epoch + 1,
                  "train_loss": train_loss,
                  "val_loss": val_loss, "val_bpc": val_loss / LN2, "seconds": position.elapsed,
                  "chars_per_second": chars_per_second,
                  "learning_rate": self.trainer.learning_rate(), "windows": position.window}
        if self.sample is not None and self.trainer.placement.is_chief:
            record["sample"] = self.sample(self.trainer.model, self.vocab)
        if self.log:
            self.log.epoch((position.epoch + 1) * self.windows, record)
        result.history.append(record)
        improved = val_loss < position.best_val_loss
        if improved:
            position.best_val_loss, position.best_epoch, position.bad_epochs = val_loss, position.epoch + 1, 0
        else:
            position.bad_epochs += 1
        position.epoch, position.window, position.epoch_losses = position.epoch + 1, 0, []
        self.states = self.trainer.zero_state()
        if limit := self.limit_reached():
            result.stopped = limit
        elif position.bad_epochs >= self.train_config.patience:
            result.stopped = "early-stopped"
        if improved:
            self.save("best", with_position=False)
        self.save("latest", with_position=True)
        self.report("epoch_end", record=record, improved=improved, model=self.trainer.model, vocab=self.vocab)

    def interrupt(self, by: str) -> None:
        self.result.stopped, self.result.reason = "interrupted", by
        position = self.position
        position.stops.append({"epoch": position.epoch + 1, "window": position.window, "seconds": position.elapsed})
        self.save("latest", with_position=True)
        self.report("interrupted", path=self.out / "latest", epoch=self.position.epoch + 1, window=self.position.window)


def train(
    corpus: Corpus,
    model_config: ModelConfig,
    train_config: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    reporter=None,
    max_windows: int | None = None,
    placement: Placement | None = None,
    sample=None,
) -> TrainResult:
    """Train, validate each epoch, keep `out/best` and `out/latest`; return what happened.

    Args:
        reporter: receives progress events (see `charbot.progress`); None trains silently.
        max_windows: stop (resumably) after this many training windows in this call; for tests.
        placement: where to train (`charbot.distribute.place`); default one device.
        sample: sample(model, vocab) -> a short text, made after each epoch and kept with its record.
    """
    placement = placement or place("one")
    if not placement.is_chief:  # it writes nothing, so it takes no lock
        return _train(corpus, model_config, train_config, Path(out), resume, reporter, max_windows, placement, sample)
    note = (lambda text: reporter("note", text=text)) if reporter else None
    with RunLock(out, note):
        return _train(corpus, model_config, train_config, Path(out), resume, reporter, max_windows, placement, sample)


def _train(corpus, model_config, train_config, out: Path, resume, reporter, max_windows, placement,
           sample) -> TrainResult:
    run = _Run(corpus, model_config, train_config, out, resume, placement, reporter, sample)
    position, result = run.position, run.result
    result.best_val_loss, result.best_epoch = position.best_val_loss, position.best_epoch
    run.report("start", model_config=run.model_config, train_config=run.train_config, windows=run.windows,
               info=run.info, corpus=run.corpus_info, epoch=position.epoch, window=position.window)
    with _StopFlag() as stop:
        while position.epoch < run.train_config.epochs and result.stopped == "finished":
            run.report("epoch_start", epoch=position.epoch + 1, window=position.window)
            speed = run.train_epoch(stop, max_windows)
            if position.window < run.windows and not run.limit_reached():
                run.interrupt(stop.by or "a stop after max_windows, asked for from Python")
                break
            run.end_epoch(speed)  # an epoch ended, or the budget ran out
            if stop.requested and result.stopped == "finished":
                run.interrupt(stop.by)
    result.best_val_loss, result.best_epoch = position.best_val_loss, position.best_epoch
    result.seconds = position.elapsed
    result.reason = result.reason or _reason(result.stopped, run.train_config)
    if run.log:
        run.log.close()
    run.report("end", result=result, out=run.out)
    return result
