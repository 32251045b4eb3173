"""Weight statistics: entropy, periodic autocorrelation, norm, sparsity; dead units; softmax gap.

Weight entropy and autocorrelation (Salah & Yevick, arXiv:2411.05353 §3.6 and Eq. 7); inactive
neurons (arXiv:2507.11645); weight norm and small-weight fraction, and the softmax gap
(Hutchison & Yevick, arXiv:2510.25966). Every function is batched over leading
axes (a checkpoint axis, usually); a layer is the trailing ``core_ndim`` axes (2 for a weight
matrix; pass ``core_ndim=1`` for a bias vector).
"""

from __future__ import annotations

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.metrics.registry import check_array, register


def _layer(W, core_ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate W and return it with the trailing core axes flattened: (..., n_weights)."""
    W = check_array(W, min_ndim=core_ndim, name="W")
    return W, W.reshape(*W.shape[: W.ndim - core_ndim], -1)


@register("entropy/weight_entropy", core_ndim=2, example_shape=(16, 8))
def weight_entropy(W, *, normalise: str = "abs", core_ndim: int = 2) -> np.ndarray:
    """Shannon entropy (nats) of a layer's weights read as a distribution.

    W: (..., *layer) with ``core_ndim`` layer axes. arXiv:2411.05353 §3.6 writes
    S = -Σ w_i log w_i without saying how negative weights enter; here p_i = |w_i| / Σ|w|
    (``normalise="abs"``) or p_i = w_i² / Σ w² (``"square"``), and S = -Σ p_i log p_i with
    0 log 0 = 0. Uniform magnitudes give log(n); a single non-zero weight gives 0; an all-zero
    layer (no distribution) is given 0. Returns (...).
    """
    _, w = _layer(W, core_ndim)
    if normalise == "abs":
        mass = np.abs(w).astype(np.float64)
    elif normalise == "square":
        mass = np.square(w.astype(np.float64))
    else:
        raise GrokscanError(f"normalise: expected 'abs' or 'square', got {normalise!r}")
    total = mass.sum(axis=-1, keepdims=True)
    p = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -plogp.sum(axis=-1)


def weight_autocorrelation(x) -> np.ndarray:
    """Periodic autocorrelation of each row, normalised to 1 at lag 0 (arXiv:2411.05353 Eq. 7).

    x: (..., n), e.g. W of shape (n_nodes, n_in) with one row per node (for the weights out of
    a hidden unit into the p output classes, pass the last layer's ``W.T``).
    Corr(k) = Σ_l x(l) x(l-k) / Σ_l x(l)², indices mod n, computed by FFT (Wiener-Khinchin:
    the inverse transform of |x̂|²). A zero row has Corr = 0 at every lag. For
    x(l) = cos(2πk'l/n) with 2k' ≢ 0 mod n, Corr(k) = cos(2πk'k/n). Returns (..., n).
    """
    x = check_array(x, min_ndim=1, name="x")
    n = x.shape[-1]
    corr = np.fft.irfft(np.abs(np.fft.rfft(x.astype(np.float64), axis=-1)) ** 2, n=n, axis=-1)
    c0 = corr[..., :1]
    return np.divide(corr, c0, out=np.zeros_like(corr), where=c0 > 0)


@register("entropy/autocorr", core_ndim=2, example_shape=(8, 32))
def autocorrelation_peak(W) -> np.ndarray:
    """Mean over rows of the largest |Corr(k)|, k ≠ 0, of :func:`weight_autocorrelation`.

    W: (..., n_nodes, n). The paper gives no scalar summary (its "local entropy correlations"
    are not defined further); this one is near 1 when rows repeat with a period (or vary
    slowly, which lag 1 also catches) and of order sqrt(2 log(n) / n) for white noise.
    Returns (...).
    """
    W = check_array(W, min_ndim=2, name="W")
    if W.shape[-1] < 2:
        raise GrokscanError(f"W: need at least 2 weights per row for a lag, got shape {W.shape}")
    corr = weight_autocorrelation(W)
    return np.abs(corr[..., 1:]).max(axis=-1).mean(axis=-1)


@register("weights/norm", core_ndim=2, example_shape=(16, 8))
def weight_norm(W, *, core_ndim: int = 2) -> np.ndarray:
    """The Frobenius (L2) norm of a layer, ‖θ‖₂ = sqrt(Σ w²). W: (..., *layer). Returns (...).

    Σ w² is accumulated in W's own precision (for float32 checkpoints ~1e-6 relative, at a
    third of the cost of a float64 pass, which made this the slowest weight-only measure)."""
    _, w = _layer(W, core_ndim)
    return np.sqrt(np.einsum("...i,...i->...", w, w).astype(np.float64))


@register("sparsity/small_weights", core_ndim=2, example_shape=(16, 8))
def small_weight_fraction(W, *, tol: float = 0.01, core_ndim: int = 2) -> np.ndarray:
    """Fraction of a layer's weights with |w| < tol (Hutchison & Yevick, arXiv:2510.25966).

    W: (..., *layer). Returns (...).
    """
    _, w = _layer(W, core_ndim)
    return (np.abs(w) < tol).mean(axis=-1)


@register("sparsity/inactive", core_ndim=2, example_shape=(32, 16))
def inactive_fraction(acts, *, min_fraction: float = 1.0) -> np.ndarray:
    """Fraction of hidden units that are off (activation ≤ 0) on at least ``min_fraction`` of
    the samples (arXiv:2507.11645, "inactive neurons").

    acts: (..., n_samples, n_units), post-ReLU activations (an off unit is exactly 0) or
    pre-activations (off means ≤ 0). ``min_fraction=1.0`` (the default) counts units that are
    zero for every input; a smaller value is the paper's "for a given fraction of inputs".
    Returns (...).
    """
    acts = check_array(acts, min_ndim=2, name="acts")
    if not 0 < min_fraction <= 1:
        raise GrokscanError(f"min_fraction: expected a value in (0, 1], got {min_fraction}")
    off = (acts <= 0).mean(axis=-2)  # (..., n_units): share of samples on which a unit is off
    # The tolerance keeps k/n from missing a threshold it equals because of rounding.
    return (off >= min_fraction - 1e-12).mean(axis=-1)


@register("output/softmax_gap", core_ndim=2, example_shape=(32, 4))
def softmax_gap(logits, *, beta: float = 1.0) -> np.ndarray:
    """Mean over samples of P_max - P_second, with P = softmax(β z) (arXiv:2510.25966).

    logits: (..., n_samples, n_classes), n_classes ≥ 2; β is the inverse temperature
    (Hutchison & Yevick's default 1). The mean gap dips during grokking. Returns (...).
    """
    z = check_array(logits, min_ndim=2, name="logits")
    if z.shape[-1] < 2:
        raise GrokscanError(f"logits: need at least 2 classes, got shape {z.shape}")
    z = beta * z.astype(np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # shifted for overflow safety
    P = e / e.sum(axis=-1, keepdims=True)
    top2 = np.sort(P, axis=-1)[..., -2:]
    return (top2[..., 1] - top2[..., 0]).mean(axis=-1)
