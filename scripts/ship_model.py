"""Copy a trained run's best checkpoint into checkpoints/ as the shipped default model.

Stores the weights as float16 (half the size) only after checking, on the corpus' held-out tail, that
the validation loss does not suffer; both losses are recorded in the shipped metrics.json.
Run: .venv/bin/python scripts/ship_model.py runs/shakespeare-512x2/best [--name shakespeare]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOLERANCE = 0.002  # nats/char a float16 copy may lose before it is refused
INT8_TOLERANCE = 0.003  # nats/char the int8 LiteRT model may lose before float32 is shipped instead


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a checkpoint folder, e.g. runs/NAME/best")
    parser.add_argument("--name", default="shakespeare")
    parser.add_argument("--note", default="", help="how the run went, in words (shown by `charbot info`)")
    args = parser.parse_args()

    from charbot.model import checkpoint, network
    from charbot.config import LN2
    from charbot.corpus import load_corpus
    from charbot.system.resources import shipped_dir
    from charbot.corpus.streams import split, validation_layout
    from charbot.training.trainer import Trainer

    data = checkpoint.load(args.source)
    corpus = load_corpus(data.train_config.corpus)
    if corpus.sha256 != data.config["corpus"]["sha256"]:
        print(f"{args.source} was trained on another version of the corpus", file=sys.stderr)
        return 1
    _, val_ids = split(corpus.ids(), data.train_config.val_fraction)
    layout = validation_layout(val_ids, data.train_config.batch_size, data.train_config.seq_len, max_chars=0)
    trainer = Trainer(data.model_config, data.train_config, total_steps=1)

    def loss_with(weights) -> float:
        network.assign_weights(trainer.model, checkpoint.CheckpointData(**{**data.__dict__, "weights": weights}))
        return trainer.evaluate(layout)

    full = loss_with(data.weights)
    half_weights = {name: w.astype(np.float16) for name, w in data.weights.items()}
    half = loss_with(half_weights)
    print(f"validation loss: float32 {full:.4f}, float16 {half:.4f} nats/char")
    use_half = half - full <= TOLERANCE
    record = run_record(args.source, data)
    print(f"run: {len(record.get('epochs', []))} epochs, stopped: {record.get('stopped', '?')}")
    metrics = {**record, "shipped": {
        "source": str(args.source), "stored_as": "float16" if use_half else "float32",
        "val_loss": half if use_half else full, "val_bpc": (half if use_half else full) / LN2,
        "val_loss_float32": full, "val_loss_float16": half, "val_chars": int(val_ids.size),
        **({"note": args.note} if args.note else {}),
    }}
    target = shipped_dir("checkpoints") / args.name
    checkpoint.save(target, weights=data.weights, model_config=data.model_config, train_config=data.train_config,
                    vocab=data.vocab, corpus=data.config["corpus"], metrics=metrics, float16=use_half)
    ship_litert(target, data.vocab.text_from_ids(val_ids))
    size = sum(p.stat().st_size for p in target.iterdir())
    print(f"shipped {target} ({size / 1e6:.1f} MB, {'float16' if use_half else 'float32'})")
    return 0


def ship_litert(target: Path, val_text: str) -> None:
    """Export model.tflite as int8, unless int8 costs more than INT8_TOLERANCE on the held-out tail."""
    from charbot.generate.loading import load_engine
    from charbot.model import checkpoint, export, network
    from charbot.model.evaluate import score_text

    model, data = network.load_model(target)
    reference = score_text(model, data.vocab, val_text, streams=1).nats  # one stream, as LiteRT reads it
    export.export(checkpoint.load(target), "int8")
    int8 = load_engine(target, "litert")[0].loss(val_text)
    print(f"LiteRT int8: {int8:.4f} nats/char against {reference:.4f} for the float32 model, one stream")
    if int8 - reference > INT8_TOLERANCE:
        export.export(checkpoint.load(target), "float32")
        print(f"int8 costs {int8 - reference:.4f} > {INT8_TOLERANCE}: shipped model.tflite as float32")


def run_record(source: Path, data) -> dict:
    """The whole run's metrics: best/ was written at its epoch and cannot know how the run ended, so
    they come from latest/ beside it when that is the same run (same best epoch and loss)."""
    from charbot.model import checkpoint

    latest = source.parent / "latest"
    if source.name != "best" or not (latest / "manifest.json").is_file():
        return data.metrics
    record = checkpoint.load(latest).metrics
    return record if record.get("best") == data.metrics.get("best") else data.metrics


if __name__ == "__main__":
    sys.exit(main())
