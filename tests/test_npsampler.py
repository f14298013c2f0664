"""The NumPy sampler draws from what TFP's sampler defines: the same support, the same distribution.

The definition is `tfp.distributions.Categorical(logits=filtered / temperature)` with `filtered` from
`sampling.filter_logits`. For each setting: the support of `npsampler.filter_logits` equals TF's on
random logits, and 100,000 draws of `npsampler.next_id` pass a chi-square test against TFP's
probabilities (critical value at p = 1e-6). The same test refuses a sampler at a slightly wrong
temperature, so it can fail.
"""

import itertools
import math

import numpy as np
import pytest

from charbot.config import SampleConfig
from charbot.generate import npsampler

DRAWS = 100_000
# Every combination of the filters; all off is not filtered at all, by either sampler.
FILTERS = [dict(top_k=k, top_p=p, min_p=m) for k, p, m in itertools.product((0, 5), (1.0, 0.9), (0.0, 0.05))]


def _tf_filtered(scaled, settings):
    from charbot.generate.sampling import filter_logits, settings_tensors

    return filter_logits(scaled, settings_tensors(settings)).numpy()


def _tfp_probs(logits, settings):
    import tensorflow_probability as tfp

    scaled = (logits / np.float32(settings.temperature))[None]
    filtered = _tf_filtered(scaled, settings)
    return tfp.distributions.Categorical(logits=filtered).probs_parameter().numpy()[0].astype(np.float64)


def _chi_square_critical(dof: int, z: float = 4.753) -> float:
    """The chi-square quantile at p = 1e-6 (z of the normal), by Wilson and Hilferty's approximation."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def _chi_square(counts, probs) -> tuple[float, int]:
    expected = probs * counts.sum()
    big = expected >= 5  # small cells are pooled into one
    observed = np.append(counts[big], counts[~big].sum())
    wanted = np.append(expected[big], expected[~big].sum())
    keep = wanted > 0
    assert observed[~keep].sum() == 0, "drew a character outside the support"
    return float(((observed[keep] - wanted[keep]) ** 2 / wanted[keep]).sum()), int(keep.sum()) - 1


def _draws(logits, settings, seed=7) -> np.ndarray:
    """DRAWS ids, as `next_id` draws them one by one (checked on the first thousand), counted per id."""
    uniforms = np.random.default_rng(seed).random(DRAWS)
    ids = npsampler.draw(npsampler.cumulative(logits, settings), uniforms)
    rng = np.random.default_rng(seed)
    assert [npsampler.next_id(logits, settings, rng) for _ in range(1000)] == ids[:1000].tolist()
    return np.bincount(ids, minlength=len(logits))


@pytest.mark.parametrize("filters", FILTERS[1:], ids=lambda f: "k{top_k}-p{top_p}-m{min_p}".format(**f))
def test_the_support_is_tfs_on_random_logits(filters):
    rng = np.random.default_rng(3)
    settings = SampleConfig(temperature=1.0, **filters)
    scaled = (rng.normal(size=(300, 65)) * rng.uniform(0.5, 4, size=(300, 1))).astype(np.float32)
    ours = np.isfinite(npsampler.filter_logits(scaled, settings))
    theirs = np.isfinite(_tf_filtered(scaled, settings))
    assert (ours == theirs).all()


@pytest.mark.parametrize("temperature", [0.5, 1.3])
@pytest.mark.parametrize("filters", [FILTERS[0], dict(top_k=5, top_p=1.0, min_p=0.0), dict(top_k=0, top_p=0.9, min_p=0.0),
                                     dict(top_k=0, top_p=1.0, min_p=0.05), dict(top_k=20, top_p=0.95, min_p=0.01)],
                         ids=lambda f: "k{top_k}-p{top_p}-m{min_p}".format(**f))
def test_draws_follow_tfps_categorical(temperature, filters):
    logits = (np.random.default_rng(11).normal(size=65) * 2.5).astype(np.float32)
    settings = SampleConfig(temperature=temperature, **filters)
    statistic, dof = _chi_square(_draws(logits, settings), _tfp_probs(logits, settings))
    assert statistic < _chi_square_critical(dof), (statistic, dof)


def test_the_test_refuses_a_sampler_at_another_temperature():
    logits = (np.random.default_rng(11).normal(size=65) * 2.5).astype(np.float32)
    wrong = SampleConfig(temperature=1.1, top_k=0, top_p=1.0, min_p=0.0)
    statistic, dof = _chi_square(_draws(logits, wrong), _tfp_probs(logits, wrong.replace(temperature=1.0)))
    assert statistic > _chi_square_critical(dof)


def test_temperature_zero_is_greedy_and_a_seed_repeats():
    logits = np.random.default_rng(5).normal(size=40).astype(np.float32)
    greedy = SampleConfig(temperature=0.0)
    assert npsampler.next_id(logits, greedy, np.random.default_rng(1)) == int(logits.argmax())
    settings = SampleConfig(temperature=0.8, top_p=0.9)
    first = [npsampler.next_id(logits, settings, rng) for rng in [np.random.default_rng(9)] for _ in range(50)]
    again = [npsampler.next_id(logits, settings, rng) for rng in [np.random.default_rng(9)] for _ in range(50)]
    assert first == again


def test_the_probability_is_the_softmax_at_temperature_one():
    logits = np.random.default_rng(2).normal(size=30).astype(np.float32)
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert npsampler.probability(logits, 4) == pytest.approx(float(softmax[4]), rel=1e-5)
