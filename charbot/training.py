"""Training: stateful truncated back-propagation through time, validation, early stopping.

The training split is laid out as `batch_size` parallel streams (`corpus.lay_out`); each window
continues the previous window's streams and the LSTM state is carried across windows (reset at each
epoch), as char-rnn does. A custom compiled step is used instead of `fit()` because `fit()` cannot
carry state between batches without a stateful model whose state Keras 3 hides.

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
from charbot.corpus import Corpus, StreamLayout, lay_out, split
from charbot.distribute import Placement, from_replicas, place, to_replicas
from charbot.errors import CharbotError
from charbot.hardware import machine
from charbot.precision import choose_here as choose_precision
from charbot.runlock import RunLock
from charbot.tensorboard import RunLog
from charbot.vocab import Vocabulary



@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int = 0
    stopped: str = "finished"  # finished | early-stopped | budget | interrupted
    seconds: float = 0.0


def validation_layout(val_ids: np.ndarray, batch_size: int, seq_len: int) -> StreamLayout:
    """Validation streams: as many as fit (at most `batch_size`), each at least one window long."""
    streams = min(batch_size, (len(val_ids) - 1) // seq_len)
    if streams < 1:
        raise CharbotError(
            f"the validation split has {len(val_ids)} characters, fewer than one --seq-len window "
            f"({seq_len}): raise --val-fraction, lower --seq-len, or use a larger corpus"
        )
    return lay_out(val_ids, streams, seq_len, what="validation")


class Trainer:
    """Owns the model, the optimizer and the compiled steps of one training run.

    The step is written for one replica and wrapped by the placement's strategy: each replica runs
    it on its own rows and its own carried state; gradients are summed across replicas, then clipped
    by their global norm, so R replicas compute what one device would with the whole batch.
    """

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, total_steps: int,
                 placement: Placement | None = None, precision: str = "float32"):
        from charbot.model import build_model  # first: imports TensorFlow quietly

        import keras
        import tensorflow as tf

        self.tf = tf
        self.config = train_config
        self.placement = placement = placement or place("one")
        self.replicas = placement.replicas
        if train_config.batch_size % self.replicas:
            raise CharbotError(
                f"--batch-size {train_config.batch_size} does not split evenly over {self.replicas} replicas: "
                f"use a multiple of {self.replicas}, or fewer devices"
            )
        keras.utils.set_random_seed(train_config.seed)
        with placement.strategy.scope():
            self.model = build_model(model_config, precision)
            optimizer = keras.optimizers.Adam(learning_rate=_schedule(train_config, total_steps))
            if precision == "float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            # Slots exist before the first step: created lazily inside strategy.run they would not.
            optimizer.build(self.model.trainable_variables)
        self.optimizer = optimizer
        self.train_step = self._compile_train_step()
        self.eval_step = self._compile_eval_step()

    def _compile_train_step(self):
        tf, model, optimizer, strategy = self.tf, self.model, self.optimizer, self.placement.strategy
        variables = model.trainable_variables
        replicas, clip = self.replicas, self.config.clip_norm
        global_chars = float(self.config.batch_size * self.config.seq_len)
        scale = getattr(optimizer, "dynamic_scale", None)  # float16 loss scaling, else None

        def replica_step(x, y, states, seed):
            local = tf.shape(x)[0]
            first = tf.distribute.get_replica_context().replica_id_in_sync_group * local
            with tf.GradientTape() as tape:
                logits, new_states = model(x, states, training=True, dropout_seed=seed, rows=(first, local * replicas))
                losses = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
                loss = tf.reduce_sum(losses) / global_chars  # this replica's share of the global mean
                scaled = optimizer.scale_loss(loss)
            gradients = [tf.convert_to_tensor(g) for g in tape.gradient(scaled, variables)]
            if replicas > 1:
                gradients = tf.distribute.get_replica_context().all_reduce("sum", gradients)
            norm = tf.linalg.global_norm(gradients) / (scale if scale is not None else 1.0)
            # Clip the global gradient as one device would; the optimizer sums the replicas' copies
            # again, so each passes 1/R of it (an infinite float16 norm makes NaN: the step is skipped).
            factor = clip / tf.maximum(norm, clip) / replicas
            optimizer.apply([g * factor for g in gradients], variables)
            return loss, new_states

        # Not XLA: on CPU the compiled LSTM gradient ran at 0.67x the plain graph (8.3k vs 12.4k chars/s).
        @tf.function(reduce_retracing=True)
        def train_step(x, y, states, seed):
            loss, new_states = strategy.run(replica_step, args=(x, y, states, seed))
            return strategy.reduce("sum", loss, axis=None), new_states

        return train_step

    def _compile_eval_step(self):
        tf, model = self.tf, self.model

        @tf.function(reduce_retracing=True)
        def eval_step(x, y, states):
            logits, new_states = model(x, states, training=False)
            losses = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            return tf.reduce_sum(losses), new_states

        return eval_step

    def to_replicas(self, value):
        return to_replicas(self.placement.strategy, value)

    def zero_state(self):
        return self.to_replicas(self.model.zero_state(self.config.batch_size))

    def step(self, x: np.ndarray, y: np.ndarray, states, seed: tuple[int, int]):
        """One training window of the global batch: (mean loss, carried state per replica)."""
        tf = self.tf
        loss, states = self.train_step(self.to_replicas(x), self.to_replicas(y), states,
                                       tf.constant(seed, tf.int32))
        return float(loss), states

    def learning_rate(self) -> float:
        return float(self.optimizer.learning_rate)

    def evaluate(self, layout: StreamLayout) -> float:
        """Mean loss (nats/char) over every character of the layout, state carried throughout.

        Runs on one device of each worker (every worker computes the same figure)."""
        tf = self.tf
        states = self.model.zero_state(layout.inputs.shape[0])
        total, count, stream_len = 0.0, 0, layout.inputs.shape[1]
        for start in range(0, stream_len, layout.seq_len):
            x = layout.inputs[:, start : start + layout.seq_len]
            y = layout.targets[:, start : start + layout.seq_len]
            loss_sum, states = self.eval_step(tf.constant(x), tf.constant(y), states)
            total += float(loss_sum)
            count += x.size
        return total / count

    # --- resume state ---------------------------------------------------------------------------

    def resume_arrays(self, states) -> dict[str, np.ndarray]:
        """Optimizer slots and the carried state of the whole global batch (gathered from replicas)."""
        arrays = {f"optimizer/{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(self.optimizer.variables)}
        for layer, (h, c) in enumerate(from_replicas(self.placement.strategy, states)):
            arrays[f"state/{layer}/h"] = h
            arrays[f"state/{layer}/c"] = c
        return arrays

    def restore(self, data: checkpoint.CheckpointData):
        """Weights, optimizer slots and carried state from a `latest/` checkpoint (any replica count)."""
        checkpoint.assign_weights(self.model, data)
        arrays = data.resume_arrays
        for i, variable in enumerate(self.optimizer.variables):
            value = arrays.get(f"optimizer/{i:04d}")
            if value is None or tuple(value.shape) != tuple(variable.shape):
                raise CharbotError(f"checkpoint {data.path}: resume.npz does not match this model's optimizer")
            variable.assign(value)
        states = []
        for layer in range(self.model.config.num_layers):
            h = arrays.get(f"state/{layer}/h")
            c = arrays.get(f"state/{layer}/c")
            if h is None or c is None:
                raise CharbotError(f"checkpoint {data.path}: resume.npz lacks the carried state of layer {layer}")
            states.append((h, c))
        return self.to_replicas(tuple(states))


def _schedule(config: TrainConfig, total_steps: int):
    """Linear warm-up to the peak, then cosine decay to `min_learning_rate_ratio` of it."""
    import keras

    warmup = max(1, min(config.warmup_steps, total_steps // 10))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / warmup, decay_steps=max(1, total_steps - warmup),
        alpha=config.min_learning_rate_ratio, warmup_target=config.learning_rate, warmup_steps=warmup,
    )


class _StopFlag:
    """Ctrl-C (or a plain `kill`) during training asks the loop to stop after the current window (then
    it saves)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        self._previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C while saving: give up the old way
            raise KeyboardInterrupt
        self.requested = True

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
        vocab = Vocabulary.from_text(corpus.text)
        return dataclasses.replace(model_config, vocab_size=len(vocab)), train_config, vocab, None
    resumed = checkpoint.load(out / "latest", with_resume=True)
    trained_on = resumed.config["corpus"]
    if trained_on["sha256"] != corpus.sha256:
        raise CharbotError(
            f"cannot resume {out}: it was trained on corpus {trained_on['name']} "
            f"(sha256 {trained_on['sha256'][:12]}...), not this one"
        )
    return resumed.model_config, resumed.train_config, resumed.vocab, resumed


