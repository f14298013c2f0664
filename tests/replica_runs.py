"""Run by test_distribute.py in a fresh process: logical CPU devices must be made before TensorFlow
starts, which the test process itself has long done. Prints one JSON object of results."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from charbot.training.distribute import place, split_cpu

split_cpu(2)

from charbot.config import ModelConfig, TrainConfig  # noqa: E402
from charbot.corpus import load_corpus  # noqa: E402
from charbot.training.distribute import from_replicas, to_replicas  # noqa: E402
from charbot.corpus.streams import lay_out  # noqa: E402
from charbot.training.loop import train  # noqa: E402

MODEL = ModelConfig(embedding_dim=8, rnn_units=24, num_layers=2, dropout=0.2)
TRAIN = TrainConfig(batch_size=4, seq_len=16, epochs=2, learning_rate=0.01, warmup_steps=2, patience=5,
                    precision="float32")


def losses(result):
    return [[e["train_loss"], e["val_loss"]] for e in result.history]


def layout_rows(mirrored):
    """Each replica's rows of windows 0..2 of a layout over 0, 1, 2, ...: (x, y) per window."""
    layout = lay_out(np.arange(4000, dtype=np.int32), 4, 16)
    windows = []
    for k in range(3):
        x, y = layout.window(k)
        local = mirrored.experimental_local_results(to_replicas(mirrored, (x, y)))
        windows.append([[part.numpy().tolist() for part in replica] for replica in local])
    return windows


def resume_losing_slots(corpus, out, placement):
    """A real divergence for the tolerance to refuse: a resume that loses Adam's moment estimates."""
    from charbot.training.trainer import Trainer

    restore = Trainer.restore

    def losing(self, data):
        states = restore(self, data)
        for variable in self.optimizer.variables:
            if "momentum" in variable.path or "velocity" in variable.path:
                variable.assign(np.zeros(variable.shape, np.float32))
        return states

    Trainer.restore = losing
    try:
        return train(corpus, MODEL, TRAIN, out, resume=True, placement=placement)
    finally:
        Trainer.restore = restore


def main(corpus_path: str, work: str) -> None:
    work_dir = Path(work)
    shutil.rmtree(work_dir, ignore_errors=True)
    corpus = load_corpus(corpus_path)
    one, mirrored = place("one"), place("mirrored")
    results = {"replicas": mirrored.replicas, "layout": layout_rows(mirrored.strategy)}
    results["one"] = losses(train(corpus, MODEL, TRAIN, work_dir / "one", placement=one))
    results["two"] = losses(train(corpus, MODEL, TRAIN, work_dir / "two", placement=mirrored))
    # Stop mid-epoch on two replicas once; copies of that run folder resume on two, on one, and on one
    # with a resume bug.
    train(corpus, MODEL, TRAIN, work_dir / "stopped", placement=mirrored, max_windows=7)
    for name in ("resume2", "resume1", "broken"):
        shutil.copytree(work_dir / "stopped", work_dir / name)
    results["resumed_two"] = losses(train(corpus, MODEL, TRAIN, work_dir / "resume2", resume=True, placement=mirrored))
    results["resumed_one"] = losses(train(corpus, MODEL, TRAIN, work_dir / "resume1", resume=True, placement=one))
    results["lost_slots"] = losses(resume_losing_slots(corpus, work_dir / "broken", one))
    state = to_replicas(mirrored.strategy, np.arange(12, dtype=np.float32).reshape(4, 3))
    results["gathered"] = from_replicas(mirrored.strategy, state).tolist()
    print(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:])
