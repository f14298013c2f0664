"""Generation speed: charbot's engine against three baselines, on the same weights, in one run.

1. naive: eager `model(x)` per character plus an eager TFP sample per character;
2. per-character `tf.function` step, as in the TensorFlow text-generation tutorial's OneStep;
3. charbot's TensorFlow engine (compiled chunks, XLA);
4. plain NumPy LSTM step with NumPy sampling;
5. charbot's LiteRT engine on the same weights exported as float32 and as int8 (`model.export`).

Prints characters per second at batch 1 and 8, time to the first character after a 1,000-character
seed, and the ratios; then, at batch 1 for models of other widths with random weights, the int8
LiteRT engine (so that the next shipped model can be sized by speed) and the TensorFlow engine.
Run: .venv/bin/python bench/generate_speed.py [--chars N] [--widths 512,768,1024]
"""

from __future__ import annotations

import argparse
import time

from common import header, model_under_test

import numpy as np  # noqa: E402


def best_of(runs, fn):
    """Fastest of `runs` timings: the least disturbed by other work on a shared machine."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


TEMPERATURE = 0.6
SEED_TEXT = ("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 30)[:1000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1000, help="characters per timed run (naive: a fifth)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--widths", default="512,768,1024", help="LSTM widths (2 layers) for the width rows; '' skips")
    args = parser.parse_args()

    from charbot.generate.engine import TFEngine

    model, vocab, description = model_under_test()
    engine = TFEngine(model, vocab)
    print(header())
    print(f"model: {description}")
    lite = {quantize: litert_engine(model, vocab, quantize) for quantize in ("float32", "int8")}
    contenders = tf_baselines(model, args.chars) + [
        ("charbot engine", streaming(engine), args.chars), ("NumPy step", numpy_bound(model), args.chars),
        ("LiteRT float32", streaming(lite["float32"]), args.chars),
        ("LiteRT int8", streaming(lite["int8"]), args.chars)]
    report_speeds(contenders, measure(contenders, args.runs))
    report_first_character(engine, lite["int8"], args.chars, args.runs)
    if args.widths:
        width_rows([int(w) for w in args.widths.split(",")], vocab, args.chars, args.runs)


def tf_baselines(model, n: int):
    """(name, run(batch, count), count) for the two TensorFlow baselines: eager, and a per-character tf.function."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    def naive(batch, count):
        states = model.zero_state(batch)
        ids = tf.zeros([batch, 1], tf.int32)
        for _ in range(count):
            logits, states = model(ids, states)
            sample = tfp.distributions.Categorical(logits=logits[:, -1, :] / TEMPERATURE).sample()
            ids = tf.cast(sample, tf.int32)[:, None]

    @tf.function
    def one_step(ids, states, temperature):
        logits, states = model(ids[:, None], states)
        sample = tfp.distributions.Categorical(logits=logits[:, -1, :] / temperature).sample()
        return tf.cast(sample, tf.int32), states

    def per_char_function(batch, count):
        states = model.zero_state(batch)
        ids = tf.zeros([batch], tf.int32)
        t = tf.constant(TEMPERATURE)
        for _ in range(count):
            ids, states = one_step(ids, states, t)
            ids.numpy()  # each character goes back to Python, as a streaming loop must

    return [("naive eager", naive, max(20, n // 5)), ("per-char tf.function", per_char_function, n)]


def settings_for(count: int):
    from charbot.config import SampleConfig

    return SampleConfig(temperature=TEMPERATURE, max_chars=count, stop=())


def streaming(which):
    """A run of engine `which`: one stream at batch 1, else `batch` samples at once."""
    def run(batch, count):
        state = which.initial_state()
        if batch == 1:
            for _ in which.stream(state, settings_for(count), seed=1):
                pass
        else:
            which.sample(state, settings_for(count), seed=1, n=batch)
    return run


def numpy_bound(model):
    """A run of the plain NumPy LSTM step with NumPy sampling: the bound a compiled engine should reach."""
    from charbot.model.network import model_weights
    from charbot.model.reference import NumpyLSTM

    reference = NumpyLSTM(model_weights(model), model.config.num_layers)
    rng = np.random.default_rng(0)

    def run(batch, count):
        states = reference.zero_state(batch)
        ids = np.zeros(batch, np.int64)
        for _ in range(count):
            logits, states = reference.step(ids, states)
            z = logits / TEMPERATURE
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            ids = (p.cumsum(axis=1) > rng.random((batch, 1))).argmax(axis=1)
    return run


def measure(contenders, runs: int) -> dict:
    """Characters per second per row of output, by (name, batch), best of `runs` after a warm-up."""
    speeds = {}
    for batch in (1, 8):
        for name, fn, count in contenders:
            fn(batch, 5)  # trace / compile outside the timing
            seconds = best_of(runs, lambda: fn(batch, count))
            speeds[name, batch] = count / seconds
    return speeds


def report_speeds(contenders, speeds: dict) -> None:
    print()
    print(f"{'method':24s} {'batch 1 chars/s':>16s} {'batch 8 chars/s (x8 rows)':>26s}")
    for name, _, _ in contenders:
        print(f"{name:24s} {speeds[name, 1]:16,.0f} {speeds[name, 8] * 8:26,.0f}")
    charbot_1 = speeds["charbot engine", 1]
    print()
    print(f"charbot / per-char tf.function, batch 1: {charbot_1 / speeds['per-char tf.function', 1]:.2f}x (target >= 4)")
    print(f"charbot / NumPy bound, batch 1:          {charbot_1 / speeds['NumPy step', 1]:.2f}x (target >= 0.8)")
    print(f"charbot / naive eager, batch 1:          {charbot_1 / speeds['naive eager', 1]:.1f}x")
    print(f"charbot / per-char tf.function, batch 8: {speeds['charbot engine', 8] / speeds['per-char tf.function', 8]:.2f}x")
    for quantize in ("float32", "int8"):
        print(f"LiteRT {quantize:7s} / TF engine, batch 1:    {speeds['LiteRT ' + quantize, 1] / charbot_1:.2f}x"
              + (" (target >= 3)" if quantize == "int8" else ""))


def report_first_character(engine, lite_int8, chars: int, runs: int) -> None:
    """Time to the first character after a 1,000-character seed: TF engine cold and warm, then LiteRT int8."""
    def first_character(which):
        state, _ = which.prime(which.initial_state(), SEED_TEXT)
        for _ in which.stream(state, settings_for(chars), seed=2):
            break

    start = time.perf_counter()
    first_character(engine)
    cold = time.perf_counter() - start
    engine.warm_up()
    warm = best_of(runs, lambda: first_character(engine))
    print()
    print(f"first character after a 1,000-character seed: {warm * 1000:.0f} ms warm (target <= 150 ms), "
          f"{cold * 1000:.0f} ms on first use (includes compiling)")
    print(f"the same with LiteRT int8: {best_of(runs, lambda: first_character(lite_int8)) * 1000:.0f} ms")


def litert_engine(model, vocab, quantize: str):
    """The LiteRT engine on `model`'s weights, exported as `quantize` into a temporary file."""
    import tempfile
    from pathlib import Path

    from charbot.generate.litert import LiteRTEngine
    from charbot.model.export import convert

    path = Path(tempfile.mkdtemp()) / f"{quantize}.tflite"
    path.write_bytes(convert(model, quantize))
    return LiteRTEngine(path, vocab, model.config.num_layers, model.config.rnn_units)


def width_rows(widths, vocab, chars: int, runs: int) -> None:
    """Batch 1 for 2-layer models of each width, random weights: int8 LiteRT (which sizes the shipped
    model) and the TensorFlow engine, with the size of the float32 weights the engine reads for every
    character."""
    import keras

    from charbot.config import ModelConfig
    from charbot.generate.engine import TFEngine
    from charbot.model.network import build_model

    print()
    print(f"{'2 layers, random weights':26s} {'float32 MB':>10s} {'LiteRT int8 chars/s':>20s} "
          f"{'TF engine chars/s':>18s} {'ratio':>6s}")
    for width in widths:
        keras.utils.set_random_seed(0)
        config = ModelConfig(vocab_size=len(vocab), embedding_dim=64, rnn_units=width, num_layers=2)
        model = build_model(config)
        megabytes = sum(w.numpy().nbytes for w in model.weights) / 1e6
        speeds = []
        for engine in (litert_engine(model, vocab, "int8"), TFEngine(model, vocab)):
            streaming(engine)(1, 5)  # compile outside the timing
            speeds.append(chars / best_of(runs, lambda: streaming(engine)(1, chars)))
        print(f"{'2x' + str(width):26s} {megabytes:10.1f} {speeds[0]:20,.0f} {speeds[1]:18,.0f} "
              f"{speeds[0] / speeds[1]:5.2f}x")


if __name__ == "__main__":
    main()
