"""The nulls of the measures the report presents as findings (grokscan/metrics/nulls.py)."""

import numpy as np
import pytest

from grokscan.errors import GrokscanError
from grokscan.metrics import embedding as em
from grokscan.metrics import nulls

N, PASSES = 1024, 100
ACC = np.linspace(0.02, 0.98, 22)  # a test accuracy that climbs through 0.5


def _dropout(q: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """(variance, mean) of accuracy over PASSES passes as the dropout family computes them:
    q (checkpoints, N) is each example's chance of being right; each pass draws every
    example's hit independently, as each example's own dropout mask does."""
    hits = (rng.random((len(q), PASSES, N)) < q[:, None, :]).sum(-1)
    return hits.var(axis=-1) / N**2, hits.mean(axis=-1) / N


def test_examples_alike_reach_the_ceiling_and_none_pass_it():
    # every example right with the same chance: the variance is binomial in expectation
    rng = np.random.default_rng(1)
    flagged = 0
    for _ in range(10):
        var, mean = _dropout(np.repeat(ACC[:, None], N, 1), rng)
        t = nulls.binomial_test(var, mean, N, PASSES)
        flagged += len(t.below_rows) + len(t.above_rows)
        assert 0.5 < t.ratio_range[0] <= t.ratio_range[1] < 1.7  # χ² with 99 df, 22 rows
    assert flagged <= 2  # a 5 % test, corrected over the 22 checkpoints


def test_examples_that_differ_stay_below_the_ceiling_by_their_spread():
    rng = np.random.default_rng(2)
    q = np.repeat(ACC[:, None], N, 1)
    # at checkpoint 11 (p ≈ 0.5) half the examples are right with chance p + 0.3, half with
    # p − 0.3: Var(q) = 0.09, so the ratio is 1 − 0.09/(p(1 − p)) ≈ 0.64
    q[11, : N // 2] += 0.3
    q[11, N // 2:] -= 0.3
    var, mean = _dropout(q, rng)
    t = nulls.binomial_test(var, mean, N, PASSES)
    ratio, _, _ = nulls.variance_ratio(var, mean, N, PASSES)
    p = mean[11]
    assert ratio[11] == pytest.approx(1 - 0.09 / (p * (1 - p)), abs=0.2)
    assert 11 in t.below_rows and len(t.above_rows) == 0
    assert ratio[11] < 1 and np.nanmax(ratio) < 1.5


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
