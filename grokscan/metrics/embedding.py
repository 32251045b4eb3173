"""Embedding geometry: cosine-similarity matrix, its circulant share and bands, bimodality.

After Salah & Yevick (arXiv:2507.11645): the cosine-similarity matrix of the
embedding vectors (Eq. 2) is random at initialisation, shows co-diagonal bands when train
accuracy saturates and full structure after grokking; the histogram of embedding entries turns
from one Gaussian into two symmetric peaks (≈ ±0.4). For a+b, a learned Fourier embedding
makes C(a, b) a function of a - b alone: a circulant matrix. For a·b the same holds with the
residues in discrete-log order, which the functions here accept as ``order``.

Every function is batched over leading axes (a checkpoint axis, usually).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.metrics.registry import check_array, register


def cosine_matrix(E) -> np.ndarray:
    """C(A, B) = A·B / (‖A‖ ‖B‖) over the rows of E (arXiv:2507.11645 Eq. 2).

    E: (..., p, d), one embedding vector per row. A zero row has no direction: its row and
    column of C are 0, its diagonal entry included. Returns (..., p, p), clipped to [-1, 1].
    """
    E = check_array(E, min_ndim=2, name="E")
    norm = np.linalg.norm(E, axis=-1, keepdims=True)
    U = np.divide(E, norm, out=np.zeros_like(E), where=norm > 0)
    return np.clip(U @ np.swapaxes(U, -1, -2), -1.0, 1.0)


def _square(C, order, name: str = "C") -> np.ndarray:
    """Validate a (..., n, n) matrix, reorder it by ``order`` and return it as float64."""
    C = check_array(C, min_ndim=2, name=name)
    if C.shape[-1] != C.shape[-2]:
        raise GrokscanError(f"{name}: expected square matrices (..., n, n), got shape {C.shape}")
    if order is not None:
        idx = np.asarray(order)
        C = C[..., idx[:, None], idx[None, :]]
    if C.shape[-1] < 3:
        raise GrokscanError(f"{name}: need n >= 3 for off-diagonal bands, got shape {C.shape}")
    return C.astype(np.float64)


def _band_means(x: np.ndarray, labels: np.ndarray, n_labels: int) -> tuple[np.ndarray, ...]:
    """Sum, sum of squares and count of x (..., m) per label (m,) in 0..n_labels-1."""
    onehot = (labels[:, None] == np.arange(n_labels)).astype(np.float64)  # (m, n_labels)
    return x @ onehot, np.square(x) @ onehot, onehot.sum(axis=0)


@register("embedding/circulant_share", core_ndim=2, example_shape=(13, 13))
def circulant_share(C, *, order=None, include_diagonal: bool = False) -> np.ndarray:
    """Share of the variance of a square matrix explained by the best circulant.

    C: (..., n, n), usually :func:`cosine_matrix` of an embedding. The best circulant (least
    squares) has entry c((i - j) mod n) equal to the mean of C along that wrapped diagonal;
    the share is 1 - Σ (C - circ)² / Σ (C - mean C)², sums and means over the off-diagonal
    entries. The diagonal is left out by default: a cosine matrix's unit diagonal is circulant
    whatever the embedding, and would inflate the share. A circulant matrix gives 1; an
    unstructured n x n matrix about 1/n (about 2/n if symmetric). A constant matrix (no
    variance to explain) gives 1.

    ``order``: optional index array; C is read as C[order][:, order] first. For a·b or a/b on
    Z_P^* pass the residues in discrete-log order, ``order[i] = g**i mod P``.
    Returns (...).
    """
    C = _square(C, order)
    n = C.shape[-1]
    i, j = np.indices((n, n))
    keep = np.ones((n, n), bool) if include_diagonal else i != j
    x = C[..., keep]  # (..., m)
    x = x - x.mean(axis=-1, keepdims=True)
    d = ((i - j) % n)[keep]
    s1, _, count = _band_means(x, d, n)
    circ = np.divide(s1, count, out=np.zeros_like(s1), where=count > 0)[..., d]
    total = np.square(x).sum(axis=-1)
    resid = np.square(x - circ).sum(axis=-1)
    # A relative floor: a matrix constant up to rounding has nothing left to explain.
    scale = np.square(C).sum(axis=(-2, -1))
    has_var = total > 1e-20 * scale
    return np.where(has_var, 1.0 - resid / np.where(has_var, total, 1.0), 1.0)


@register("embedding/band_contrast", core_ndim=2, example_shape=(13, 13))
def band_contrast(C, *, order=None) -> np.ndarray:
    """How far the strongest wrapped band of C stands above the rest, in off-band std units.

    C: (..., n, n), usually :func:`cosine_matrix`. arXiv:2507.11645 reports co-diagonal bands
    in the cosine matrix as train accuracy saturates, without a measure; this is one. Bands are
    sets of off-diagonal entries:
    - diagonal pairs D_d = {(i, j): (i - j) mod n ∈ {d, n - d}}, d = 1..n//2 (a symmetric
      matrix has the same values on d and n - d, so they form one band);
    - anti-diagonals A_s = {(i, j): (i + j) mod n = s, i ≠ j}, s = 0..n-1.
    For each band B, contrast(B) = (mean_B - mean_off) / std_off, with mean_off and std_off
    (population std) over the off-diagonal entries outside B; the result is the largest
    contrast over all bands, so a band of high similarity scores high and a band of low
    similarity does not. The main diagonal is left out everywhere (see :func:`circulant_share`).
    Noise scores of order sqrt(log(n) / n); one band of value 1 on noise of std σ scores 1/σ.
    A constant matrix gives 0; a band above a constant background gives inf.

    ``order``: as in :func:`circulant_share`. Returns (...).
    """
    C = _square(C, order)
    n = C.shape[-1]
    i, j = np.indices((n, n))
    keep = i != j
    x = C[..., keep]
    # Standardise first: the sums of squares below then do not cancel catastrophically.
    x = x - x.mean(axis=-1, keepdims=True)
    sd = np.sqrt(np.square(x).mean(axis=-1, keepdims=True))
    flat = sd[..., 0] <= 1e-10 * np.abs(C).max(axis=(-2, -1))
    x = x / np.where(sd > 0, sd, 1.0)
    d = ((i - j) % n)[keep]
    s1, s2, count = [
        np.concatenate(parts, axis=-1)
        for parts in zip(
            _band_means(x, np.minimum(d, n - d) - 1, n // 2),
            _band_means(x, ((i + j) % n)[keep], n),
        )
    ]
    m_total = x.shape[-1]
    mean_b = s1 / count
    n_off = m_total - count
    mean_off = (x.sum(axis=-1, keepdims=True) - s1) / n_off
    var_off = np.maximum((np.square(x).sum(axis=-1, keepdims=True) - s2) / n_off - mean_off**2, 0)
    diff = mean_b - mean_off
    std_off = np.sqrt(var_off)
    # Off-band entries constant up to rounding: any band above them is infinitely contrasted.
    tiny = std_off <= 1e-10
    with np.errstate(divide="ignore", invalid="ignore"):
        contrast = np.where(tiny, np.where(diff > 1e-10, np.inf, 0.0), diff / std_off)
    return np.where(flat, 0.0, contrast.max(axis=-1))


def bimodality_coefficient(x) -> np.ndarray:
    """Sarle's bimodality coefficient of each row: BC = (g² + 1) / (κ + 3(n-1)²/((n-2)(n-3))).

    x: (..., n), n ≥ 4. g is the sample skewness and κ the excess kurtosis, both bias-corrected
    (SAS's G1 and G2; ``scipy.stats.skew/kurtosis(..., bias=False)``). BC > 5/9 (the value for
    a uniform distribution) suggests bimodality; a Gaussian gives about 1/3. A constant row
    has no shape: NaN. Returns (...).
    """
    x = check_array(x, min_ndim=1, name="x").astype(np.float64)
    n = x.shape[-1]
    if n < 4:
        raise GrokscanError(f"x: need at least 4 values for the kurtosis, got shape {x.shape}")
    dx = x - x.mean(axis=-1, keepdims=True)
    m2, m3, m4 = (np.mean(dx**k, axis=-1) for k in (2, 3, 4))
    with np.errstate(divide="ignore", invalid="ignore"):
        m2 = np.where(m2 > 0, m2, np.nan)
        g1, g2 = m3 / m2**1.5, m4 / m2**2 - 3.0
    skew = g1 * np.sqrt(n * (n - 1)) / (n - 2)
    kurt = ((n + 1) * g2 + 6) * (n - 1) / ((n - 2) * (n - 3))
    return (skew**2 + 1) / (kurt + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


@register("embedding/bimodality_coefficient", core_ndim=2, example_shape=(16, 8))
def embedding_bimodality(E) -> np.ndarray:
    """:func:`bimodality_coefficient` of all entries of an embedding matrix E: (..., p, d).

    The paper's histogram pools every entry of the embedding. Returns (...).
    """
    E = check_array(E, min_ndim=2, name="E")
    return bimodality_coefficient(E.reshape(*E.shape[:-2], -1))


class TwoModes(NamedTuple):
    means: np.ndarray  # (..., 2), ascending
    weights: np.ndarray  # (..., 2), mixing weights, summing to 1
    stds: np.ndarray  # (..., 2)


def two_mode_fit(x, *, max_iter: int = 500, tol: float = 1e-10) -> TwoModes:
    """Two-component 1-D Gaussian mixture fitted to each row of x by EM (maximum likelihood).

    x: (..., n). Deterministic start: the lower and upper halves of the sorted row give the
    initial means and stds, weights 1/2. Each variance is floored at 1e-6 of the row's variance
    (plus 1e-30), so that a component cannot collapse on one point. EM stops when no parameter
    moves by more than ``tol`` (relative to the row's std) or after ``max_iter`` steps.
    Components are returned sorted by mean. On embedding entries the means approach ±0.4 as
    the distribution turns bimodal (arXiv:2507.11645).
    """
    x = check_array(x, min_ndim=1, name="x").astype(np.float64)
    n = x.shape[-1]
    if n < 2:
        raise GrokscanError(f"x: need at least 2 values for two modes, got shape {x.shape}")
    xs = np.sort(x, axis=-1)
    halves = (xs[..., : n // 2], xs[..., n // 2 :])
    mu = np.stack([h.mean(axis=-1) for h in halves], axis=-1)  # (..., 2)
    var_floor = 1e-6 * x.var(axis=-1, keepdims=True) + 1e-30
    var = np.maximum(np.stack([h.var(axis=-1) for h in halves], axis=-1), var_floor)
    w = np.full_like(mu, 0.5)
    scale = np.sqrt(x.var(axis=-1, keepdims=True)) + 1e-300
    xe = x[..., :, None]  # (..., n, 1) against components (..., 1, 2)
    for _ in range(max_iter):
        logp = np.log(w[..., None, :]) - 0.5 * (
            np.log(2 * np.pi * var[..., None, :]) + (xe - mu[..., None, :]) ** 2 / var[..., None, :]
        )
        r = np.exp(logp - logp.max(axis=-1, keepdims=True))
        r /= r.sum(axis=-1, keepdims=True)  # responsibilities (..., n, 2)
        nk = r.sum(axis=-2) + 1e-300
        mu_new = (r * xe).sum(axis=-2) / nk
        var_new = np.maximum((r * (xe - mu_new[..., None, :]) ** 2).sum(axis=-2) / nk, var_floor)
        w_new = nk / n
        step = np.max(np.abs(mu_new - mu) / scale, initial=0.0)
        step = max(step, np.max(np.abs(np.sqrt(var_new) - np.sqrt(var)) / scale, initial=0.0))
        mu, var, w = mu_new, var_new, w_new
        if step <= tol:
            break
    perm = np.argsort(mu, axis=-1)
    return TwoModes(*(np.take_along_axis(a, perm, axis=-1) for a in (mu, w, np.sqrt(var))))
