"""Training throughput: charbot in float32 and at `--precision auto`, plain `model.fit`, and PyTorch.

All train the same architecture at the same batch and window length, in one run:
- charbot: the char-rnn stream layout, LSTM state carried from window to window, compiled step; on one
  device, and placed as `charbot train` places it by default (`--strategy auto`: on AVX-512 CPUs with
  2+ cores, one logical device a core, `charbot.training.distribute.cpu_split`). Each charbot row runs
  in a process of its own, since logical devices and thread pools are fixed when TensorFlow starts;
- fit: a stateless Keras 3 model (Embedding -> LSTM x N -> Dense) fed random windows by `fit`;
- with --peer: ../shared/peers/run-torch-peer, the same model in PyTorch (float32 and bfloat16
  autocast), run as a separate process after charbot's figures (skipped with a message if absent).
- with --layer-norm: charbot at `--precision auto` with layer normalisation in the cell, and its
  ratio to the plain cell.

Prints characters per second for each and the ratios.
Run: .venv/bin/python bench/train_speed.py [--peer] [--layer-norm]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import header

import numpy as np  # noqa: E402

PEER = Path(__file__).resolve().parent.parent.parent / "shared" / "peers" / "run-torch-peer"
# What caps PyTorch's kernels as ONEDNN_MAX_CPU_ISA and XLA_FLAGS cap charbot's (the peer inherits them):
# to time an AVX2 CPU's kernels on an AVX-512 one, set all of them (docs/training.md, "Which CPU?")
PEER_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")


def charbot_speed(model_config, ids, args, precision: str, xla: str | None = None, strategy: str = "one") -> float:
    from charbot.config import TrainConfig
    from charbot.corpus.streams import lay_out
    from charbot.training.distribute import place
    from charbot.training.trainer import Trainer

    B, T = args.batch_size, args.seq_len
    placement = place(strategy, batch_size=B)
    print(f"placement: {placement.description}", file=sys.stderr)
    trainer = Trainer(model_config, TrainConfig(batch_size=B, seq_len=T), total_steps=10_000, precision=precision,
                      placement=placement, xla=xla)
    layout = lay_out(ids, B, T)
    states = trainer.zero_state()
    for k in range(2):  # trace
        _, states = trainer.step(*layout.window(k), states, (1, k))
    started = time.perf_counter()
    for k in range(2, 2 + args.steps):
        _, states = trainer.step(*layout.window(k), states, (1, k))
    return args.steps * B * T / (time.perf_counter() - started)


def fit_speed(model_config, ids, args) -> float:
    import keras

    B, T, steps = args.batch_size, args.seq_len, args.steps
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(T,), dtype="int32")
    x = keras.layers.Embedding(model_config.vocab_size, model_config.embedding_dim)(inputs)
    for _ in range(args.num_layers):
        x = keras.layers.LSTM(args.rnn_units, return_sequences=True)(x)
    baseline = keras.Model(inputs, keras.layers.Dense(model_config.vocab_size)(x))
    baseline.compile(optimizer=keras.optimizers.Adam(2e-3, global_clipnorm=1.0),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(ids) - T - 1, size=(steps + 2) * B)
    windows_x = np.stack([ids[s : s + T] for s in starts])
    windows_y = np.stack([ids[s + 1 : s + T + 1] for s in starts])
    baseline.fit(windows_x[: 2 * B], windows_y[: 2 * B], batch_size=B, epochs=1, verbose=0)  # trace
    started = time.perf_counter()
    baseline.fit(windows_x[2 * B :], windows_y[2 * B :], batch_size=B, epochs=1, verbose=0, shuffle=False)
    return steps * B * T / (time.perf_counter() - started)


def peer_speeds(model_config, args) -> dict[str, float]:
    if not PEER.is_file():
        print(f"peer: skipped, {PEER} is absent")
        return {}
    command = [str(PEER), "--vocab", str(model_config.vocab_size), "--embedding-dim", str(model_config.embedding_dim),
               "--rnn-units", str(args.rnn_units), "--num-layers", str(args.num_layers), "--batch-size",
               str(args.batch_size), "--seq-len", str(args.seq_len), "--steps", str(args.steps)]
    caps = [f"{name}={os.environ[name]}" for name in PEER_CAPS if name in os.environ]
    print("peer command:", " ".join(caps + command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        print(f"peer: failed ({done.stderr.strip().splitlines()[-1:]})")
        return {}
    figures = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(" ")
        if not name.startswith("torch_"):
            print(line)
            continue
        try:
            figures[name] = float(value)
        except ValueError:  # "n/a (why)": PyTorch's bfloat16 LSTM has no oneDNN primitive without AVX-512
            print(f"peer: {line}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rnn-units", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps for each method")
    parser.add_argument("--peer", action="store_true", help="also run ../shared/peers/run-torch-peer")
    parser.add_argument("--layer-norm", action="store_true", help="also time --layer-norm at --precision auto")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # PRECISION:STRATEGY:XLA:NORM, one charbot row, run by main
    args = parser.parse_args()
    if args.row:
        return _one_row(args)

    from charbot.training.precision import choose_here

    ids, model_config = _workload(args)
    print(header())  # first: it loads TensorFlow quietly, before choose_here lists the GPUs
    auto, why = choose_here("auto")
    print(f"model: {args.num_layers} x LSTM({args.rnn_units}), vocabulary {model_config.vocab_size}, batch {args.batch_size} x "
          f"{args.seq_len}, {args.steps} timed steps each")
    print(f"--precision auto chose {auto}: {why}", flush=True)
    rows = _rows(model_config, ids, args, auto)
    print()
    print(f"{'method':58s} {'chars/s':>10s}")
    for name, value in rows:
        print(f"{name:58s} {value:10,.0f}")
    _ratios(dict(rows), rows[0][1], rows[1][1])


def _rows(model_config, ids, args, auto) -> list[tuple[str, float]]:
    """(method, chars/s) for every method timed; charbot float32 and auto first."""
    from charbot.system.hardware import cpu_flags, kernel_flags, machine, tensorflow_uses_onednn
    from charbot.training.trainer import XLA_MODES, xla_pays

    xla = xla_pays("one", kernel_flags(), bool(machine()["gpus"]), args.rnn_units, tensorflow_uses_onednn(cpu_flags()))
    print(f"XLA compiles on one device: {xla} (charbot.training.trainer.xla_pays: off, the LSTM's loops, or the step)")
    rows = [("charbot, float32", _row(args, "float32", "auto")),
            (f"charbot, --precision auto ({auto})", _row(args, auto, "auto"))]
    rows += [("charbot, float32, one device", _row(args, "float32", "one")),
             (f"charbot, {auto}, one device", _row(args, auto, "one"))]
    for other in [mode for mode in XLA_MODES if mode != xla] if xla != "off" else ["step"]:
        rows.append((f"charbot, float32, one device, XLA {other} (not chosen)", _row(args, "float32", "one", other)))
    if args.layer_norm:
        rows.append((f"charbot, {auto}, --layer-norm", _row(args, auto, "auto", norm=True)))
        rows.append((f"charbot, {auto}, --layer-norm, one device", _row(args, auto, "one", norm=True)))
    rows.append(("Keras model.fit, float32 (random windows)", fit_speed(model_config, ids, args)))
    peer = peer_speeds(model_config, args) if args.peer else {}
    names = {"torch_train_float32_chars_per_s": "PyTorch, float32",
             "torch_train_bfloat16_autocast_chars_per_s": "PyTorch, bfloat16 autocast"}
    return rows + [(names[key], value) for key, value in peer.items() if key in names]


def _row(args, precision: str, strategy: str, xla: str | None = None, norm: bool = False) -> float:
    """One charbot row, timed in a fresh process (its stderr, the placement line, passes through)."""
    command = [sys.executable, __file__, "--row", f"{precision}:{strategy}:{xla}:{norm}",
               *(f"--{name.replace('_', '-')}={getattr(args, name)}"
                 for name in ("rnn_units", "num_layers", "batch_size", "seq_len", "steps"))]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _workload(args, layer_norm: bool = False):
    """(ids, model settings): the first 2M characters of the bundled corpus and the model under test."""
    from charbot.config import ModelConfig
    from charbot.corpus import load_corpus
    from charbot.model.vocab import Vocabulary

    corpus = load_corpus("shakespeare")
    return corpus.ids()[:2_000_000].astype(np.int32), ModelConfig(
        vocab_size=len(Vocabulary(corpus.alphabet)), rnn_units=args.rnn_units, num_layers=args.num_layers,
        dropout=0.0, layer_norm=layer_norm)


def _one_row(args) -> None:
    """The --row process: print this row's chars/s as its last line."""
    precision, strategy, xla, norm = args.row.split(":")
    ids, model_config = _workload(args, layer_norm=norm == "True")
    speed = charbot_speed(model_config, ids, args, precision, None if xla == "None" else xla, strategy)
    print(f"{speed:.1f}")


