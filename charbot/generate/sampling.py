"""One pure function from logits and settings to the next character ids.

Temperature is applied here and nowhere else. Settings arrive as one dict of tensors (made by
`settings_tensors` from a `SampleConfig`) so that changing them never retraces a compiled function:

    temperature  float32 scalar   0 means greedy (argmax); no division by zero happens
    top_k        int32 scalar     keep the k most likely characters; 0 = off
    top_p        float32 scalar   keep the smallest set holding this much probability; 1 = off
    min_p        float32 scalar   keep characters at least min_p times as likely as the best; 0 = off

Sampling is the classic recipe, `tfp.distributions.Categorical(logits=logits / temperature)`, with a
stateless seed so the same seed gives the same characters.
"""

from __future__ import annotations

from charbot.system.tfload import load_probability

load_probability()

import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

_TINY_TEMPERATURE = 1e-6  # stands in for 0 inside the division; the greedy branch is used then
FIELDS = {"temperature": tf.float32, "top_k": tf.int32, "top_p": tf.float32, "min_p": tf.float32}


def settings_tensors(settings) -> dict:
    """The sampler's fields of a `SampleConfig` as tensors, the one structure compiled code takes."""
    return {name: tf.constant(getattr(settings, name), dtype) for name, dtype in FIELDS.items()}


def filter_logits(scaled, settings):
    """Mask (to -inf) every logit outside the top-k, the top-p nucleus and the min-p floor.

    Args:
        scaled: [batch, vocab] logits already divided by the temperature.
        settings: the dict of `settings_tensors`.
    """
    top_k, top_p = settings["top_k"], settings["top_p"]
    vocab = tf.shape(scaled)[-1]
    ordered = tf.sort(scaled, axis=-1, direction="DESCENDING")  # [batch, vocab]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth = tf.gather(ordered, k - 1, axis=-1)[:, None]  # [batch, 1]
    # Nucleus: keep a sorted position if the mass before it is still below top_p (the first is always kept).
    probs = tf.nn.softmax(ordered, axis=-1)
    mass_before = tf.cumsum(probs, axis=-1, exclusive=True)
    kept = tf.reduce_sum(tf.cast(mass_before < top_p, tf.int32), axis=-1)  # [batch], >= 1
    nucleus_floor = tf.gather(ordered, tf.maximum(kept, 1) - 1, batch_dims=1)[:, None]
    # min-p: p_i >= min_p * p_max, i.e. scaled_i - max(scaled) >= log(min_p) (log 0 = -inf keeps all).
    min_p_floor = ordered[:, :1] + tf.math.log(settings["min_p"])
    threshold = tf.maximum(tf.maximum(kth, nucleus_floor), min_p_floor)
    return tf.where(scaled < threshold, tf.constant(-float("inf"), scaled.dtype), scaled)


def next_ids(logits, settings, seed, allowed=None):
    """The next id of each row.

    Args:
        logits: [batch, vocab] float32, unscaled model output.
        settings: the dict of `settings_tensors`.
        seed: [2] int32 stateless seed.
        allowed: [batch, vocab] bool, or None: a constraint's characters allowed next (the rest are removed
            before temperature and filters).
    Returns:
        [batch] int32 ids.
    """
    if allowed is not None:
        logits = tf.where(allowed, logits, tf.constant(-float("inf"), logits.dtype))
    temperature = settings["temperature"]
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    scaled = logits / tf.maximum(temperature, _TINY_TEMPERATURE)
    filtering = tf.logical_or(tf.logical_or(settings["top_k"] > 0, settings["top_p"] < 1.0), settings["min_p"] > 0.0)
    # The sort is skipped when every filter is off.
    filtered = tf.cond(filtering, lambda: filter_logits(scaled, settings), lambda: scaled)
    sampled = tfp.distributions.Categorical(logits=filtered, dtype=tf.int32).sample(seed=seed)
    return tf.where(temperature > 0.0, sampled, greedy)