class _Run:
    """One call of `train`: the data, the trainer, the position, and how a checkpoint is written."""

    def __init__(self, corpus, model_config, train_config, out: Path, resume: bool, placement, reporter, sample):
        self.out = out
        self.model_config, train_config, self.vocab, resumed = _start_or_resume(
            corpus, model_config, train_config, out, resume)
        precision, why = choose_precision(train_config.precision)
        self.train_config = train_config = dataclasses.replace(train_config, precision=precision)
        ids = np.asarray(self.vocab.ids_from_text(corpus.text), dtype=np.int32)
        train_ids, val_ids = split(ids, train_config.val_fraction)
        self.train_layout = lay_out(train_ids, train_config.batch_size, train_config.seq_len)
        self.val_layout = validation_layout(val_ids, train_config.batch_size, train_config.seq_len)
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
                            "licence": corpus.licence, "characters": len(corpus.text)}
        if corpus.files:
            self.corpus_info["files"] = list(corpus.files)
        placement = self.trainer.placement
        self.info = {"parameters": self.trainer.model.count_params(), "machine": machine(),
                     "train_chars": int(train_ids.size), "val_chars": int(val_ids.size),
                     "precision": precision, "precision_reason": why, "strategy": placement.name,
                     "replicas": placement.replicas, "placement": placement.description}
        self.report = reporter or (lambda *args, **kwargs: None)
        self.sample = sample
        self.log = RunLog(out / "logs") if placement.is_chief else None

    def metrics(self) -> dict:
        position, result = self.position, self.result
        best = {"epoch": position.best_epoch, "val_loss": position.best_val_loss,
                "val_bpc": position.best_val_loss / LN2} if position.best_epoch else None
        return {**self.info, "epochs": result.history, "best": best, "wall_seconds": position.elapsed,
                "stopped": result.stopped, "interruptions": position.stops}

    def save(self, name: str, with_position: bool) -> None:
        """Write `out/name` (every worker joins in gathering the state; only the chief writes)."""
        arrays = self.trainer.resume_arrays(self.states) if with_position else None
        if not self.trainer.placement.is_chief:
            return
        checkpoint.save(
            self.out / name, weights=checkpoint.model_weights(self.trainer.model), model_config=self.model_config,
            train_config=self.train_config, vocab=self.vocab, corpus=self.corpus_info, metrics=self.metrics(),
            resume=self.position.to_json() if with_position else None, resume_arrays=arrays,
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
            if stop.requested or self.over_budget(seconds) or (max_windows and windows_run >= max_windows):
                break
        seconds = time.perf_counter() - epoch_start
        position.elapsed += seconds
        return chars / max(1e-9, seconds)

    def over_budget(self, running: float = 0.0) -> bool:
        """Whether --budget seconds or --max-steps windows are used up (`running`: seconds not yet counted)."""
        config, position = self.train_config, self.position
        steps = position.epoch * self.windows + position.window
        return ((bool(config.budget_seconds) and position.elapsed + running >= config.budget_seconds)
                or (bool(config.max_steps) and steps >= config.max_steps))

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
        if self.over_budget():
            result.stopped = "budget"
        elif position.bad_epochs >= self.train_config.patience:
            result.stopped = "early-stopped"
        if improved:
            self.save("best", with_position=False)
        self.save("latest", with_position=True)
        self.report("epoch_end", record=record, improved=improved, model=self.trainer.model, vocab=self.vocab)

    def interrupt(self) -> None:
        self.result.stopped = "interrupted"
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
            if position.window < run.windows and not run.over_budget():
                run.interrupt()
                break
            run.end_epoch(speed)  # an epoch ended, or the budget ran out
            if stop.requested and result.stopped == "finished":
                run.interrupt()
    result.best_val_loss, result.best_epoch = position.best_val_loss, position.best_epoch
    result.seconds = position.elapsed
    if run.log:
        run.log.close()
    run.report("end", result=result, out=run.out)
    return result
