"""TensorBoard event files for a training run, written with TensorFlow's own `tf.summary`.

`OUT/logs` holds, per run: the training loss every `every` windows (step = windows trained in all),
and per epoch the validation loss in nats and bits per character, the learning rate, the training
speed in characters per second, and the epoch's sample as text. View with
`pip install tensorboard && tensorboard --logdir runs`.

It writes with `tf.summary.write` and the scalars and text plugins' metadata, the format
`tf.summary.scalar` and `tf.summary.text` produce: those two need the tensorboard package installed
even to write, and charbot does not depend on it. It is one reporter among others (`reporting`); it writes, it decides nothing.
"""

from __future__ import annotations

from pathlib import Path

from charbot.training.reporting import Reporter


def _metadata(plugin: str):
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    return metadata


EPOCH_SCALARS = {"epoch/train_loss": "train_loss", "epoch/val_loss": "val_loss", "epoch/val_bits_per_char": "val_bpc",
                 "epoch/learning_rate": "learning_rate", "epoch/chars_per_second": "chars_per_second"}


class TensorBoardReporter(Reporter):
    """A reporter that writes the run's losses and samples as TensorBoard summaries."""

    def __init__(self, folder: Path, every: int = 10):
        import tensorflow as tf

        self.tf = tf
        self.every = every
        self.writer = tf.summary.create_file_writer(str(folder))
        self.scalars, self.texts = _metadata("scalars"), _metadata("text")

    def _scalar(self, tag: str, value: float, step: int) -> None:
        self.tf.summary.write(tag, self.tf.constant(value, self.tf.float32), step=step, metadata=self.scalars)

    def on_window(self, window, loss, chars_per_second, step) -> None:
        if step % self.every == 0:
            with self.writer.as_default():
                self._scalar("train/loss", loss, step)

    def on_epoch_end(self, record, improved, step) -> None:
        with self.writer.as_default():
            for tag, key in EPOCH_SCALARS.items():
                if record.get(key) is not None:  # no training loss for an epoch cut off at once
                    self._scalar(tag, record[key], step)
            if record.get("sample"):
                self.tf.summary.write("epoch/sample", self.tf.constant(record["sample"]), step=step,
                                      metadata=self.texts)
        self.writer.flush()

    def on_end(self, result, out) -> None:
        self.writer.close()
