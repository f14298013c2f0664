"""Training throughput: charbot's stateful training step against plain `model.fit`, in one run.

Both train the same architecture at the same batch and window length on the bundled corpus:
- charbot: the char-rnn stream layout, LSTM state carried from window to window, compiled step;
- baseline: a stateless Keras 3 model (Embedding -> LSTM x N -> Dense) fed random windows by `fit`.

Prints characters per second for each and the ratio. Run: .venv/bin/python bench/train_speed.py
"""

from __future__ import annotations

import argparse
import time

from common import machine_line

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rnn-units", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps for each method")
    args = parser.parse_args()

    from charbot.config import ModelConfig, TrainConfig
    from charbot.corpus import lay_out, load_corpus
    from charbot.train import Trainer
    from charbot.vocab import Vocabulary

    import keras
    import tensorflow as tf

    corpus = load_corpus("shakespeare")
    vocab = Vocabulary.from_text(corpus.text)
    ids = np.asarray(vocab.ids_from_text(corpus.text[:2_000_000]), np.int32)
    B, T, steps = args.batch_size, args.seq_len, args.steps
    model_config = ModelConfig(vocab_size=len(vocab), rnn_units=args.rnn_units, num_layers=args.num_layers,
                               dropout=0.0)
    print(f"machine: {machine_line()}")
    print(f"model: {args.num_layers} x LSTM({args.rnn_units}), batch {B} x {T}, {steps} timed steps each")

    # charbot: stream layout, carried state.
    trainer = Trainer(model_config, TrainConfig(batch_size=B, seq_len=T), total_steps=10_000)
    layout = lay_out(ids, B, T)
    states = trainer.model.zero_state(B)
    seed = tf.constant([1, 0], tf.int32)

    def charbot_steps(start, count):
        nonlocal states
        for k in range(start, start + count):
            x, y = layout.window(k)
            loss, states = trainer.train_step(tf.constant(x), tf.constant(y), states, seed)
        float(loss)

    charbot_steps(0, 2)  # trace
    started = time.perf_counter()
    charbot_steps(2, steps)
    charbot_speed = steps * B * T / (time.perf_counter() - started)

    # Baseline: model.fit on random windows, same architecture.
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(T,), dtype="int32")
    x = keras.layers.Embedding(len(vocab), model_config.embedding_dim)(inputs)
    for _ in range(args.num_layers):
        x = keras.layers.LSTM(args.rnn_units, return_sequences=True)(x)
    baseline = keras.Model(inputs, keras.layers.Dense(len(vocab))(x))
    baseline.compile(optimizer=keras.optimizers.Adam(2e-3, global_clipnorm=1.0),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(ids) - T - 1, size=(steps + 2) * B)
    windows_x = np.stack([ids[s : s + T] for s in starts])
    windows_y = np.stack([ids[s + 1 : s + T + 1] for s in starts])
    baseline.fit(windows_x[: 2 * B], windows_y[: 2 * B], batch_size=B, epochs=1, verbose=0)  # trace
    started = time.perf_counter()
    baseline.fit(windows_x[2 * B :], windows_y[2 * B :], batch_size=B, epochs=1, verbose=0, shuffle=False)
    fit_speed = steps * B * T / (time.perf_counter() - started)

    print()
    print(f"{'method':36s} {'chars/s':>10s}")
    print(f"{'charbot (stateful, stream layout)':36s} {charbot_speed:10,.0f}")
    print(f"{'model.fit on random windows':36s} {fit_speed:10,.0f}")
    print(f"ratio charbot / fit: {charbot_speed / fit_speed:.2f}x (target >= 1.0, aim 1.5)")


if __name__ == "__main__":
    main()
