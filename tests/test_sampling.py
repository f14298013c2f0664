import numpy as np
import pytest
import tensorflow as tf

from charbot.config import SampleConfig
from charbot.generate.sampling import filter_logits, next_ids, settings_tensors

LOGITS = np.log(np.array([[0.5, 0.2, 0.15, 0.1, 0.05]], np.float32))


def draw(logits, temperature, top_k=0, top_p=1.0, n=4000, seed=11, min_p=0.0):
    batch = tf.constant(np.repeat(logits, n, axis=0))
    settings = settings_tensors(SampleConfig(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p))
    ids = next_ids(batch, settings, tf.constant([seed, 0]))
    return ids.numpy()


def frequencies(ids, vocab=5):
    return np.bincount(ids, minlength=vocab) / len(ids)


def entropy(freq):
    nonzero = freq[freq > 0]
    return float(-(nonzero * np.log(nonzero)).sum())


def test_temperature_zero_is_greedy():
    logits = np.array([[0.1, 2.0, 1.9, -1.0]], np.float32)
    assert set(draw(logits, 0.0, n=50)) == {1}


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.7])
def test_sampled_frequencies_match_softmax_of_scaled_logits(temperature):
    ids = draw(LOGITS, temperature, n=20000)
    expected = tf.nn.softmax(LOGITS[0] / temperature).numpy()
    # Five standard errors of a binomial proportion: fails for a wrong distribution, not by chance.
    tolerance = 5 * np.sqrt(expected * (1 - expected) / len(ids))
    assert np.all(np.abs(frequencies(ids) - expected) <= tolerance)


def test_lower_temperature_gives_lower_entropy():
    entropies = [entropy(frequencies(draw(LOGITS, t))) for t in (0.3, 0.7, 1.0, 1.5)]
    assert entropies == sorted(entropies)


def test_same_seed_same_ids_and_other_seed_other_ids():
    a, b, c = draw(LOGITS, 1.0, n=200, seed=5), draw(LOGITS, 1.0, n=200, seed=5), draw(LOGITS, 1.0, n=200, seed=6)
    assert (a == b).all() and (a != c).any()


def test_top_k_keeps_only_the_k_most_likely():
    assert set(draw(LOGITS, 1.0, top_k=2)) == {0, 1}
    assert set(draw(LOGITS, 1.0, top_k=1)) == {0}


def test_top_p_keeps_the_smallest_nucleus():
    # 0.5 + 0.2 = 0.7 < 0.75, so the third character is needed and the fourth is not.
    assert set(draw(LOGITS, 1.0, top_p=0.75)) == {0, 1, 2}
    assert set(draw(LOGITS, 1.0, top_p=0.01)) == {0}


def test_filter_with_both_off_changes_nothing():
    logits = tf.constant(LOGITS)
    out = filter_logits(logits, settings_tensors(SampleConfig())).numpy()
    np.testing.assert_array_equal(out, LOGITS)


def test_min_p_keeps_characters_at_least_that_fraction_as_likely_as_the_best():
    # Probabilities 0.5, 0.2, 0.15, 0.1, 0.05: min-p 0.3 keeps those >= 0.15.
    assert set(draw(LOGITS, 1.0, min_p=0.3)) == {0, 1, 2}
    assert set(draw(LOGITS, 1.0, min_p=0.9)) == {0}
    assert set(draw(LOGITS, 1.0, min_p=0.0)) == {0, 1, 2, 3, 4}
