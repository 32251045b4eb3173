"""Principal components of activations, per-sample gradients and last-layer weights.

Layer activations and per-sample gradients projected on their top principal
components (Hutchison & Yevick, arXiv:2510.25966, Figs. 14, 16-18), the number of components
that explain 90 % of the variance (their Fig. 15), and the last layer's rows as P points on
PC pairs (0, 1), (2, 3), (4, 5) (Salah & Yevick, arXiv:2411.05353 §3.3-3.4).

Every function is batched over leading axes (a checkpoint axis, usually).

Implementation: centre, then diagonalise the Gram matrix of the smaller side, ``Xc Xcᵀ``
(n_samples²) when features outnumber samples and the covariance ``Xcᵀ Xc`` (n_features²)
otherwise. Per-sample gradients have tens of thousands of features and a few hundred samples;
there this is ~30x faster than a thin SVD. Squaring the matrix costs precision only for
components whose variance is below ~1e-7 (float32) or ~1e-15 (float64) of the largest, which
no analysis here reads.

Sign convention: each component is flipped so that its loading of largest absolute value is
positive (the first such loading if several tie); this is scikit-learn's convention from
version 1.5 (``svd_flip(..., u_based_decision=False)``), so coordinates usually agree with
``sklearn.decomposition.PCA`` including the sign.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg

from grokscan.errors import GrokscanError
from grokscan.metrics.registry import check_array, register


class PCAResult(NamedTuple):
    coords: np.ndarray  # (..., n_samples, n_components): projections of the centred samples
    explained_variance_ratio: np.ndarray  # (..., n_components): share of the total variance
    components: np.ndarray  # (..., n_components, n_features): orthonormal directions


def _spectrum(Xc: np.ndarray, n_components: int, *, full: bool = True):
    """Variances (descending), the total variance, and the top unit directions.

    Xc: (..., n, f) centred. Returns (eigenvalues (..., min(n, f)), total (...,),
    V (..., f, n_components)). With ``full=False`` only the top ``n_components`` eigenvalues
    may be returned (a partial eigendecomposition, ~3x faster for 10 of 512 components).
    """
    n, f = Xc.shape[-2:]
    XcT = np.swapaxes(Xc, -1, -2)
    gram = f > n  # Gram of the samples: Xc Xcᵀ = U S² Uᵀ and the directions are Xcᵀ U / S
    M = (Xc @ XcT if gram else XcT @ Xc).astype(np.float64)
    m = M.shape[-1]
    if not full and M.ndim == 2 and 0 < n_components <= m // 4:
        lam, W = scipy.linalg.eigh(M, subset_by_index=[m - n_components, m - 1])
    else:
        lam, W = np.linalg.eigh(M)
    total = np.trace(M, axis1=-2, axis2=-1)
    lam, W = lam[..., ::-1], W[..., ::-1][..., :n_components]
    if gram:
        V = XcT @ W.astype(Xc.dtype)
        # Normalise explicitly rather than dividing by S, which is inaccurate near zero.
        norm = np.linalg.norm(V, axis=-2, keepdims=True)
        V = np.divide(V, norm, out=np.zeros_like(V), where=norm > 0)
    else:
        V = W.astype(Xc.dtype)
    return np.clip(lam, 0.0, None), total, V


def _ratios(lam: np.ndarray, total: np.ndarray | None = None) -> np.ndarray:
    total = lam.sum(axis=-1, keepdims=True) if total is None else total[..., None]
    # A sample set with no variance at all has no direction that explains anything: ratios 0.
    return np.divide(lam, total, out=np.zeros_like(lam), where=total > 0)


def pca(X, n_components: int) -> PCAResult:
    """Principal component analysis of ``X`` of shape (..., n_samples, n_features).

    Centres each batch element over its samples, then projects on the ``n_components``
    directions of largest variance (see the module docstring for the method and the sign
    convention). ``explained_variance_ratio`` is each component's variance over the total
    variance, as in scikit-learn. Components of zero variance are zero vectors.

    Returns PCAResult(coords (..., n_samples, n_components), explained_variance_ratio
    (..., n_components), components (..., n_components, n_features)).
    """
    X = check_array(X, min_ndim=2, name="X")
    n, f = X.shape[-2:]
    if not 1 <= n_components <= min(n, f):
        raise GrokscanError(
            f"n_components: expected 1..{min(n, f)} for X of shape {X.shape}, got {n_components}"
        )
    Xc = X - X.mean(axis=-2, keepdims=True)
    lam, total, V = _spectrum(Xc, n_components, full=False)
    # Flip each direction so that its largest |loading| is positive.
    big = np.take_along_axis(V, np.abs(V).argmax(axis=-2)[..., None, :], axis=-2)
    V = V * np.where(big < 0, -1, 1).astype(V.dtype)
    ratio = _ratios(lam[..., :n_components], total)
    return PCAResult(Xc @ V, ratio, np.swapaxes(V, -1, -2))


def explained_variance_ratio(X) -> np.ndarray:
    """The whole variance spectrum of X (..., n_samples, n_features), as shares of the total.

    Returns (..., min(n_samples, n_features)), descending, summing to 1 (or all 0 when X has
    no variance).
    """
    X = check_array(X, min_ndim=2, name="X")
    lam, _, _ = _spectrum(X - X.mean(axis=-2, keepdims=True), 0)
    return _ratios(lam)


def n_components_for(explained_variance_ratio, *, threshold: float = 0.9) -> np.ndarray:
    """The number of leading components whose variance shares add up to at least ``threshold``.

    ``explained_variance_ratio``: (..., n), the whole spectrum (e.g. from
    :func:`explained_variance_ratio`), descending. Hutchison & Yevick (arXiv:2510.25966,
    Fig. 15) plot this count at 90 % for per-sample gradients. An all-zero spectrum (no
    variance) gives 0; if the shares never reach ``threshold`` (a truncated spectrum), n.

    Returns an int array of shape (...).
    """
    r = check_array(explained_variance_ratio, min_ndim=1, name="explained_variance_ratio")
    if not 0 < threshold <= 1:
        raise GrokscanError(f"threshold: expected a value in (0, 1], got {threshold}")
    cum = np.cumsum(r.astype(np.float64), axis=-1)
    # The tolerance keeps a spectrum that sums to 1 up to rounding from missing threshold = 1.
    count = np.minimum((cum < threshold - 1e-9).sum(axis=-1) + 1, r.shape[-1])
    return np.where(cum[..., -1] > 0, count, 0)


@register("pca/dim90", core_ndim=2, example_shape=(20, 8))
def pca_dimension(X, *, threshold: float = 0.9) -> np.ndarray:
    """How many principal components explain ``threshold`` of the variance of X.

    X: (..., n_samples, n_features), e.g. per-sample gradients flattened, one row a sample
    (Hutchison & Yevick, arXiv:2510.25966, Fig. 15). Returns a float array of shape (...).
    """
    return n_components_for(explained_variance_ratio(X), threshold=threshold).astype(np.float64)


def gram_pca(K, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA of samples known only through their Gram matrix K = X Xᵀ (n_samples, n_samples).

    For per-sample gradients with ~10⁵ features one Gram matrix serves every question: the
    coordinates of all samples, and (from its sub-blocks) the variance spectrum of any subset,
    e.g. the train and the test samples. K is centred (K - row means - column means + mean,
    which is the Gram matrix of the centred samples) and diagonalised; the coordinates are
    U·sqrt(λ), those of :func:`pca` up to the sign of each component (here each component is
    flipped so that its coordinate of largest magnitude is positive).

    Returns (coords (n_samples, n_components), explained_variance_ratio of the whole spectrum
    (n_samples,), descending).
    """
    K = check_array(K, min_ndim=2, name="K").astype(np.float64)
    n = K.shape[-1]
    if K.ndim != 2 or K.shape[0] != n:
        raise GrokscanError(f"K: expected a square Gram matrix, got shape {K.shape}")
    if not 1 <= n_components <= n:
        raise GrokscanError(f"n_components: expected 1..{n}, got {n_components}")
    Kc = K - K.mean(0) - K.mean(1)[:, None] + K.mean()
    lam, U = np.linalg.eigh((Kc + Kc.T) / 2)
    lam, U = np.clip(lam[::-1], 0.0, None), U[:, ::-1][:, :n_components]
    coords = U * np.sqrt(lam[:n_components])
    big = coords[np.abs(coords).argmax(0), np.arange(n_components)]
    return coords * np.where(big < 0, -1, 1), _ratios(lam)


