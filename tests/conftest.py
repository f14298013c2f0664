"""Shared fixtures: small texts written for these tests, and a tiny checkpoint trained once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A small play of our own (written for these tests), in the corpus layout.
LINES = [
    ("WREN", "The morning comes with salt upon the wind,\nAnd every sail is mended by the tide."),
    ("ASHER", "Then row, and let the harbour keep its bell;\nWe sing of nets and never of the storm."),
    ("WREN", "What news from shore? The lantern burns too low."),
    ("ASHER", "No news but gulls, and bread, and quiet rain."),
]


def play_text(repeats: int = 30) -> str:
    return "".join(f"{name}:\n{speech}\n\n" for _ in range(repeats) for name, speech in LINES)


@pytest.fixture(scope="session")
def play_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "harbour.txt"
    path.write_text(play_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def short_play_file(tmp_path_factory) -> Path:
    """The play at 12 repeats: for tests that train several runs to compare them, where more windows
    would repeat the same check (56 windows of 4 x 16 an epoch)."""
    path = tmp_path_factory.mktemp("short") / "harbour.txt"
    path.write_text(play_text(12), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, play_file) -> Path:
    """A run folder with best/ and latest/ from a few seconds of training on the small play."""
    from charbot.config import ModelConfig, TrainConfig
    from charbot.corpus import load_corpus
    from charbot.training.loop import train

    out = tmp_path_factory.mktemp("run") / "harbour"
    train(
        load_corpus(str(play_file)),
        ModelConfig(embedding_dim=16, rnn_units=48, num_layers=2, dropout=0.0),
        TrainConfig(batch_size=8, seq_len=32, epochs=6, learning_rate=0.01, patience=10, warmup_steps=5),
        out,
    )
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run) -> Path:
    """The tiny run's best/, with its model.tflite (int8), as `charbot train` leaves it."""
    from charbot.model.export import export_best

    export_best(tiny_run)
    return tiny_run / "best"
