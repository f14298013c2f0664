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

import math
import platform
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from charbot import checkpoint
from charbot.config import ModelConfig, TrainConfig
from charbot.corpus import Corpus, StreamLayout, lay_out, split
from charbot.errors import CharbotError
from charbot.vocab import Vocabulary

LN2 = math.log(2.0)


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
    """Owns the model, the optimizer and the compiled steps of one training run."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, total_steps: int):
        from charbot.model import build_model  # first: imports TensorFlow quietly

        import keras
        import tensorflow as tf

        self.tf = tf
        self.config = train_config
        keras.utils.set_random_seed(train_config.seed)
        self.model = build_model(model_config)
        self.optimizer = keras.optimizers.Adam(
            learning_rate=_schedule(train_config, total_steps), global_clipnorm=train_config.clip_norm
        )
        self.optimizer.build(self.model.trainable_variables)
        model, optimizer = self.model, self.optimizer
        variables = model.trainable_variables
        loss_of = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        # Not XLA: on CPU the compiled LSTM gradient ran at 0.67x the plain graph (8.3k vs 12.4k chars/s).
        @tf.function(reduce_retracing=True)
        def train_step(x, y, states, seed):
            with tf.GradientTape() as tape:
                logits, new_states = model(x, states, training=True, dropout_seed=seed)
                loss = loss_of(y, logits)
            gradients = tape.gradient(loss, variables)
            optimizer.apply(gradients, variables)
            return loss, new_states

        @tf.function(reduce_retracing=True)
        def eval_step(x, y, states):
            logits, new_states = model(x, states, training=False)
            losses = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            return tf.reduce_sum(losses), new_states

        self.train_step = train_step
        self.eval_step = eval_step

    def learning_rate(self) -> float:
        return float(self.optimizer.learning_rate)

    def evaluate(self, layout: StreamLayout) -> float:
        """Mean loss (nats/char) over every character of the layout, state carried throughout."""
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
        arrays = {f"optimizer/{i:04d}": v.numpy() for i, v in enumerate(self.optimizer.variables)}
        for layer, (h, c) in enumerate(states):
            arrays[f"state/{layer}/h"] = np.asarray(h)
            arrays[f"state/{layer}/c"] = np.asarray(c)
        return arrays

    def restore(self, data: checkpoint.CheckpointData):
        """Weights, optimizer slots and carried state from a `latest/` checkpoint."""
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
            states.append((self.tf.constant(h), self.tf.constant(c)))
        return tuple(states)


def _schedule(config: TrainConfig, total_steps: int):
    """Linear warm-up, then cosine decay to `min_learning_rate_ratio` of the peak."""
    import keras
    import tensorflow as tf

    peak, floor = config.learning_rate, config.learning_rate * config.min_learning_rate_ratio
    warmup = max(1, min(config.warmup_steps, total_steps // 10))
    decay = max(1, total_steps - warmup)

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            progress = tf.clip_by_value((step - warmup) / decay, 0.0, 1.0)
            cosine = floor + 0.5 * (peak - floor) * (1.0 + tf.cos(math.pi * progress))
            return tf.where(step < warmup, peak * (step + 1.0) / warmup, cosine)

        def get_config(self):
            return {}

    return WarmupCosine()


def machine() -> dict:
    import os

    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


class _StopFlag:
    """Ctrl-C during training asks the loop to stop after the current window (then it saves)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C while saving: give up the old way
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)
        return False


def _start_or_resume(corpus: Corpus, model_config: ModelConfig, train_config: TrainConfig, out: Path, resume: bool):
    """(model settings, training settings, vocabulary, the `latest/` checkpoint or None) for a run."""
    if not resume:
        if (out / "latest").exists():
            raise CharbotError(f"{out} already holds a run: add --resume to continue it, or pick another --out")
        vocab = Vocabulary.from_text(corpus.text)
        return ModelConfig(**{**model_config.to_dict(), "vocab_size": len(vocab)}), train_config, vocab, None
    resumed = checkpoint.load(out / "latest", with_resume=True)
    trained_on = resumed.config["corpus"]
    if trained_on["sha256"] != corpus.sha256:
        raise CharbotError(
            f"cannot resume {out}: it was trained on corpus {trained_on['name']} "
            f"(sha256 {trained_on['sha256'][:12]}...), not this one"
        )
    return resumed.model_config, resumed.train_config, resumed.vocab, resumed