class LastLayerPCA(NamedTuple):
    coords: np.ndarray  # (..., p, n_components): one point per output class q
    explained_variance_ratio: np.ndarray  # (..., n_components)
    planes: np.ndarray  # (..., n_components // 2, p, 2): PC pairs (0, 1), (2, 3), (4, 5), ...


def last_layer_pca(W, n_components: int = 6) -> LastLayerPCA:
    """The last layer's rows as p points, on the PC pairs "even against odd".

    W: (..., p, h), row q the weights into output class q (``nn.Linear.weight`` of the last
    layer). Salah & Yevick (arXiv:2411.05353 §3.3-3.4) plot PC0 vs PC1, PC2 vs PC3, PC4 vs
    PC5: a learned frequency k coprime to p draws a circle of p points; gcd(k, p) = d > 1
    draws p/d clusters of d points. ``planes[..., j]`` holds the coordinates on PCs (2j, 2j+1);
    an odd last component has no partner and appears only in ``coords``.
    """
    coords, ratio, _ = pca(W, n_components)
    n_planes = n_components // 2
    planes = coords[..., : 2 * n_planes].reshape(*coords.shape[:-1], n_planes, 2)
    return LastLayerPCA(coords, ratio, np.moveaxis(planes, -2, -3))


def frequency_plane(W, k: int, *, order=None) -> np.ndarray:
    """Projection of the rows of W on the hidden-space plane that carries frequency k.

    W: (..., p, h), one row per class q. With θ_q = 2πkq/p, the two directions in R^h that
    best carry frequency k are C_k = Σ_q cos(θ_q) W[q] and S_k = Σ_q sin(θ_q) W[q] (the
    Fourier coefficients of the rows); they are orthonormalised (Gram-Schmidt, C_k first) and
    the centred rows projected on them. For rows W[q] = r·(cos θ_q, sin θ_q, 0, ...) the
    result is exactly r·(cos θ_q, sin θ_q); in general the points lie near a circle at angles
    θ_q up to a global rotation and reflection. Salah & Yevick (arXiv:2411.05353 §3.4) note
    that near-degenerate eigenvalues can mix frequencies within a PC pair; this plane does not.

    ``order``: optional index array of length n; rows are taken as W[order] and q runs over
    positions 0..n-1 with θ_q = 2πkq/n. For a multiplicative task pass the discrete-log order
    ``order[i] = g**i mod P`` (i = 0..P-2), so that frequency k lives on Z_P^*.

    A direction that vanishes (e.g. S_k when 2k ≡ 0 mod n, where sin θ_q = 0) gives a zero
    coordinate. Returns (..., n, 2).
    """
    W = check_array(W, min_ndim=2, name="W")
    if order is not None:
        W = W[..., np.asarray(order), :]
    n = W.shape[-2]
    if k % n == 0:
        raise GrokscanError(f"k: frequency {k} is constant over {n} rows; expected k mod {n} != 0")
    theta = 2 * np.pi * k * np.arange(n) / n
    Wc = W - W.mean(axis=-2, keepdims=True)
    C = np.cos(theta).astype(W.dtype) @ Wc  # (..., h)
    S = np.sin(theta).astype(W.dtype) @ Wc
    # A direction at the rounding level of the data is noise, not a frequency: it is dropped.
    tol = 1e3 * np.finfo(W.dtype).eps * n * np.abs(Wc).max(axis=(-2, -1))[..., None]
    u1 = _unit(C, tol)
    u2 = _unit(S - (S * u1).sum(axis=-1, keepdims=True) * u1, tol)
    return np.stack([(Wc * u1[..., None, :]).sum(-1), (Wc * u2[..., None, :]).sum(-1)], axis=-1)


def _unit(v: np.ndarray, tol: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > tol)
