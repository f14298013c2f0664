"""One pure function from logits and settings to the next character ids.

Temperature is applied here and nowhere else. Settings arrive as tensors so that changing them never
retraces a compiled function:

    temperature  float32 scalar   0 means greedy (argmax); no division by zero happens
    top_k        int32 scalar     keep the k most likely characters; 0 = off
    top_p        float32 scalar   keep the smallest set holding this much probability; 1 = off

Sampling is the classic recipe, `tfp.distributions.Categorical(logits=logits / temperature)`, with a
stateless seed so the same seed gives the same characters.
"""

from __future__ import annotations

from charbot.tfload import load_tensorflow

load_tensorflow()

import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

_TINY_TEMPERATURE = 1e-6  # stands in for 0 inside the division; the greedy branch is used then


def filter_logits(scaled, top_k, top_p):
    """Mask (to -inf) every logit outside the top-k and the top-p nucleus.

    Args:
        scaled: [batch, vocab] logits already divided by the temperature.
    """
    vocab = tf.shape(scaled)[-1]
    ordered = tf.sort(scaled, axis=-1, direction="DESCENDING")  # [batch, vocab]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth = tf.gather(ordered, k - 1, axis=-1)[:, None]  # [batch, 1]
    # Nucleus: keep a sorted position if the mass before it is still below top_p (the first is always kept).
    probs = tf.nn.softmax(ordered, axis=-1)
    mass_before = tf.cumsum(probs, axis=-1, exclusive=True)
    kept = tf.reduce_sum(tf.cast(mass_before < top_p, tf.int32), axis=-1)  # [batch], >= 1
    nucleus_floor = tf.gather(ordered, tf.maximum(kept, 1) - 1, batch_dims=1)[:, None]
    threshold = tf.maximum(kth, nucleus_floor)
    return tf.where(scaled < threshold, tf.constant(-float("inf"), scaled.dtype), scaled)


def next_ids(logits, temperature, top_k, top_p, seed):
    """The next id of each row.

    Args:
        logits: [batch, vocab] float32, unscaled model output.
        seed: [2] int32 stateless seed.
    Returns:
        [batch] int32 ids.
    """
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    scaled = logits / tf.maximum(temperature, _TINY_TEMPERATURE)
    filtered = tf.cond(
        tf.logical_or(top_k > 0, top_p < 1.0), lambda: filter_logits(scaled, top_k, top_p), lambda: scaled
    )  # the sort is skipped when both filters are off
    sampled = tfp.distributions.Categorical(logits=filtered, dtype=tf.int32).sample(seed=seed)
    return tf.where(temperature > 0.0, sampled, greedy)


def settings_tensors(temperature: float, top_k: int, top_p: float):
    return (
        tf.constant(temperature, tf.float32),
        tf.constant(top_k, tf.int32),
        tf.constant(top_p, tf.float32),
    )
