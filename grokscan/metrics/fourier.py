"""Fourier progress measures: bases over the additive group Z_P and the
multiplicative group Z_P^* (also of the shifted residues t + s), norms of weights and
activations in them, and the measures built on those norms (Nanda et al. 2023,
arXiv:2301.05217; Furuta et al., arXiv:2402.16726).

Basis order. A basis over a cyclic group of order n has n orthonormal rows: the constant, then
cos_1, sin_1, cos_2, sin_2, ... up to k = K = ⌊n/2⌋. For even n, sin(2π(n/2)t/n) = sin(πt) is
identically zero, so the Nyquist frequency n/2 has only its cos row and the basis still has n
rows. A "norms vector in basis order" has one entry per row, shape (..., n); μ_k and ν_k are its
cos and sin entries (:func:`split_mu_nu`).

Conventions shared by the scalar measures (:func:`ffd`, :func:`fcr`, :func:`gini`,
:func:`spectral_entropy`, :func:`key_frequencies` and relatives):

- the constant row is dropped: it carries the mean, not the structure;
- absolute values are taken, so any real vector is accepted (true norms are non-negative);
- a spectrum whose non-constant part is all zero has nothing to measure: every measure returns
  0 on it and no key frequency is chosen.
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.groups import discrete_log_table, is_prime
from grokscan.metrics.registry import check_array, register

# ---------------------------------------------------------------------------------------------
# bases


def _modulus(p, name: str = "p") -> int:
    try:
        p = operator.index(p)
    except TypeError:
        raise GrokscanError(f"{name}: expected an integer, got {p!r}") from None
    if p < 2:
        raise GrokscanError(f"{name}: expected an integer >= 2, got {p}")
    return p


def _cyclic_basis(n: int) -> np.ndarray:
    """Orthonormal real DFT over Z_n, ndarray of shape (n, n), rows in basis order."""
    t = np.arange(n)
    k = np.arange(1, n // 2 + 1)
    # reduce k·t mod n first so that large products lose no precision in the angle
    angle = 2 * np.pi * (np.outer(k, t) % n) / n  # (K, n)
    B = np.empty((n, n))
    B[0] = 1.0
    B[1::2] = np.cos(angle)  # cos_1 .. cos_K
    B[2::2] = np.sin(angle[: (n - 1) // 2])  # sin_1 .. sin_{⌈n/2⌉-1}: no Nyquist sin
    return B / np.linalg.norm(B, axis=1, keepdims=True)


def additive_basis(p: int) -> np.ndarray:
    """The Fourier basis over Z_p (Nanda; Furuta App. B), ndarray of shape (p, p).

    Row r is a function of the residue t = 0..p-1 (the column); rows are orthonormal, in basis
    order (module docstring): 1/√p, then normalised cos(2πkt/p), sin(2πkt/p) for k = 1..⌊p/2⌋.
    For even p the last row is the Nyquist cos (-1)^t/√p and there is no Nyquist sin.
    """
    return _cyclic_basis(_modulus(p))


def multiplicative_basis(p: int, *, shift: int = 0) -> np.ndarray:
    """The Fourier basis over Z_p^*, cyclic of order p-1, shape (p-1, p).

    Residue t = g^i (g the smallest primitive root) gets column t of row r equal to the additive
    basis of Z_{p-1} at i: rows are the constant and cos/sin(2πk·log_g(t)/(p-1)) in basis order.
    Column 0 (residue 0, which has no logarithm) is all zeros, so the rows are orthonormal on
    the non-zero residues and residue 0 does not enter any norm. p must be prime.

    Parameters
    ----------
    p : int
        The modulus, a prime.
    shift : int, optional
        s: the basis over the shifted residues t ↦ t + s (mod p), for vectors that are a
        function of a product of shifted operands (x·y + x + y = (x+1)(y+1) − 1 is
        multiplicative in t + 1). Residue t gets the column of t + s of the unshifted basis
        (``np.roll(B, -s, axis=1)``): rows cos/sin(2πk·log_g(t+s)/(p-1)), and residue −s mod p,
        which maps to 0, is the one left out of every norm. Default 0, the basis above.

    Returns
    -------
    ndarray of shape (p-1, p)
    """
    p = _modulus(p)
    if not is_prime(p):
        raise GrokscanError(f"the multiplicative basis needs a prime modulus, got P = {p}")
    try:
        shift = operator.index(shift)
    except TypeError:
        raise GrokscanError(f"shift: expected an integer, got {shift!r}") from None
    _, log = discrete_log_table(p)
    B = np.zeros((p - 1, p))
    B[:, 1:] = _cyclic_basis(p - 1)[:, log[1:]]
    return np.roll(B, -(shift % p), axis=1) if shift % p else B


def shifted_multiplicative_norms(W, p: int) -> np.ndarray:
    """The Fourier norms of per-residue vectors in the multiplicative basis at every shift.

    Entry [..., s, :] is ``fourier_norms(W, multiplicative_basis(p, shift=s))`` for
    s = 0..p-1, computed at once rather than in p products: a squared norm is the quadratic
    form Σ_{t,u} B[r, t+s] B[r, u+s] G[t, u] of the Gram matrix G = W Wᵀ, which along each
    diagonal u − t = δ is a circular correlation over s, so one real FFT over the residues, one
    product per FFT frequency (summing δ) and one inverse FFT give every (s, r) together.

    Parameters
    ----------
    W : array_like of shape (..., p, d)
        One row per residue, as in :func:`fourier_norms`.
    p : int
        The modulus, a prime.

    Returns
    -------
    ndarray of shape (..., p, p-1)
        Axis -2 is the shift s, axis -1 the basis order of Z_p^* (module docstring).

    Notes
    -----
    Through the Gram matrix a squared norm is exact to round-off relative to ‖W‖² rather than
    to itself, so a norm near zero is known to about √eps·‖W‖ (1e-8 of it in float64): enough
    to rank the shifts by :func:`spectral_entropy` or :func:`gini`, not for :func:`ffd` or
    :func:`fcr`, whose round-off threshold is of that size; compute those with
    :func:`fourier_norms` in the chosen basis.
    """
    p = _modulus(p)
    kern = _shift_kernel(p)  # checks that p is prime
    W = check_array(W, min_ndim=2, name="W")
    if W.shape[-2] != p:
        raise GrokscanError(f"W: expected {p} residues on axis -2, got shape {W.shape}")
    *lead, _, d = W.shape
    t = np.arange(p)
    diag = (t[:, None] + t) % p  # [δ, t] = t + δ
    # the Gram side, [m, δ, v] = G[v, v + δ], transformed over its last axis
    flat = W.reshape(-1, p, d).astype(np.float64)
    gram = np.fft.rfft((flat @ np.swapaxes(flat, -1, -2))[:, t, diag], axis=-1)  # (m, δ, ω)
    # correlation over s: Σ_δ kern[r, δ, ω] · conj(gram[m, δ, ω]), one product per ω
    spec = np.matmul(kern.transpose(2, 0, 1), gram.conj().transpose(2, 1, 0))  # (ω, r, m)
    sq = np.fft.irfft(spec, n=p, axis=0)  # (s, r, m)
    norms = np.sqrt(np.maximum(sq, 0)).transpose(2, 0, 1)  # round-off below 0 is 0
    return norms.reshape(*lead, p, p - 1).astype(np.result_type(W.dtype, np.float32))


@functools.lru_cache(maxsize=8)
def _shift_kernel(p: int) -> np.ndarray:
    """The basis side of :func:`shifted_multiplicative_norms`, [r, δ, t] = B[r, t] B[r, t + δ]
    transformed over t: (p-1, p, p//2 + 1), the same for every call with this p."""
    B = multiplicative_basis(p)
    t = np.arange(p)
    kern = np.fft.rfft(B[:, None, :] * B[:, (t[:, None] + t) % p], axis=-1)
    kern.setflags(write=False)
    return kern


def basis_labels(n: int) -> list[tuple[str, int]]:
    """(kind, k) for each row of a basis over a group of order n: ("const", 0), ("cos", 1),
    ("sin", 1), ... For even n the last label is ("cos", n/2)."""
    n = operator.index(n)
    return [("const", 0)] + [("cos" if r % 2 else "sin", (r + 1) // 2) for r in range(1, n)]


def _freq_rows(freqs, n: int) -> np.ndarray:
    """Basis rows of the frequencies ``freqs`` (cos_k at 2k-1, sin_k at 2k unless Nyquist)."""
    k = np.asarray(freqs).ravel()
    if k.size and k.dtype.kind not in "iu":
        raise GrokscanError(f"freqs: expected integer frequencies, got dtype {k.dtype}")
    k = np.unique(k.astype(np.int64))
    if k.size and (k.min() < 1 or k.max() > n // 2):
        raise GrokscanError(f"freqs: expected frequencies in 1..{n // 2}, got {k.tolist()}")
    return np.concatenate([2 * k - 1, (2 * k)[2 * k < n]])


def _check_basis(basis, n_residues: int, what: str) -> np.ndarray:
    B = check_array(basis, min_ndim=2, name="basis")
    if B.ndim != 2 or B.shape[1] != n_residues:
        raise GrokscanError(
            f"basis: expected shape (n_rows, {n_residues}) to match {what}, got {B.shape}"
        )
    return B


# ---------------------------------------------------------------------------------------------
# norms


def fourier_norms(W, basis) -> np.ndarray:
    """The norm of each Fourier component of per-residue vectors (Nanda et al.,
    arXiv:2301.05217 §4).

    W: ndarray of shape (..., p, d), one row per residue (e.g. the embedding W_E of shape
    (d_vocab, d_model) with the rows of non-residue tokens dropped: ``W_E[..., :p, :]``; a
    (d, p) matrix must be transposed first). basis: ndarray of shape (n, p) from
    :func:`additive_basis` or :func:`multiplicative_basis`.
    Returns ndarray of shape (..., n): ‖basis @ W‖ over d, in basis order.
    """
    W = check_array(W, min_ndim=2, name="W")
    B = _check_basis(basis, W.shape[-2], f"W's residue axis (W has shape {W.shape})")
    # one matrix product for every leading index at once: (n, p) @ (p, ... * d)
    *lead, p, d = W.shape
    C = (B.astype(W.dtype) @ np.moveaxis(W, -2, 0).reshape(p, -1)).reshape(len(B), -1, d)
    norms = np.sqrt(np.einsum("nkd,nkd->nk", C, C))  # (n, prod(lead))
    return np.moveaxis(norms, 0, -1).reshape(*lead, len(B))


def _norms(norms) -> np.ndarray:
    x = check_array(norms, min_ndim=1, name="norms")
    if x.shape[-1] < 2:
        raise GrokscanError(f"norms: expected at least 2 entries (constant + one frequency), "
                            f"got shape {x.shape}")
    return np.abs(x)


def split_mu_nu(norms) -> tuple[np.ndarray, np.ndarray]:
    """Split norms in basis order, shape (..., n), into μ (cos) and ν (sin), each (..., K).

    K = ⌊n/2⌋; entry k-1 belongs to frequency k. The constant is dropped. For even n, ν at the
    Nyquist frequency n/2 is 0 (that sin row is identically zero and is not in the basis).
    """
    x = _norms(norms)
    n = x.shape[-1]
    mu = x[..., 1::2]
    nu = np.zeros_like(mu)
    nu[..., : (n - 1) // 2] = x[..., 2::2]
    return mu, nu


def frequency_power(norms) -> np.ndarray:
    """μ_k² + ν_k², the squared norm carried by each frequency, shape (..., K)."""
    mu, nu = split_mu_nu(norms)
    return mu**2 + nu**2


def _ratio(num, den) -> np.ndarray:
    """num / den, with 0 where den == 0 (the 0/0 convention of the module docstring)."""
    num, den = np.broadcast_arrays(num, den)
    out = np.zeros(num.shape, np.result_type(num, den, np.float32))
    return np.divide(num, den, out=out, where=den > 0)


# ---------------------------------------------------------------------------------------------
# scalar measures on a norms vector in basis order: core shape (n,), output shape (...)


def _mu_nu_without_roundoff(norms, rtol: float | None) -> tuple[np.ndarray, np.ndarray]:
    """split_mu_nu, with components at most rtol × max(μ, ν) set to exactly zero.

    The default rtol is √eps of the input dtype (1.5e-8 for float64, 3.5e-4 for float32).
    """
    mu, nu = split_mu_nu(norms)
    if rtol is None:
        rtol = float(np.sqrt(np.finfo(mu.dtype).eps))
    tol = rtol * np.maximum(mu.max(-1, keepdims=True), nu.max(-1, keepdims=True))
    return np.where(mu > tol, mu, 0), np.where(nu > tol, nu, 0)


@register("fourier/ffd", core_ndim=1, example_shape=(13,))
def ffd(norms, *, eta: float = 0.5, rtol: float | None = None) -> np.ndarray:
    """Fourier Frequency Density, Furuta et al. Eq. 5 (called FFS before the paper's v3).

    FFD = 1/(2K) Σ_{k=1..K} (1[μ_k / max_i μ_i > η] + 1[ν_k / max_j ν_j > η]), K = ⌊n/2⌋.
    norms: shape (..., n) in basis order. Returns shape (...), in [0, 1]; low means a few
    dominant frequencies. When all μ (or all ν) are zero none of them passes (0/0 is not > η).
    For even n the Nyquist sin, identically zero, is counted in the 2K denominator and never
    passes, so FFD ≤ (n-1)/n there; this keeps Eq. 5 exactly as written. Components at most
    ``rtol`` × the largest μ or ν are round-off and count as zero, as in :func:`fcr`: the sin
    norms of a pure-cosine embedding are ~1e-16, and Eq. 5 would otherwise rank that noise.
    """
    mu, nu = _mu_nu_without_roundoff(norms, rtol)
    # μ_k > η·max μ is the paper's ratio test without dividing by a possibly zero maximum
    passed = (mu > eta * mu.max(-1, keepdims=True)).sum(-1)
    passed = passed + (nu > eta * nu.max(-1, keepdims=True)).sum(-1)
    return passed / (2 * mu.shape[-1])


@register("fourier/fcr", core_ndim=1, example_shape=(13,))
def fcr(norms, *, rtol: float | None = None) -> np.ndarray:
    """Fourier Coefficient Ratio, Furuta et al. Eq. 6: FCR = 1/K Σ_k min(μ_k/ν_k, ν_k/μ_k).

    norms: shape (..., n) in basis order. Returns shape (...), in [0, 1]; low means each
    frequency is biased to cos or to sin. min(μ/ν, ν/μ) is computed as min(μ, ν)/max(μ, ν):
    0 when exactly one of μ_k, ν_k is zero (so pure cosines give FCR = 0), and 0 when both are
    (an absent frequency has no balance to report; it still counts in the 1/K of Eq. 6, like the
    Nyquist frequency of even n, whose ν is identically zero). Components at most
    ``rtol`` × the largest μ or ν are round-off and are treated as exactly zero; otherwise two
    round-off norms of an absent frequency would contribute an arbitrary ratio. The default rtol
    is √eps of the input dtype (1.5e-8 for float64, 3.5e-4 for float32).
    """
    mu, nu = _mu_nu_without_roundoff(norms, rtol)
    return _ratio(np.minimum(mu, nu), np.maximum(mu, nu)).mean(-1)


@register("fourier/gini", core_ndim=1, example_shape=(13,))
def gini(norms) -> np.ndarray:
    """Gini coefficient of the non-constant norms: mean_ij |x_i - x_j| / (2 mean x).

    norms: shape (..., n) in basis order; the n-1 non-constant entries are used. Returns shape
    (...), in [0, 1 - 1/(n-1)]; rises as the spectrum becomes sparse.
    """
    x = np.sort(_norms(norms)[..., 1:], axis=-1)
    m = x.shape[-1]
    # for ascending x, Σ_ij |x_i - x_j| = 2 Σ_i (2i - m + 1) x_i (i from 0): O(m log m), not O(m²)
    weight = 2 * np.arange(m) - m + 1
    return _ratio((weight * x).sum(-1), m * x.sum(-1))


@register("fourier/entropy", core_ndim=1, example_shape=(13,))
def spectral_entropy(norms) -> np.ndarray:
    """Shannon entropy (nats) of the normalised squared non-constant norms.

    norms: shape (..., n) in basis order. With q_r = x_r² / Σ x², returns -Σ q_r log q_r, shape
    (...), in [0, log(n-1)]: log(n-1) for a flat (white-noise) spectrum, falling as a few
    frequencies take over.
    """
    x2 = _norms(norms)[..., 1:] ** 2
    q = _ratio(x2, x2.sum(-1, keepdims=True))
    return -np.sum(q * np.log(np.where(q > 0, q, 1)), axis=-1)  # 0·log 0 = 0


def key_frequencies(norms, *, n_keys: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The n_keys frequencies with the largest μ_k² + ν_k², and the share of power they carry.

    norms: shape (..., n) in basis order. Returns (freqs, fraction): freqs an int ndarray of
    shape (..., min(n_keys, K)), frequencies k in 1..K by decreasing power (ties: lower k
    first), with 0 in place of a frequency that carries no power; fraction of shape (...), their
    power over the total non-constant power. n_keys = 5 follows the five key frequencies
    Nanda et al. found for P = 113.
    """
    if n_keys < 1:
        raise GrokscanError(f"n_keys: expected at least 1, got {n_keys}")
    power = frequency_power(norms)
    order = np.argsort(-power, axis=-1, kind="stable")[..., :n_keys]
    top = np.take_along_axis(power, order, axis=-1)
    return np.where(top > 0, order + 1, 0), _ratio(top.sum(-1), power.sum(-1))


@register("fourier/key_fraction", core_ndim=1, example_shape=(13,))
def key_fraction(norms, *, n_keys: int = 5) -> np.ndarray:
    """The share of non-constant power carried by the top n_keys frequencies, shape (...).

    See :func:`key_frequencies`; near 1 once a few frequencies carry the spectrum.
    """
    return key_frequencies(norms, n_keys=n_keys)[1]


def key_frequency_mask(norms, *, cover: float = 0.9) -> np.ndarray:
    """The fewest frequencies, largest power first, whose combined share of power reaches cover.

    norms: shape (..., n) in basis order. Returns a bool ndarray of shape (..., K): entry k-1
    is True when frequency k is a key frequency. Unlike :func:`key_frequencies` the number of
    keys adapts to the spectrum (``mask.sum(-1)``); frequencies with zero power are never keys.
    """
    if not 0 < cover <= 1:
        raise GrokscanError(f"cover: expected a share in (0, 1], got {cover}")
    power = frequency_power(norms)
    order = np.argsort(-power, axis=-1, kind="stable")
    p_sorted = np.take_along_axis(power, order, axis=-1)
    share_before = _ratio(np.cumsum(p_sorted, axis=-1) - p_sorted, power.sum(-1, keepdims=True))
    keep = (share_before < cover) & (p_sorted > 0)
    mask = np.empty_like(keep)
    np.put_along_axis(mask, order, keep, axis=-1)
    return mask


# ---------------------------------------------------------------------------------------------
# neuron-activation spectrum (Nanda et al. 2023)


def neuron_spectrum(acts, basis) -> np.ndarray:
    """Squared 2-D Fourier coefficients of each neuron's activation over the (a, b) grid.

    acts: ndarray of shape (..., p, p, n_neurons), activation of every neuron at every (a, b).
    basis: (n, p), applied on a and on b. Returns power of shape (..., n, n, n_neurons):
    (B A Bᵀ)² per neuron, rows indexed by the basis row on a, columns by the row on b.
    """
    A = check_array(acts, min_ndim=3, name="acts")
    *lead, p, p_b, _ = A.shape
    if p_b != p:
        raise GrokscanError(f"acts: expected shape (..., p, p, n_neurons), got {A.shape}")
    B = _check_basis(basis, p, f"acts' (a, b) axes (acts has shape {A.shape})").astype(A.dtype)

    def over_first_axis(Z):  # (..., p, q, N) -> (..., n, q, N)
        # (q, neuron) flattened into one axis: one large matrix product, not many small ones
        return (B @ Z.reshape(*lead, p, -1)).reshape(*lead, len(B), *Z.shape[-2:])

    coef = over_first_axis(over_first_axis(A).swapaxes(-3, -2)).swapaxes(-3, -2)  # on a, then b
    return coef**2


def neuron_frequency_fractions(power) -> np.ndarray:
    """The fraction of each neuron's non-constant power explained by each frequency (Nanda).

    power: (..., n, n, n_neurons) from :func:`neuron_spectrum`. For frequency k the explained
    power is the sum over (row, col) in {const, cos_k, sin_k}² minus (const, const), divided by
    the total power minus (const, const). Returns shape (..., K, n_neurons), K = ⌊n/2⌋; 0 for a
    neuron with no non-constant power (dead or constant).
    """
    S = check_array(power, min_ndim=3, name="power")
    n = S.shape[-3]
    if S.shape[-2] != n:
        raise GrokscanError(f"power: expected shape (..., n, n, n_neurons), got {S.shape}")
    # sum rows (then columns) into blocks {const}, {cos_1, sin_1}, ..., {cos_K(, sin_K)}
    starts = np.r_[0, 1:n:2]
    # R[b, i] = 1 when basis row i is in block b; R S Rᵀ as two large matrix products, which
    # was faster than np.add.reduceat over a (97, 97, 512) spectrum
    R = (np.searchsorted(starts, np.arange(n), side="right")[None, :] - 1
         == np.arange(len(starts))[:, None]).astype(S.dtype)
    *lead, _, _, N = S.shape
    b = len(starts)
    # (..., K+1 blocks on a, n on b, N), then (..., K+1, K+1, N)
    S = (R @ S.reshape(*lead, n, n * N)).reshape(*lead, b, n, N).swapaxes(-3, -2)
    S = (R @ S.reshape(*lead, n, b * N)).reshape(*lead, b, b, N).swapaxes(-3, -2)
    diag = np.einsum("...kkj->...kj", S)
    explained = diag[..., 1:, :] + S[..., 0, 1:, :] + S[..., 1:, 0, :]
    total = S.sum(axis=(-3, -2)) - S[..., 0, 0, :]
    return _ratio(explained, total[..., None, :])


def neuron_key_frequencies(power) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's dominant frequency and the fraction of its variance it explains.

    power: (..., n, n, n_neurons) from :func:`neuron_spectrum`. Returns (freq, frac), each of
    shape (..., n_neurons): freq in 1..K (0 for a neuron with no non-constant power), frac from
    :func:`neuron_frequency_fractions`.
    """
    frac = neuron_frequency_fractions(power)
    best = frac.max(axis=-2)
    return np.where(best > 0, frac.argmax(axis=-2) + 1, 0), best


def fraction_well_explained(frac, cut: float = 0.85) -> np.ndarray:
    """The share of neurons whose dominant frequency explains more than ``cut`` of their
    variance (Nanda: 0.85). frac: (..., n_neurons). Returns shape (...)."""
    f = check_array(frac, min_ndim=1, name="frac")
    return (f > cut).mean(axis=-1)


def phase_share(values, *, phase, n: int, k: int) -> float:
    """The share of the variance of ``values`` (N,) over the samples with a phase (``phase``
    (N,) in 0..n-1, negative: left out; :func:`sample_phase`) that its least-squares fit by
    cos(2πk·s/n) and sin(2πk·s/n) of the phase s explains: for a + b, how much of a neuron is a
    function of cos/sin(w_k(a+b)) (Nanda et al., arXiv:2301.05217 §4). 0 for constant values."""
    x = check_array(values, min_ndim=1, name="values").astype(np.float64)
    s = np.asarray(phase)
    ok = s >= 0
    if x.shape != s.shape or not 1 <= k <= n // 2:
        raise GrokscanError(f"phase_share: values {x.shape} and phase {s.shape} must match and "
                            f"k ({k}) be in 1..{n // 2}")
    y = x[ok] - x[ok].mean()
    theta = 2 * np.pi * k * s[ok] / n
    A = np.stack([np.cos(theta), np.sin(theta)], 1)
    A = A - A.mean(0)
    total = float(y @ y)
    if total <= 1e-24 * max(1.0, float(np.abs(x[ok]).max()) ** 2) * len(y):
        return 0.0
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    fit = A @ coef
    return float(fit @ fit / total)


# ---------------------------------------------------------------------------------------------
# restricted and excluded loss (Nanda et al. 2023)


def grid_phase(p: int, *, group: str = "additive", b_sign: int = 1) -> tuple[np.ndarray, int]:
    """The group phase of every (sample, class) on the full input grid, for frequency_loss.

    Sample i = a·p + b for a, b in 0..p-1; class c in 0..p-1. Returns (phase, n): phase an int
    ndarray of shape (p*p, p), n the group order.
    - group="additive": phase = (a + b_sign·b - c) mod p, n = p (a+b, or a-b with b_sign=-1).
    - group="multiplicative": phase = (log a + b_sign·log b - log c) mod (p-1), n = p-1, logs to
      the smallest primitive root (a·b, or a/b with b_sign=-1); p prime. Entries with a, b or c
      equal to 0 have no phase and are -1.
    The correct class has phase 0, where every cos(2πk·phase/n) peaks.
    """
    p = _modulus(p)
    if b_sign not in (1, -1):
        raise GrokscanError(f"b_sign: expected 1 or -1, got {b_sign}")
    a, b = np.divmod(np.arange(p * p), p)
    c = np.arange(p)
    if group == "additive":
        return (a[:, None] + b_sign * b[:, None] - c) % p, p
    if group == "multiplicative":
        if not is_prime(p):
            raise GrokscanError(f"the multiplicative group needs a prime modulus, got P = {p}")
        _, log = discrete_log_table(p)
        phase = (log[a][:, None] + b_sign * log[b][:, None] - log[c]) % (p - 1)
        valid = (a[:, None] > 0) & (b[:, None] > 0) & (c > 0)
        return np.where(valid, phase, -1), p - 1
    raise GrokscanError(f"group: expected 'additive' or 'multiplicative', got {group!r}")


def frequency_logits(logits, *, phase, n: int, freqs, mode: str) -> np.ndarray:
    """Logits restricted to, or with excluded, the components cos(2πk·phase/n), sin(2πk·phase/n)
    for k in freqs (Nanda's cos(w_k(a+b-c)), generalised to any cyclic group by the phase).

    logits: (..., N, C) on the full input grid; phase: int (N, C) in 0..n-1, negative where an
    entry has no phase (see :func:`grid_phase`); freqs: frequencies in 1..⌊n/2⌋.
    Each sample's logits are centred over its classes that have a phase (softmax ignores that
    mean), then the centred logits on the whole grid are fitted by least squares with a function
    g(phase) in the span of the chosen cos/sin directions: one coefficient per direction for the
    whole grid, as in Nanda's projection. When phase values are equally frequent (as from
    grid_phase) the directions are orthogonal and this is the orthogonal projection.
    - mode="restricted": per-sample mean + g(phase); entries without a phase keep their logits.
    - mode="excluded": logits - g(phase).
    Note that restricting to all frequencies keeps only the part of the logits that is a
    function of the phase (plus per-sample constants); the rest is not in any direction here.
    Returns ndarray of shape (..., N, C).
    """
    X = check_array(logits, min_ndim=2, name="logits")
    n = _modulus(n, "n")
    phase = _check_phase(phase, X.shape[-2:], n)
    if mode not in ("restricted", "excluded"):
        raise GrokscanError(f"mode: expected 'restricted' or 'excluded', got {mode!r}")
    F = _cyclic_basis(n)[_freq_rows(freqs, n)].astype(X.dtype)  # (m, n): directions on Z_n
    valid = phase >= 0
    mean = _ratio(np.where(valid, X, 0).sum(-1), valid.sum(-1)).astype(X.dtype)  # (..., N)
    g = np.zeros((*X.shape[:-2], n), X.dtype)
    if len(F):
        r = phase[valid]
        centred = (X - mean[..., None])[..., valid]  # (..., E), E entries with a phase
        # the fit only needs, for each phase value, the sum of centred logits and the count
        flat = centred.reshape(-1, centred.shape[-1])
        h = np.stack([np.bincount(r, weights=c, minlength=n) for c in flat])
        h = h.reshape(*X.shape[:-2], n).astype(X.dtype)  # (..., n)
        gram = (F * np.bincount(r, minlength=n)) @ F.T  # (m, m), symmetric
        g = (h @ F.T) @ np.linalg.pinv(gram) @ F  # (..., n)
    proj = np.where(valid, g[..., np.where(valid, phase, 0)], 0)  # (..., N, C)
    if mode == "restricted":
        return np.where(valid, mean[..., None] + proj, X)
    return X - proj


def frequency_loss(
    logits, labels, *, phase, n: int, freqs, mode: str, mask=None
) -> np.ndarray:
    """Restricted or excluded loss (Nanda et al. 2023): the mean cross-entropy of
    :func:`frequency_logits` over the samples selected by ``mask``.

    logits: (..., N, C); labels: int (N,) in 0..C-1; mask: bool (N,), e.g. the training or test
    split, default all samples. phase, n, freqs, mode: see :func:`frequency_logits`.
    For a·b or a/b on a grid that includes 0, pass the multiplicative phase of
    :func:`grid_phase` and a mask without the samples where a or b is 0 (they have no phase).
    Returns shape (...). Restricted loss falls before test loss does; excluded train loss rises
    during clean-up.
    """
    Z = frequency_logits(logits, phase=phase, n=n, freqs=freqs, mode=mode)
    N, C = Z.shape[-2:]
    labels = np.asarray(labels)
    if labels.shape != (N,) or labels.dtype.kind not in "iu":
        raise GrokscanError(f"labels: expected integers of shape ({N},), got {labels.dtype} "
                            f"of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise GrokscanError(f"labels: expected classes in 0..{C - 1}")
    mask = np.ones(N, bool) if mask is None else np.asarray(mask)
    if mask.shape != (N,) or mask.dtype != bool or not mask.any():
        raise GrokscanError(f"mask: expected a bool array of shape ({N},) selecting at least "
                            f"one sample, got {mask.dtype} of shape {mask.shape}")
    return sample_nll(Z, labels)[..., mask].mean(axis=-1)


def sample_phase(p: int, *, group: str = "additive", b_sign: int = 1) -> tuple[np.ndarray, int]:
    """The group phase of every sample (a, b) of the full grid, for :func:`class_logits`.

    Sample i = a·p + b. Returns (phase, n): phase an int ndarray of shape (p*p,), n the group
    order. group="additive": (a + b_sign·b) mod p, n = p. group="multiplicative": log a +
    b_sign·log b mod (p-1), n = p-1, logs to the smallest primitive root; p prime; -1 where a or
    b is 0 (no phase). The correct class of a sample is the residue of its phase.
    """
    phase, n = grid_phase(p, group=group, b_sign=b_sign)
    c0 = 1 if group == "multiplicative" else 0  # the class whose phase term is 0: log 1 = 0
    return np.where(phase[:, c0] >= 0, phase[:, c0], -1), n


def class_logits(logits, *, phase, n: int, freqs, mode: str) -> np.ndarray:
    """Nanda et al.'s restricted or excluded logits (arXiv:2301.05217, §5.1 and App. C.2; the
    functions ``get_component_cos_xpy``, ``calculate_restricted_loss`` and
    ``calculate_excluded_loss`` of their code): for each output class apart, the column of
    logits over the samples is projected on the unit directions cos(2πk·s/n) and sin(2πk·s/n)
    of the sample phase s (cos(w_k(a+b)), sin(w_k(a+b)) for addition), for k in ``freqs``.

    - mode="restricted": that projection, plus, per class, the mean over the samples of what the
      projection left out (his bias correction: the loss then measures the key frequencies'
      shape, not the lost constant);
    - mode="excluded": the logits less that projection.

    logits: (..., N, C) on the full grid; phase: int (N,) in 0..n-1, negative for a sample
    without a phase (it keeps its logits); freqs: frequencies in 1..⌊n/2⌋. Unlike
    :func:`frequency_logits` (one coefficient per direction of a + b − c over the whole
    (a, b, c) cube, the same restricted loss for every sample), the coefficients here are per
    class, so that train and test losses differ. Returns ndarray of shape (..., N, C).
    """
    X = check_array(logits, min_ndim=2, name="logits")
    n = _modulus(n, "n")
    ph = np.asarray(phase)
    if ph.shape != X.shape[-2:-1] or ph.dtype.kind not in "iu" or (ph.size and ph.max() >= n):
        raise GrokscanError(f"phase: expected integers in 0..{n - 1} of shape "
                            f"{X.shape[-2:-1]} (one per sample), got {ph.dtype} {ph.shape}")
    if mode not in ("restricted", "excluded"):
        raise GrokscanError(f"mode: expected 'restricted' or 'excluded', got {mode!r}")
    valid = ph >= 0
    D = _cyclic_basis(n)[_freq_rows(freqs, n)][:, ph[valid]].astype(X.dtype)  # (m, E)
    D /= np.maximum(np.linalg.norm(D, axis=1, keepdims=True), np.finfo(X.dtype).tiny)
    Xv = X[..., valid, :]  # (..., E, C)
    proj = D.T @ (D @ Xv)  # (E, m) @ (..., m, C): each class column on the directions
    if mode == "restricted":
        Zv = proj + (Xv - proj).mean(axis=-2, keepdims=True)
    else:
        Zv = Xv - proj
    Z = X.copy()
    Z[..., valid, :] = Zv
    return Z


def trig_coefficients(logits, *, phase3, n: int, freqs) -> np.ndarray:
    """The coefficient of the unit direction cos(2πk·phase/n) of the (sample, class) phase
    (cos(w_k(a+b−c)) for addition) in the logits, for each k in ``freqs`` (Nanda et al.,
    arXiv:2301.05217, Fig. 5: the "trig components" of the logits against training).
    logits: (..., N, C); phase3: int (N, C) from :func:`grid_phase` (negative: no phase).
    Returns (..., len(freqs)) in the order of ``freqs``."""
    X = check_array(logits, min_ndim=2, name="logits")
    ph = _check_phase(phase3, X.shape[-2:], _modulus(n, "n"))
    valid = ph >= 0
    out = []
    for k in np.asarray(freqs, dtype=np.int64).ravel():
        if not 1 <= k <= n // 2:
            raise GrokscanError(f"freqs: expected frequencies in 1..{n // 2}, got {int(k)}")
        d = np.where(valid, np.cos(2 * np.pi * ((k * np.where(valid, ph, 0)) % n) / n), 0.0)
        out.append((X * (d / np.linalg.norm(d)).astype(X.dtype)).sum(axis=(-2, -1)))
    return np.stack(out, axis=-1) if out else np.zeros((*X.shape[:-2], 0), X.dtype)


def sample_nll(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each sample's cross-entropy, logsumexp(z) - z[label]: logits (..., N, C), integer
    labels (N,) in 0..C-1 (unchecked). Returns (..., N)."""
    top = logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]  # stable logsumexp
    return log_norm - logits[..., np.arange(len(labels)), labels]


def _check_phase(phase, shape: tuple[int, int], n: int) -> np.ndarray:
    ph = np.asarray(phase)
    if ph.shape != tuple(shape) or ph.dtype.kind not in "iu":
        raise GrokscanError(f"phase: expected integers of shape {tuple(shape)} (the logits' "
                            f"last two axes), got {ph.dtype} of shape {ph.shape}")
    if ph.size and ph.max() >= n:
        raise GrokscanError(f"phase: expected values in 0..{n - 1} (negative: no phase), "
                            f"got {ph.max()}")
    return ph.astype(np.int64)


SHIFT_TIE = 1e-9  # nats: shifts of the multiplicative basis this close in entropy are tied
# the margin (nats, times the vectors' width d) by which the multiplicative basis must beat the
# additive one: on Gaussian vectors with no structure the best shift's entropy deficit exceeds
# the additive one's by at most 1.7/d (99th percentile 1.4-1.5/d; P 23-113, d 8-128, 200 draws
# each), while structure in one basis gives deficits of nats
MUL_MARGIN = 2.0
CHUNK = 128  # checkpoints at a time in sparsest_basis (P = 113, d = 128: ~70 MB each)


def sparsest_basis(E: np.ndarray, p: int) -> np.ndarray:
    """The group basis inferred from per-residue vectors: the one in which they are sparsest.

    Sparsest is read as the entropy deficit, log(n − 1) − H of the spectral entropy H over a
    basis of n rows (its largest value less H: the additive basis has P rows, the
    multiplicative one P − 1, so that their entropies are not compared raw). The
    multiplicative basis at its best shift is taken only when its deficit exceeds the additive
    one's by more than ``MUL_MARGIN / d``: with P shifts to choose from, vectors with no
    structure always find one a little sparser than the additive basis, by about 1/d.

    Parameters
    ----------
    E : ndarray of shape (n, P, d)
        The per-residue vectors (the embedding) at n checkpoints.
    p : int
        The modulus P.

    Returns
    -------
    ndarray of shape (n,)
        Per checkpoint, NaN where the additive basis is taken, else the shift s of the
        multiplicative basis over t ↦ t + s with the largest deficit (:func:`multiplicative_basis`;
        s = 0 for a·b and a/b, 1 for xy + x + y = (x+1)(y+1) − 1; the smallest shift among those
        within ``SHIFT_TIE`` of the largest). Always NaN for P not prime.
    """
    E = np.asarray(E, np.float64)
    if not is_prime(p):
        return np.full(len(E), np.nan)
    d = E.shape[-1]
    add = np.log(p - 1) - spectral_entropy(fourier_norms(E, additive_basis(p)))
    # (n, P), in chunks of checkpoints: the norms at every shift take P times the memory
    mul = np.concatenate([np.log(p - 2) - spectral_entropy(shifted_multiplicative_norms(
        E[i: i + CHUNK], p)) for i in range(0, len(E), CHUNK)]) if len(E) else np.zeros((0, p))
    # shift 0 exactly as the *_mul signals compute it
    mul[:, 0] = np.log(p - 2) - spectral_entropy(fourier_norms(E, multiplicative_basis(p)))
    shift = np.argmax(mul >= mul.max(axis=1, keepdims=True) - SHIFT_TIE, axis=1)
    best = mul[np.arange(len(E)), shift]
    return np.where(best - add > MUL_MARGIN / d, shift.astype(float), np.nan)
