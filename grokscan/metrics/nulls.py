"""Nulls: what a measure presented as a finding gives when there is nothing to find.

- the variance of test accuracy under dropout against the binomial p(1 − p)/n of a mean of n
  examples each right with probability p. Each example draws its own dropout mask, so the hits
  of a pass are independent with chances q_i of mean p, and their variance Σ q_i(1 − q_i)/n²
  equals p(1 − p)/n − Var(q)/n: the binomial is a ceiling, reached when every example is
  equally likely to be right, and the ratio to it is 1 − Var(q)/(p(1 − p)). arXiv:2507.11645
  reads the variance's peak as the onset of generalisation; a ceiling that is largest where
  accuracy is near 0.5 peaks there whatever the network does;
- Sarle's bimodality coefficient of n entries against n draws of one Gaussian (the
  coefficient does not depend on the scale: the Gaussian's variance is immaterial);
- a structure score of a residue-by-residue matrix (the circulant share, the band contrast of
  the cosine matrix) against the same matrix with its residues shuffled, which keeps every
  entry and destroys any order among the residues.

Numbers in, numbers out: no files, no torch, no drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from grokscan.errors import GrokscanError
from grokscan.metrics.embedding import bimodality_coefficient

GAUSS_DRAWS = 200  # Gaussian samples behind the bimodality null (its 2.5-97.5 % range)
SHUFFLES = 20  # residue permutations behind the structure null
SEED = 0  # every null is seeded: the same file gives the same null


def binomial_variance(mean, n: int) -> np.ndarray:
    """p(1 − p)/n, the variance of the accuracy of n independent examples each right with
    probability p = ``mean``: the most that dropout's variance can be in expectation (when the
    examples' chances q_i are all equal)."""
    p = np.asarray(mean, dtype=np.float64)
    if n < 1:
        raise GrokscanError(f"n: expected at least 1 example, got {n}")
    return p * (1.0 - p) / n


def variance_ratio(variance, mean, n: int, passes: int, *, level: float = 0.95):
    """(ratio, low, high): the measured variance over the binomial one, and the interval of the
    true ratio at ``level`` given that the variance is a sample variance over ``passes`` passes
    (divided by ``passes``, as numpy's default): passes·s²/σ² follows χ² with passes − 1
    degrees of freedom. Where the binomial variance is 0 (accuracy 0 or 1) all three are NaN.
    Arrays of the shape of ``variance``."""
    if passes < 2:
        raise GrokscanError(f"passes: need at least 2 for a variance, got {passes}")
    var = np.asarray(variance, dtype=np.float64)
    b = binomial_variance(mean, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(b > 0, var / np.where(b > 0, b, 1.0), np.nan)
    ratio = np.where(np.isfinite(var), ratio, np.nan)
    lo_q, hi_q = stats.chi2.ppf([(1 + level) / 2, (1 - level) / 2], passes - 1)
    return ratio, ratio * passes / lo_q, ratio * passes / hi_q


@dataclass(frozen=True)
class BinomialTest:
    """Dropout's variance against the binomial ceiling (:func:`binomial_test`)."""

    peak: int | None  # row of the largest variance (None: no finite one)
    ratio: float  # variance / binomial at the peak
    low: float  # its interval at the corrected level
    high: float
    level: float  # the interval's level, Bonferroni-corrected over the rows computed
    half: int | None  # row whose mean accuracy is nearest 0.5, where the ceiling is highest
    below_rows: np.ndarray  # rows whose interval lies below 1: the examples' chances differ
    above_rows: np.ndarray  # rows whose interval lies above 1: above the ceiling, by chance
    ratio_range: tuple[float, float]  # smallest and largest finite ratio


def binomial_test(variance, mean, n: int, passes: int, *, alpha: float = 0.05) -> BinomialTest:
    """Dropout's variance against the binomial p(1 − p)/n, its ceiling for independent masks.

    variance, mean: (n_checkpoints,), NaN where not computed. Each computed row's ratio to the
    binomial gets an interval at level 1 − alpha/m (Bonferroni over the m rows computed: the
    peak is picked after looking at every row). An interval below 1 says that the examples
    differ in their chance of being right under dropout (the ratio is 1 − Var(q)/(p(1 − p)));
    one above 1 is a variance the independent masks allow only by chance, at most alpha of the
    time over all rows.
    """
    var = np.asarray(variance, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    computed = np.isfinite(var) & np.isfinite(mean)
    m = max(int(computed.sum()), 1)
    level = 1 - alpha / m
    ratio, lo, hi = variance_ratio(var, mean, n, passes, level=level)
    ok = np.isfinite(ratio)
    peak = int(np.nanargmax(np.where(computed, var, np.nan))) if computed.any() else None
    half = int(np.nanargmin(np.where(computed, np.abs(mean - 0.5), np.nan))) \
        if computed.any() else None
    pick = (lambda a: float(a[peak])) if peak is not None else (lambda a: float("nan"))
    rng = (float(np.min(ratio[ok])), float(np.max(ratio[ok]))) if ok.any() else (
        float("nan"), float("nan"))
    return BinomialTest(peak, pick(ratio), pick(lo), pick(hi), level, half,
                        np.flatnonzero(ok & (hi < 1)), np.flatnonzero(ok & (lo > 1)), rng)


@lru_cache(maxsize=16)
def _gaussian_coefficients(n: int, draws: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for i in range(0, draws, 20):  # 20 rows at a time: memory stays small for large n
        out[i: i + 20] = bimodality_coefficient(rng.standard_normal((min(20, draws - i), n)))
    return out


def gaussian_bimodality(n: int, *, draws: int = GAUSS_DRAWS, seed: int = SEED):
    """(mean, low, high): Sarle's bimodality coefficient of n entries drawn from one Gaussian,
    its mean and 2.5-97.5 % range over ``draws`` seeded samples. The coefficient does not
    depend on the scale, so this is the null for entries of any variance."""
    if n < 4:
        raise GrokscanError(f"n: need at least 4 entries for the kurtosis, got {n}")
    bc = _gaussian_coefficients(int(n), int(draws), int(seed))
    lo, hi = np.quantile(bc, [0.025, 0.975])
    return float(bc.mean()), float(lo), float(hi)


def shuffled(fn, C, *, shuffles: int = SHUFFLES, seed: int = SEED) -> np.ndarray:
    """``fn(C, order=perm)`` for ``shuffles`` seeded permutations of the residues of C
    (..., n, n): the structure score of the same matrix with its residues in random order (the
    same permutations for every matrix and every call). Returns (..., shuffles)."""
    C = np.asarray(C)
    n = C.shape[-1]
    rng = np.random.default_rng(seed)
    return np.stack([fn(C, order=rng.permutation(n)) for _ in range(shuffles)], axis=-1)