def train(
    corpus: Corpus,
    model_config: ModelConfig,
    train_config: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    reporter=None,
    max_windows: int | None = None,
) -> TrainResult:
    """Train, validate each epoch, keep `out/best` and `out/latest`; return what happened.

    Args:
        reporter: receives progress events (see `charbot.progress`); None trains silently.
        max_windows: stop (resumably) after this many training windows in this call; for tests.
    """
    out = Path(out)
    model_config, train_config, vocab, resumed = _start_or_resume(corpus, model_config, train_config, out, resume)
    ids = np.asarray(vocab.ids_from_text(corpus.text), dtype=np.int32)
    train_ids, val_ids = split(ids, train_config.val_fraction)
    train_layout = lay_out(train_ids, train_config.batch_size, train_config.seq_len)
    val_layout = validation_layout(val_ids, train_config.batch_size, train_config.seq_len)
    windows = train_layout.num_windows
    trainer = Trainer(model_config, train_config, total_steps=train_config.schedule_steps or windows * train_config.epochs)
    tf = trainer.tf

    result = TrainResult()
    epoch, window, elapsed = 0, 0, 0.0
    bad_epochs = 0
    epoch_losses: list[float] = []  # this epoch's window losses, kept across a resume
    states = trainer.model.zero_state(train_config.batch_size)
    if resumed is not None:
        states = trainer.restore(resumed)
        position = resumed.resume
        epoch, window, elapsed = position["epoch"], position["window"], position["elapsed"]
        bad_epochs = position["bad_epochs"]
        epoch_losses = list(position.get("epoch_losses", []))
        result.history = resumed.metrics.get("epochs", [])
        result.best_val_loss = position["best_val_loss"]
        result.best_epoch = position["best_epoch"]

    corpus_info = {"name": corpus.name, "sha256": corpus.sha256, "source": corpus.source, "licence": corpus.licence,
                   "characters": len(corpus.text)}
    info = {"parameters": trainer.model.count_params(), "machine": machine(), "train_chars": int(train_ids.size),
            "val_chars": int(val_ids.size)}

    def metrics() -> dict:
        best = {"epoch": result.best_epoch, "val_loss": result.best_val_loss,
                "val_bpc": result.best_val_loss / LN2} if result.best_epoch else None
        return {**info, "epochs": result.history, "best": best, "wall_seconds": elapsed, "stopped": result.stopped}

    def save(name: str, with_position: bool) -> None:
        resume_state = None
        if with_position:
            resume_state = {"epoch": epoch, "window": window, "elapsed": elapsed, "bad_epochs": bad_epochs,
                            "epoch_losses": epoch_losses,
                            "best_val_loss": result.best_val_loss, "best_epoch": result.best_epoch}
        checkpoint.save(
            out / name, weights=checkpoint.model_weights(trainer.model), model_config=model_config,
            train_config=train_config, vocab=vocab, corpus=corpus_info, metrics=metrics(), resume=resume_state,
            resume_arrays=trainer.resume_arrays(states) if with_position else None,
        )

    report = reporter or (lambda *args, **kwargs: None)
    report("start", model_config=model_config, train_config=train_config, windows=windows, info=info,
           corpus=corpus_info, epoch=epoch, window=window)
    budget = train_config.budget_seconds
    windows_run = 0
    with _StopFlag() as stop:
        while epoch < train_config.epochs:
            epoch_start, chars = time.perf_counter(), 0
            report("epoch_start", epoch=epoch + 1, window=window)
            while window < windows:
                x, y = train_layout.window(window)
                seed = tf.constant([train_config.seed, epoch * windows + window], tf.int32)
                loss, states = trainer.train_step(tf.constant(x), tf.constant(y), states, seed)
                loss = float(loss)
                if not math.isfinite(loss):
                    raise CharbotError(f"training diverged at epoch {epoch + 1} (loss {loss}): lower --learning-rate")
                epoch_losses.append(loss)
                window += 1
                windows_run += 1
                chars += x.size
                now = time.perf_counter()
                report("window", window=window, loss=loss, chars_per_second=chars / (now - epoch_start))
                over_budget = budget and elapsed + (now - epoch_start) >= budget
                if stop.requested or over_budget or (max_windows and windows_run >= max_windows):
                    break
            elapsed += time.perf_counter() - epoch_start
            if window < windows and not (budget and elapsed >= budget):
                result.stopped = "interrupted"
                save("latest", with_position=True)
                report("interrupted", path=out / "latest", epoch=epoch + 1, window=window)
                break

            # An epoch ends here (or the budget ran out): validate, keep the best, maybe stop early.
            val_loss = trainer.evaluate(val_layout)
            record = {"epoch": epoch + 1, "train_loss": float(np.mean(epoch_losses)) if epoch_losses else None,
                      "val_loss": val_loss, "val_bpc": val_loss / LN2, "seconds": elapsed,
                      "chars_per_second": chars / max(1e-9, time.perf_counter() - epoch_start),
                      "learning_rate": trainer.learning_rate(), "windows": window}
            result.history.append(record)
            improved = val_loss < result.best_val_loss
            if improved:
                result.best_val_loss, result.best_epoch, bad_epochs = val_loss, epoch + 1, 0
            else:
                bad_epochs += 1
            epoch, window, epoch_losses = epoch + 1, 0, []
            states = trainer.model.zero_state(train_config.batch_size)
            if budget and elapsed >= budget:
                result.stopped = "budget"
            elif bad_epochs >= train_config.patience:
                result.stopped = "early-stopped"
            if improved:
                save("best", with_position=False)
            save("latest", with_position=True)
            report("epoch_end", record=record, improved=improved, model=trainer.model, vocab=vocab)
            if result.stopped != "finished" or stop.requested:
                if stop.requested:
                    result.stopped = "interrupted"
                    report("interrupted", path=out / "latest", epoch=epoch + 1, window=0)
                break
    result.seconds = elapsed
    report("end", result=result, out=out)
    return result
