"""Shared fixtures: small texts written for these tests, and a tiny checkpoint trained once per run.

Not a place for test logic: each test file keeps its own helpers. Under pytest-xdist the tiny
checkpoint is still trained once, by whichever worker needs it first, and the files that take longest
are handed out first (see `pytest_collection_modifyitems`).
"""

from __future__ import annotations

import collections
import fcntl
import os
import shutil
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


def pytest_collection_modifyitems(items) -> None:
    """Files holding the longest `slow` tests first, the rest in their usual order.

    `make test` runs a worker per core with `--dist loadfile --no-loadscope-reorder`: each file goes
    whole to the next free worker, in this order. With the longest files first the workers end
    together; in xdist's own order (by number of tests) one worker ran test_crash.py's 90 s alone at
    the end. The seconds come from `--durations` on a 2-core machine and only order the files.
    """
    cost: collections.Counter = collections.Counter()
    for item in items:
        mark = item.get_closest_marker("slow")
        cost[item.path] += mark.kwargs.get("seconds", 10) if mark else 0
    items.sort(key=lambda item: -cost[item.path])  # stable: each file's tests stay together, in order


def built_once(tmp_path_factory, name: str, build) -> Path:
    """`build(path)` once per test run, shared by every xdist worker of the run.

    The first worker to ask builds under a lock while the others wait, then all use the result. The
    folder is pytest's base temp for the run (its parent, under xdist, whose workers each have one).
    """
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    target, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)  # what a worker that failed to build left behind
            build(target)
            done.touch()
    return target


@pytest.fixture(scope="session")
def play_file(tmp_path_factory) -> Path:
    def write(folder: Path) -> None:
        folder.mkdir()
        (folder / "harbour.txt").write_text(play_text(), encoding="utf-8")

    return built_once(tmp_path_factory, "corpus", write) / "harbour.txt"


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

    from charbot.model.export import export_best

    def build(folder: Path) -> None:
        train(
            load_corpus(str(play_file)),
            ModelConfig(embedding_dim=16, rnn_units=48, num_layers=2, dropout=0.0),
            TrainConfig(batch_size=8, seq_len=32, epochs=6, learning_rate=0.01, patience=10, warmup_steps=5),
            folder / "harbour",
        )
        export_best(folder / "harbour")  # best/model.tflite (int8), as `charbot train` leaves it

    return built_once(tmp_path_factory, "run", build) / "harbour"


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run) -> Path:
    """The tiny run's best/, with its model.tflite, as `charbot train` leaves it. Tests copy it before changing it."""
    return tiny_run / "best"
