"""Is a LiteRT graph that steps and samples a chunk of characters per call faster than one call per character?

Exports the model under test twice with `tf.lite.TFLiteConverter` (int8 weights): charbot's own
one-character step (`model.export.convert`), and a graph of CHUNK steps unrolled, each sampling by
inverting the CDF at temperature T with a uniform number given as input (the noise), which is what a
chunked runtime would need (plain temperature sampling only; top-k, top-p and min-p would add a sort
per step). Prints characters per second at batch 1 for both, in the same run.
Run: .venv/bin/python bench/litert_chunk.py [--chunk 16] [--chars 3000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import header, model_under_test

import numpy as np  # noqa: E402


def chunk_flatbuffer(model, chunk: int) -> bytes:
    import tensorflow as tf

    layers, units = model.config.num_layers, model.config.rnn_units
    states_spec = tf.TensorSpec([2 * layers, 1, units], tf.float32, name="states")

    class Chunk(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1], tf.int32, name="ids"), states_spec,
                                      tf.TensorSpec([chunk], tf.float32, name="noise"),
                                      tf.TensorSpec([], tf.float32, name="temperature")])
        def run(self, ids, states, noise, temperature):
            pairs = tuple((states[2 * i], states[2 * i + 1]) for i in range(layers))
            chosen = []
            for t in range(chunk):
                logits, pairs = model.step(ids, pairs)
                scaled = logits / tf.maximum(temperature, 1e-6)
                weights = tf.cumsum(tf.exp(scaled - tf.reduce_max(scaled, axis=-1, keepdims=True)), axis=-1)
                draw = noise[t] * weights[:, -1:]
                ids = tf.minimum(tf.reduce_sum(tf.cast(weights <= draw, tf.int32), axis=-1), tf.shape(logits)[-1] - 1)
                chosen.append(ids)
            return {"ids": tf.concat(chosen, 0), "states": tf.stack([x for pair in pairs for x in pair])}

    module = Chunk()
    module.weights = [w.value for w in model.weights]
    with tempfile.TemporaryDirectory() as folder:
        tf.saved_model.save(module, folder, signatures={"run": module.run.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["run"])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--chars", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from ai_edge_litert.interpreter import Interpreter

    from charbot.config import SampleConfig
    from charbot.generate.litert import LiteRTEngine, _Signature
    from charbot.model.export import convert

    model, vocab, description = model_under_test()
    print(header())
    print(f"model: {description}")
    folder = Path(tempfile.mkdtemp())
    (folder / "step.tflite").write_bytes(convert(model, "int8"))
    (folder / "chunk.tflite").write_bytes(chunk_flatbuffer(model, args.chunk))
    engine = LiteRTEngine(folder / "step.tflite", vocab, model.config.num_layers, model.config.rnn_units)
    settings = SampleConfig(temperature=0.6, max_chars=args.chars, stop=())
    threads = min(4, len(__import__("os").sched_getaffinity(0)))  # as the engine picks
    run = _Signature(Interpreter(model_path=str(folder / "chunk.tflite"), num_threads=threads), "run")
    rng = np.random.default_rng(1)

    def per_char():
        for _ in engine.stream(engine.initial_state(), settings, seed=1):
            pass

    def chunked():
        ids, states = np.zeros([1], np.int32), np.zeros([2 * model.config.num_layers, 1, model.config.rnn_units], np.float32)
        temperature = np.array(0.6, np.float32)
        for _ in range(args.chars // args.chunk):
            out = run(ids=ids, states=states, noise=rng.random(args.chunk).astype(np.float32), temperature=temperature)
            states, ids = out["states"], out["ids"][-1:]
            "".join(vocab.chars[i] for i in out["ids"])  # the text, as a stream would show it

    for name, fn, count in (("one call per character (charbot)", per_char, args.chars),
                            (f"{args.chunk} characters per call", chunked, args.chars // args.chunk * args.chunk)):
        fn()
        seconds = min(_timed(fn) for _ in range(args.runs))
        print(f"{name:36s} {count / seconds:10,.0f} chars/s")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
