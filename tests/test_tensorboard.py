"""TensorBoard event files: written with tf.summary during training, read back and checked."""

from pathlib import Path

import pytest
import tensorflow as tf

from charbot.model import checkpoint
from charbot.config import ModelConfig, TrainConfig
from charbot.corpus import load_corpus
from charbot.training.loop import train


def read_events(folder: Path) -> dict:
    """{tag: [(step, value)]} from every event file under `folder`."""
    found: dict = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                item = tensor.item() if tensor.dtype != object else tensor.item().decode("utf-8")
                found.setdefault(value.tag, []).append((event.step, item))
    return found


def test_event_files_hold_what_metrics_json_holds(tmp_path, play_file):
    out = tmp_path / "run"
    config = TrainConfig(batch_size=4, seq_len=16, epochs=2, learning_rate=0.01, warmup_steps=2)
    train(load_corpus(str(play_file)), ModelConfig(embedding_dim=8, rnn_units=16, num_layers=1), config, out,
          sample=lambda model, vocab, chars: "WREN:\nA sample of our own\n")
    events = read_events(out / "logs")
    epochs = checkpoint.load(out / "latest").metrics["epochs"]
    windows = epochs[0]["windows"]
    for tag, key in (("epoch/val_loss", "val_loss"), ("epoch/val_bits_per_char", "val_bpc"),
                     ("epoch/train_loss", "train_loss"), ("epoch/learning_rate", "learning_rate"),
                     ("epoch/chars_per_second", "chars_per_second")):
        assert [step for step, _ in events[tag]] == [windows, 2 * windows]
        assert [value for _, value in events[tag]] == pytest.approx([e[key] for e in epochs], rel=1e-6)
    assert [text for _, text in events["epoch/sample"]] == ["WREN:\nA sample of our own\n"] * 2
    steps = [step for step, _ in events["train/loss"]]
    assert steps == list(range(10, 2 * windows + 1, 10))
    assert all(0 < loss < 10 for _, loss in events["train/loss"])
