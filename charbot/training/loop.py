"""Training: stateful truncated back-propagation through time, validation, early stopping.

The training split is laid out as `batch_size` parallel streams (`streams.lay_out`); each window
continues the previous window's streams and the LSTM state is carried across windows (reset at each
epoch), as char-rnn does. The compiled step is `charbot.training.trainer`'s, not `fit()`: `fit()` cannot carry
state between batches without a stateful model whose state Keras 3 hides. This module is the loop.

Exact resume: the position (epoch, window), the carried state, the optimizer slots and the weights
are saved in `latest/`; dropout masks are derived from (seed, epoch, window), so a resumed run draws
the same masks an uninterrupted one would. This module never imports the chat.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from charbot.model import checkpoint
from charbot.config import LN2, ModelConfig, TrainConfig
from charbot.corpus import Corpus
from charbot.training.distribute import Placement, place
from charbot.errors import CharbotError
from charbot.system.hardware import machine
from charbot.training.precision import choose_here as choose_precision
from charbot.system.runlock import run_lock
from charbot.training.position import Position, TrainResult, _reason, _StopFlag, check_folder
from charbot.training.reporting import Reporter, Reporters
from charbot.training.tensorboard import TensorBoardReporter
from charbot.corpus.streams import lay_out, split, validation_layout
from charbot.training.trainer import Trainer
from charbot.model.vocab import Vocabulary


def _start_or_resume(corpus: Corpus, model_config: ModelConfig, train_config: TrainConfig, out: Path, resume: bool):
    """(model settings, training settings, vocabulary, the `latest/` checkpoint or None) for a run."""
    check_folder(out, resume)
    if not resume:
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


def run_batch_size(out: Path, resume: bool, batch_size: int) -> int:
    """The batch a run in `out` trains with, before TensorFlow starts (placement needs it): a resumed
    run's is its checkpoint's; a run to resume that is not there is the loop's to report."""
    latest = Path(out) / "latest"
    if not (resume and latest.is_dir()):
        return batch_size
    return checkpoint.load(latest, weights=False).train_config.batch_size


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
        self.report = reporter = reporter or Reporter()
        precision, why = choose_precision(train_config.precision)
        self.train_config = train_config = dataclasses.replace(train_config, precision=precision)
        train_ids, val_ids = split(_ids_in(corpus, self.vocab, reporter.on_reading), train_config.val_fraction)
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
        if placement.is_chief:
            self.report = Reporters(reporter, TensorBoardReporter(out / "logs"))

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
        from charbot.model import network

        arrays = self.trainer.resume_arrays(self.states) if with_position else None
        if not self.trainer.placement.is_chief:
            return
        checkpoint.save(
            self.out / name, weights=network.model_weights(self.trainer.model), model_config=self.model_config,
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
            self.report.on_window(position.window, loss, chars / seconds, position.epoch * self.windows + position.window)
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
        """Validate, record the epoch, keep the best, and decide whether the run stops here.

        With --ema, validation, the sample and best/ use the averaged weights; latest/ keeps the trained
        ones (and the average among the optimizer's slots), so a resumed run continues exactly."""
        with self.trainer.averaged():
            record, improved = self._validate(chars_per_second)
            if improved:
                self.save("best", with_position=False)
        self.save("latest", with_position=True)
        self.report.on_epoch_end(record, improved, self.position.epoch * self.windows)

    def _validate(self, chars_per_second: float) -> tuple[dict, bool]:
        """(the epoch's record, whether it improved on the best); the position moves to the next epoch."""
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
            record["sample"] = self.sample(self.trainer.model, self.vocab, self.train_config.sample_chars)
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
        return record, improved

    def interrupt(self, by: str) -> None:
        self.result.stopped, self.result.reason = "interrupted", by
        position = self.position
        position.stops.append({"epoch": position.epoch + 1, "window": position.window, "seconds": position.elapsed})
        self.save("latest", with_position=True)
        self.report.on_interrupted(self.out / "latest", self.position.epoch + 1, self.position.window)


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
        reporter: a `reporting.Reporter` (the terminal display is `progress.RichReporter`); None trains
            silently. TensorBoard logs are written either way.
        max_windows: stop (resumably) after this many training windows in this call; for tests.
        placement: where to train (`charbot.training.distribute.place`); default one device.
        sample: sample(model, vocab, chars) -> a text of `chars` characters (the run's sample_chars), made
            after each epoch and kept with its record.
    """
    placement = placement or place("one")
    if not placement.is_chief:  # it writes nothing, so it takes no lock
        return _train(corpus, model_config, train_config, Path(out), resume, reporter, max_windows, placement, sample)
    with run_lock(out, reporter.on_note if reporter else None):
        return _train(corpus, model_config, train_config, Path(out), resume, reporter, max_windows, placement, sample)


def _train(corpus, model_config, train_config, out: Path, resume, reporter, max_windows, placement,
           sample) -> TrainResult:
    run = _Run(corpus, model_config, train_config, out, resume, placement, reporter, sample)
    position, result = run.position, run.result
    result.best_val_loss, result.best_epoch = position.best_val_loss, position.best_epoch
    with _StopFlag() as stop:  # first: from the start line on, Ctrl-C or SIGTERM stops the run and saves it
        run.report.on_start(run.model_config, run.train_config, run.windows, run.info, run.corpus_info,
                            position.epoch, position.window)
        while position.epoch < run.train_config.epochs and result.stopped == "finished":
            run.report.on_epoch_start(position.epoch + 1, position.window)
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
    run.report.on_end(result, run.out)
    return result
