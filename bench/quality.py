"""Quality on the field's standard benchmark: validation loss on tiny-shakespeare, nanoGPT's split.

Trains charbot on the first 90% of ../shared/corpora/tinyshakespeare.txt and reports the loss on the
last 10% (111,540 characters), evaluated with the LSTM state carried through the validation text
(laid out as parallel streams, each read start to end with its state carried), in nats and bits per
character, with parameters, wall time and machine. Skips with a message if the file is absent.

Modes:
    --budget 150    the equal-budget race: 150 s of training on this machine (nanoGPT CPU: 1.88)
    --steps N       exactly N training windows (deterministic: for comparing settings, e.g. --precision)
    (neither)       the best recipe, trained to early stopping (nanoGPT GPU Transformer: 1.4697)

The learning-rate schedule is fitted to the budget: a short calibration measures steps per second,
and the cosine decay is set to end when the budget does (or after N steps with --steps).
Run: .venv/bin/python bench/quality.py --budget 150
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path

from common import header

from charbot.training.reporting import Reporter  # noqa: E402  (common puts the checkout on sys.path)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"


def main() -> int:
    args = parse_args()
    if not CORPUS.is_file():
        print(f"skipped: {CORPUS} is absent (the benchmark needs the shared tiny-shakespeare file)")
        return 0

    from charbot.config import ModelConfig, TrainConfig
    from charbot.corpus import load_corpus
    from charbot.corpus.streams import split
    from charbot.model.vocab import Vocabulary
    from charbot.training.distribute import place
    from charbot.training.loop import train

    placement = place(args.strategy, batch_size=args.batch_size)  # as `charbot train` places a run
    corpus = load_corpus(str(CORPUS))
    model_config = ModelConfig(embedding_dim=args.embedding_dim, rnn_units=args.rnn_units,
                               num_layers=args.num_layers, dropout=args.dropout,
                               input_dropout=args.input_dropout, locked_dropout=args.locked_dropout,
                               weight_drop=args.weight_drop, layer_norm=args.layer_norm)
    base = TrainConfig(corpus=str(CORPUS), batch_size=args.batch_size, seq_len=args.seq_len, epochs=args.epochs,
                       learning_rate=args.learning_rate, val_fraction=0.1, patience=args.patience,
                       budget_seconds=args.budget, precision=args.precision,
                       weight_decay=args.weight_decay, ema=args.ema)
    train_ids, val_ids = split(corpus.ids(), 0.1)
    print(header())
    print(f"corpus: {CORPUS.name}, {len(train_ids):,} training / {len(val_ids):,} validation characters")
    print(f"placement: {placement.description}")
    config = base if args.resume else fitted_schedule(
        args, dataclasses.replace(model_config, vocab_size=len(Vocabulary(corpus.alphabet))), base, len(train_ids),
        placement)

    out = args.out or Path(tempfile.mkdtemp(prefix="charbot-quality-")) / "run"
    started = time.perf_counter()
    result = train(corpus, model_config, config, out, resume=args.resume, reporter=_EpochPrinter(),
                   placement=placement)
    wall = time.perf_counter() - started
    if not result.best_epoch:
        print(f"stopped before the first validation; continue with --out {out} --resume")
        return 0
    report(args, result, wall, out)
    return 0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.0, help="training seconds (0: train to early stopping)")
    parser.add_argument("--steps", type=int, default=0, help="train exactly this many windows, then validate")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    parser.add_argument("--strategy", default="auto", choices=("auto", "one"),
                        help="auto places the run as `charbot train` does; one: a single device")
    parser.add_argument("--rnn-units", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--input-dropout", type=float, default=0.0)
    parser.add_argument("--locked-dropout", action="store_true")
    parser.add_argument("--weight-drop", type=float, default=0.0)
    parser.add_argument("--layer-norm", action="store_true")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--ema", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--epochs", type=int, default=30, help="upper bound without a budget")
    parser.add_argument("--patience", type=int, default=2, help="epochs without improvement before stopping early")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out (settings from it)")
    return parser.parse_args()


def fitted_schedule(args, model_config, base, train_chars: int, placement):
    """`base` with its cosine schedule fitted to --steps or to --budget (measured here); else `base`."""
    windows = (train_chars - 1) // args.batch_size // args.seq_len
    if args.steps:
        print(f"fixed length: {args.steps} steps ({args.steps / windows:.2f} epochs)")
        return dataclasses.replace(base, schedule_steps=args.steps, max_steps=args.steps,
                                   epochs=math.ceil(args.steps / windows))
    if args.budget:
        steps_per_second = calibrate(model_config, base, placement)
        steps = int(steps_per_second * args.budget)
        print(f"calibration: {steps_per_second:.1f} steps/s -> schedule of {steps} steps "
              f"({steps * args.batch_size * args.seq_len / train_chars:.1f} epochs) in {args.budget:.0f} s")
        return dataclasses.replace(base, schedule_steps=steps, epochs=max(1, math.ceil(steps / windows)))
    return base


def report(args, result, wall: float, out: Path) -> None:
    import numpy as np

    from charbot.config import LN2

    parameters = sum(int(np.prod(w.shape)) for w in _weights(out))
    print()
    mode = f"{args.steps} steps" if args.steps else f"budget {args.budget:.0f} s" if args.budget else "best model"
    print(f"mode:              {mode}; precision {checkpoint_metrics(out)['precision']}")
    print(f"model:             {args.num_layers} x LSTM({args.rnn_units}), embedding {args.embedding_dim}, "
          f"{_regularisers(args)}; batch {args.batch_size} x {args.seq_len}, lr {args.learning_rate}")
    print(f"parameters:        {parameters:,}")
    print(f"training time:     {result.seconds:,.1f} s (wall {wall:,.1f} s with validation), {len(result.history)} "
          f"epochs, stopped: {result.stopped}")
    print(f"validation loss:   {result.best_val_loss:.4f} nats/char = {result.best_val_loss / LN2:.4f} bits/char "
          f"(best epoch {result.best_epoch})")
    print("nanoGPT reference: 1.88 (CPU settings, ~150 s), 1.4697 (GPU, 10.7M parameters)")
    print(f"checkpoint:        {out / 'best'}")


def _regularisers(args) -> str:
    """The regularisation of this run, as its flags."""
    parts = [f"dropout {args.dropout}"] + [f"{name} {value}" for name, value in (
        ("input-dropout", args.input_dropout), ("weight-drop", args.weight_drop),
        ("weight-decay", args.weight_decay), ("ema", args.ema)) if value]
    return ", ".join(parts + (["locked"] if args.locked_dropout else []) + (["layer-norm"] if args.layer_norm else []))


def calibrate(model_config, config, placement) -> float:
    """Training steps per second on this machine for this model, after compilation."""
    import numpy as np

    from charbot.training.precision import choose_here
    from charbot.training.trainer import Trainer

    trainer = Trainer(model_config, config, total_steps=1000, placement=placement,
                      precision=choose_here(config.precision)[0])
    states = trainer.zero_state()
    x = np.random.default_rng(0).integers(0, model_config.vocab_size, (config.batch_size, config.seq_len)).astype(np.int32)
    for _ in range(3):  # tracing, and the first steps under a strategy, run slow
        _, states = trainer.step(x, x, states, (0, 0))
    count, started = 20, time.perf_counter()
    for _ in range(count):
        _, states = trainer.step(x, x, states, (0, 0))
    return count / (time.perf_counter() - started)


def _weights(out: Path):
    from charbot.model import checkpoint

    return checkpoint.load(out / "best").weights.values()


def checkpoint_metrics(out: Path) -> dict:
    from charbot.model import checkpoint

    return checkpoint.load(out / "best").metrics


class _EpochPrinter(Reporter):
    def on_epoch_end(self, r, improved, step):
        print(f"  epoch {r['epoch']}: train {r['train_loss']:.4f} val {r['val_loss']:.4f} "
              f"({r['val_bpc']:.4f} bits/char) at {r['seconds']:.0f} s, {r['chars_per_second']:,.0f} chars/s",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
