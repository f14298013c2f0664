"""Generation speed: charbot's engine against three baselines, on the same weights, in one run.

1. naive: eager `model(x)` per character plus an eager TFP sample per character;
2. per-character `tf.function` step, as in the TensorFlow text-generation tutorial's OneStep;
3. charbot's TensorFlow engine (compiled chunks, XLA);
4. plain NumPy LSTM step with NumPy sampling;
5. charbot's LiteRT engine on the same weights exported as float32 and as int8 (`model.export`).

Prints characters per second at batch 1 and 8, time to the first character after a 1,000-character
seed, and the ratios; then the int8 LiteRT engine at batch 1 for wider models with random weights,
so that the next shipped model can be sized by speed.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1000, help="characters per timed run (naive: a fifth)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--widths", default="512,768,1024", help="LSTM widths (2 layers) for the int8 rows; '' skips")
    args = parser.parse_args()

    from charbot.generate.engine import Engine
    from charbot.config import SampleConfig
    from charbot.model.network import model_weights
    from charbot.model.reference import NumpyLSTM

    import tensorflow as tf
    import tensorflow_probability as tfp

    model, vocab, description = model_under_test()
    engine = Engine(model, vocab)
    reference = NumpyLSTM(model_weights(model), model.config.num_layers)
    temperature = 0.6
    n = args.chars
    print(header())
    print(f"model: {description}")

    def naive(batch, count):
        states = model.zero_state(batch)
        ids = tf.zeros([batch, 1], tf.int32)
        for _ in range(count):
            logits, states = model(ids, states)
            sample = tfp.distributions.Categorical(logits=logits[:, -1, :] / temperature).sample()
            ids = tf.cast(sample, tf.int32)[:, None]

    @tf.function
    def one_step(ids, states, temperature):
        logits, states = model(ids[:, None], states)
        sample = tfp.distributions.Categorical(logits=logits[:, -1, :] / temperature).sample()
        return tf.cast(sample, tf.int32), states

    def per_char_function(batch, count):
        states = model.zero_state(batch)
        ids = tf.zeros([batch], tf.int32)
        t = tf.constant(temperature)
        for _ in range(count):
            ids, states = one_step(ids, states, t)
            ids.numpy()  # each character goes back to Python, as a streaming loop must

    settings = SampleConfig(temperature=temperature, max_chars=n, stop=())

    def streaming(which):
        """A run of `which` engine: one stream at batch 1, else `batch` samples at once."""
        def run(batch, count):
            state = which.initial_state()
            if batch == 1:
                for _ in which.stream(state, settings.replace(max_chars=count), seed=1):
                    pass
            else:
                which.sample(state, settings.replace(max_chars=count), seed=1, n=batch)
        return run

    rng = np.random.default_rng(0)

    def numpy_bound(batch, count):
        states = reference.zero_state(batch)
        ids = np.zeros(batch, np.int64)
        for _ in range(count):
            logits, states = reference.step(ids, states)
            z = logits / temperature
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            ids = (p.cumsum(axis=1) > rng.random((batch, 1))).argmax(axis=1)

    lite = {quantize: litert_engine(model, vocab, quantize) for quantize in ("float32", "int8")}

    contenders = [("naive eager", naive, max(20, n // 5)), ("per-char tf.function", per_char_function, n),
                  ("charbot engine", streaming(engine), n), ("NumPy step", numpy_bound, n),
                  ("LiteRT float32", streaming(lite["float32"]), n), ("LiteRT int8", streaming(lite["int8"]), n)]
    speeds = {}
    for batch in (1, 8):
        for name, fn, count in contenders:
            fn(batch, 5)  # trace / compile outside the timing
            seconds = best_of(args.runs, lambda: fn(batch, count))
            speeds[name, batch] = count / seconds
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

    seed_text = ("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 30)[:1000]

    def first_character():
        state, _ = engine.prime(engine.initial_state(), seed_text)
        for _ in engine.stream(state, settings, seed=2):
            break

    start = time.perf_counter()
    first_character()
    cold = time.perf_counter() - start
    engine.warm_up()
    warm = best_of(args.runs, first_character)
    print()
    print(f"first character after a 1,000-character seed: {warm * 1000:.0f} ms warm (target <= 150 ms), "
          f"{cold * 1000:.0f} ms on first use (includes compiling)")
    engine = lite["int8"]
    print(f"the same with LiteRT int8: {best_of(args.runs, first_character) * 1000:.0f} ms")
    if args.widths:
        width_rows([int(w) for w in args.widths.split(",")], vocab, n, args.runs)


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
    """int8 LiteRT at batch 1 for 2-layer models of each width, random weights."""
    import keras

    from charbot.config import ModelConfig, SampleConfig
    from charbot.model.network import build_model

    print()
    print(f"{'LiteRT int8, random weights':30s} {'batch 1 chars/s':>16s}")
    for width in widths:
        keras.utils.set_random_seed(0)
        config = ModelConfig(vocab_size=len(vocab), embedding_dim=64, rnn_units=width, num_layers=2)
        engine = litert_engine(build_model(config), vocab, "int8")
        settings = SampleConfig(temperature=0.6, max_chars=chars, stop=())
        state = engine.initial_state()
        seconds = best_of(runs, lambda: [None for _ in engine.stream(state, settings, seed=1)])
        print(f"{'2x' + str(width):30s} {chars / seconds:16,.0f}")


if __name__ == "__main__":
    main()
