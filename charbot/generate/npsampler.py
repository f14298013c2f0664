"""The sampler outside TensorFlow: the same function as `sampling.next_ids`, in NumPy.

Temperature (0 is greedy), top-k, top-p and min-p, for one row of logits, with a seeded NumPy
generator: the same seed, settings and text give the same characters. The definition stays
`tfp.distributions.Categorical(logits=filtered / temperature)`; `tests/test_npsampler.py` checks this
sampler against it (the same support, and a chi-square test over 100,000 draws per setting).

It draws by inverting the cumulative distribution with one uniform number per row. This module
imports no TensorFlow.
"""

from __future__ import annotations

import numpy as np

_TINY_TEMPERATURE = 1e-6  # as in `sampling`: stands in for 0 inside the division


def filter_logits(scaled: np.ndarray, settings) -> np.ndarray:
    """`scaled` [batch, vocab] with every logit outside top-k, the top-p nucleus and the min-p floor at -inf."""
    vocab = scaled.shape[-1]
    ordered = -np.sort(-scaled, axis=-1)  # descending
    k = min(settings.top_k, vocab) if settings.top_k > 0 else vocab
    kth = ordered[:, k - 1:k]
    shifted = np.exp(ordered - ordered[:, :1])
    probs = shifted / shifted.sum(axis=-1, keepdims=True)
    mass_before = np.cumsum(probs, axis=-1) - probs
    kept = np.maximum((mass_before < np.float32(settings.top_p)).sum(axis=-1), 1)
    nucleus_floor = np.take_along_axis(ordered, (kept - 1)[:, None], axis=-1)
    with np.errstate(divide="ignore"):
        min_p_floor = ordered[:, :1] + np.log(np.float32(settings.min_p))
    threshold = np.maximum(np.maximum(kth, nucleus_floor), min_p_floor)
    return np.where(scaled < threshold, -np.inf, scaled)


def filtering(settings) -> bool:
    return settings.top_k > 0 or settings.top_p < 1.0 or settings.min_p > 0.0


def cumulative(logits: np.ndarray, settings) -> np.ndarray:
    """The unnormalised cumulative weights that a draw inverts, for one row [vocab] at temperature > 0."""
    scaled = logits * (1.0 / max(settings.temperature, _TINY_TEMPERATURE))  # a Python float keeps float32
    if filtering(settings):
        scaled = filter_logits(scaled[None], settings)[0]
    return np.exp(scaled - scaled.max()).cumsum()


def draw(cumulative_weights: np.ndarray, uniform):
    """The first index whose cumulative weight exceeds `uniform` x the total (a weight of 0 is never
    chosen); `uniform` may be one number in [0, 1) or an array of them."""
    chosen = cumulative_weights.searchsorted(uniform * cumulative_weights[-1], "right")
    return np.minimum(chosen, len(cumulative_weights) - 1)


def next_id(logits: np.ndarray, settings, rng: np.random.Generator, allowed: np.ndarray | None = None) -> int:
    """The next id for one row of logits [vocab] (float32, unscaled): one uniform number from `rng`.

    `allowed` [vocab] bool, where given, removes the other characters before anything else (a constraint)."""
    if allowed is not None:
        logits = np.where(allowed, logits, np.float32(-np.inf))
    if settings.temperature <= 0.0:
        return int(logits.argmax())
    return int(draw(cumulative(logits, settings), rng.random()))


def probability(logits: np.ndarray, chosen: int) -> float:
    """softmax(logits)[chosen] at temperature 1: the model's own probability for the character."""
    return float(1.0 / np.exp(logits - logits[chosen]).sum())


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