def _ratios(speeds: dict[str, float], ours32: float, ours_auto: float) -> None:
    print()
    print("(charbot float32 and auto: placed as `charbot train` places them by default)")
    print(f"charbot float32 / fit:            {ours32 / speeds['Keras model.fit, float32 (random windows)']:.2f}x")
    one = [value for name, value in speeds.items() if name.endswith(", one device") and "float32" not in name]
    if one:
        print(f"charbot auto, default placement / one device: {ours_auto / one[0]:.2f}x")
    normalised = [value for name, value in speeds.items() if name.endswith("--layer-norm")]
    if normalised:
        print(f"charbot --layer-norm / plain:     {normalised[0] / ours_auto:.2f}x (the same precision)")
        normalised_one = [value for name, value in speeds.items() if name.endswith("--layer-norm, one device")]
        print(f"charbot --layer-norm, default placement / one device: {normalised[0] / normalised_one[0]:.2f}x")
    if "PyTorch, float32" in speeds:
        torch32 = speeds["PyTorch, float32"]
        print(f"charbot float32 / PyTorch float32: {ours32 / torch32:.2f}x (target >= 1.0)")
        print(f"charbot auto / PyTorch float32:    {ours_auto / torch32:.2f}x (target >= 1.4 where auto is bfloat16)")
    if "PyTorch, bfloat16 autocast" in speeds:
        print(f"charbot auto / PyTorch bfloat16:   {ours_auto / speeds['PyTorch, bfloat16 autocast']:.2f}x (aim >= 1.0)")


if __name__ == "__main__":
    main()
