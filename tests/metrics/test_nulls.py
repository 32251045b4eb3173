"""The nulls of the measures the report presents as findings (grokscan/metrics/nulls.py)."""

import numpy as np
import pytest

from grokscan.errors import GrokscanError
from grokscan.metrics import embedding as em
from grokscan.metrics import nulls

N, PASSES = 1024, 100
ACC = np.linspace(0.02, 0.98, 22)  # a test accuracy that climbs through 0.5


def _dropout(p_per_pass: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """(variance, mean) of accuracy as the dropout family computes them: each pass counts the
    hits of N examples, each right with that pass's probability."""
    hits = rng.binomial(N, p_per_pass)
    return hits.var(axis=-1) / N**2, hits.mean(axis=-1) / N


def test_counting_noise_declares_no_excess():
    # Bernoulli passes: the variance equals p(1 - p)/n in expectation, at every checkpoint
    rng = np.random.default_rng(1)
    declared = 0
    for _ in range(20):
        var, mean = _dropout(np.repeat(ACC[:, None], PASSES, 1), rng)
        t = nulls.binomial_test(var, mean, N, PASSES)
        declared += t.excess_at_peak or len(t.excess_rows) > 0
        assert 0.6 < t.ratio_range[0] <= t.ratio_range[1] < 1.5
    assert declared <= 2  # a 5 % test, corrected over the 22 checkpoints


def test_a_constructed_excess_is_declared_at_its_peak():
    rng = np.random.default_rng(2)
    p = np.repeat(ACC[:, None], PASSES, 1)
    # at checkpoint 11 each pass's probability itself varies (sd 0.03): the variance of the
    # accuracy is ~ 0.03² + p(1 - p)/n, about four times the binomial at p = 0.5
    p[11] = np.clip(ACC[11] + 0.03 * rng.standard_normal(PASSES), 0, 1)
    var, mean = _dropout(p, rng)
    t = nulls.binomial_test(var, mean, N, PASSES)
    assert t.peak == 11 and t.excess_at_peak and t.low > 1 and t.ratio > 3
    assert t.excess_rows.tolist() == [11]


def test_the_ratio_interval_follows_chi_square():
    ratio, lo, hi = nulls.variance_ratio(0.25 / N, 0.5, N, PASSES)
    assert ratio == pytest.approx(1.0)
    assert lo < 1 < hi and hi / lo == pytest.approx(1.74, rel=0.05)  # χ²₉₉ at 2.5 and 97.5 %
    r, lo, hi = nulls.variance_ratio(np.array([0.0, np.nan]), np.array([1.0, 0.5]), N, PASSES)
    assert np.isnan(r).all() and np.isnan(lo).all()  # accuracy 1: no binomial to compare with
    with pytest.raises(GrokscanError, match="passes"):
        nulls.variance_ratio(0.1, 0.5, N, 1)


def test_the_gaussian_bimodality_null():
    mean, lo, hi = nulls.gaussian_bimodality(3000)
    assert mean == pytest.approx(1 / 3, abs=0.01) and lo < mean < hi < 0.36
    rng = np.random.default_rng(0)
    gauss = em.bimodality_coefficient(rng.normal(0, 0.3, 3000))
    two = em.bimodality_coefficient(np.concatenate([rng.normal(-0.4, 0.1, 1500),
                                                    rng.normal(0.4, 0.1, 1500)]))
    assert lo - 0.02 < gauss < hi + 0.02 and two > hi


def test_shuffled_residues_lose_a_circulant():
    n = 23
    i, j = np.indices((n, n))
    C = np.cos(2 * np.pi * 3 * (i - j) / n)
    null = nulls.shuffled(em.circulant_share, C)
    assert null.shape == (nulls.SHUFFLES,)
    assert em.circulant_share(C) == pytest.approx(1.0) and null.mean() < 0.3
    # the same permutations every call: the null is a function of the matrix
    np.testing.assert_array_equal(null, nulls.shuffled(em.circulant_share, C))
