"""How much does stepping many rows in one LiteRT call gain over one row? The ceiling of `charbot serve`.

Times, with the state the rows really carry (a zero state flatters batching: the int8 kernels skip zero
rows), one call of the shipped model's "batch" signature for 1, 2, 4, 8 and 16 rows, and one int8
fully connected layer of the model's largest shape ([rows, 2 units] by [2 units, 4 units], dynamic-range
int8 as the export has it) alone, converted here by `tf.lite.TFLiteConverter`. Prints microseconds a
call, rows a second, and the ratio of rows a second to one row's: what batching can give the server
before any of its own work (sampling, events, HTTP). A ratio near the row count would mean the call is
bound by reading the weights; near 1, by arithmetic.
Run: .venv/bin/python bench/litert_batch.py [--threads N] [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from common import header

import numpy as np  # noqa: E402

ROWS = (1, 2, 4, 8, 16)


def timed(runner, inputs: dict, calls: int, carry: str | None) -> float:
    """Median microseconds a call of a signature runner over 5 rounds of `calls`; `carry` names the input
    fed by the output "states"."""
    wrapper, subgraph = runner._interpreter_wrapper, runner._subgraph_index
    details = runner.get_input_details()
    out = runner.get_output_details()["states"]["index"] if carry else None
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            for name, value in inputs.items():
                wrapper.SetTensor(details[name]["index"], value, subgraph)
            wrapper.Invoke(subgraph)
            if carry:
                inputs[carry] = wrapper.GetTensor(out, subgraph)
        rounds.append((time.perf_counter() - started) / calls * 1e6)
    return float(np.median(rounds))


def model_rows(engine, rows: int, calls: int) -> float:
    """The shipped model's batch signature at `rows` rows, after 200 steps of real characters."""
    rng = np.random.default_rng(rows)
    states = np.zeros([2 * engine.layers, rows, engine.units], np.float32)
    for _ in range(200):
        _, states = engine._batch(rng.integers(1, len(engine.vocab), rows).astype(np.int32), states)
    return timed(engine._batch.runner, {"ids": rng.integers(1, len(engine.vocab), rows).astype(np.int32),
                                 "states": states}, calls, "states")


def dense_flatbuffer(rows: int, units: int) -> bytes:
    import tensorflow as tf

    weight = tf.constant(np.random.default_rng(0).standard_normal((2 * units, 4 * units)).astype(np.float32) * 0.05)

    class Dense(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([rows, 2 * units], tf.float32, name="x")])
        def run(self, x):
            return {"y": tf.matmul(x, weight)}

    module = Dense()
    with tempfile.TemporaryDirectory() as folder:
        tf.saved_model.save(module, folder, signatures={"run": module.run.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["run"])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def dense_rows(rows: int, units: int, threads: int, calls: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    from charbot.system.quiet import quiet

    with quiet():
        interpreter = Interpreter(model_content=dense_flatbuffer(rows, units), num_threads=threads)
    runner = interpreter.get_signature_runner("run")
    x = np.random.default_rng(1).standard_normal((rows, 2 * units)).astype(np.float32)
    runner(x=x)
    return timed(runner, {"x": x}, calls, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="LiteRT threads (default: as the engine picks)")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    from charbot.generate.litert import LiteRTEngine
    from charbot.generate.loading import litert_file
    from charbot.model import checkpoint, names

    print(header())
    data = checkpoint.load(names.default_checkpoint(), weights=False)
    threads = args.threads or min(4, len(os.sched_getaffinity(0)))  # as the engine picks
    config = data.model_config
    engine = LiteRTEngine(litert_file(data, print)[0], data.vocab, config.num_layers, config.rnn_units, threads)
    units = engine.units
    print(f"model: {names.default_checkpoint().name}, {engine.layers} x LSTM({units}), int8, {threads} thread(s)")
    print(f"{'rows':>4s} {'model µs':>9s} {'rows/s':>8s} {'x 1 row':>8s}   "
          f"{'FC [rows,{0}]x[{0},{1}] µs'.format(2 * units, 4 * units):>26s} {'GOP/s':>6s} {'x 1 row':>8s}")
    base_model = base_dense = 0.0
    for rows in ROWS:
        model_us, dense_us = model_rows(engine, rows, args.calls), dense_rows(rows, units, threads, args.calls)
        base_model, base_dense = base_model or model_us, base_dense or dense_us
        gops = 2 * rows * 2 * units * 4 * units / dense_us / 1e3
        print(f"{rows:4d} {model_us:9.0f} {rows / model_us * 1e6:8,.0f} {rows * base_model / model_us:7.2f}x   "
              f"{dense_us:26.0f} {gops:6.0f} {rows * base_dense / dense_us:7.2f}x")


if __name__ == "__main__":
    main()
