"""How much of a long text the LSTM remembers: priming only its tail against priming all of it.

For several 50,000-character texts from the bundled corpus' validation split, primes the shipped
model with the whole text and with only its last N characters, and prints the largest difference in
the LSTM state and the KL divergence between the two next-character distributions. This is the
measurement behind `engine.PRIME_TAIL`. Run: .venv/bin/python bench/prime_tail.py
"""

from __future__ import annotations

import numpy as np
from common import header, model_under_test

TAILS = (256, 512, 1024, 2048, 4096, 8192)
LENGTH, TEXTS = 50_000, 4


def read_all(engine, ids):
    """Every character fed, in calls of at most PRIME_TAIL (a longer call would keep only its tail)."""
    from charbot.generate.state import PRIME_TAIL

    state = engine.initial_state()
    for start in range(0, len(ids), PRIME_TAIL):
        state = engine.prime_ids(state, ids[start : start + PRIME_TAIL])
    return state


def main() -> None:
    import tensorflow as tf

    from charbot.corpus import load_corpus
    from charbot.corpus.streams import split
    from charbot.generate.engine import TFEngine

    model, vocab, description = model_under_test()
    engine = TFEngine(model, vocab)
    print(f"{header()}\nmodel: {description}")
    ids = np.asarray(vocab.ids_from_text(load_corpus("shakespeare").text), np.int32)
    _, val = split(ids, 0.1)
    starts = np.linspace(0, len(val) - LENGTH, TEXTS).astype(int)
    print(f"{TEXTS} texts of {LENGTH:,} characters from the validation split\n")
    print(f"{'tail':>6s} {'max |dh|, |dc| (worst text)':>30s} {'max KL (nats)':>16s}")
    full = [read_all(engine, val[s : s + LENGTH]) for s in starts]
    for tail in TAILS:
        worst_state, worst_kl = 0.0, 0.0
        for start, whole in zip(starts, full):
            part = engine.prime_ids(engine.initial_state(), val[start + LENGTH - tail : start + LENGTH])
            for (h1, c1), (h2, c2) in zip(whole.layers, part.layers):
                worst_state = max(worst_state, float(tf.reduce_max(tf.abs(h1 - h2))), float(tf.reduce_max(tf.abs(c1 - c2))))
            p, q = tf.nn.log_softmax(whole.logits[0]), tf.nn.log_softmax(part.logits[0])
            worst_kl = max(worst_kl, float(tf.reduce_sum(tf.exp(p) * (p - q))))
        print(f"{tail:6,d} {worst_state:30.2e} {worst_kl:16.2e}")


if __name__ == "__main__":
    main()
