"""The 2-D Ising model: an equilibrium sampler checked against Onsager's exact values.

Conventions: spins are int8 ±1 in arrays of shape (n, L, L) with periodic boundaries, J = 1, no
field; E = −Σ_⟨ij⟩ s_i s_j over the 2·L² nearest-neighbour bonds, so e = E / L² lies in [−2, 2].
T is in units of J / k_B.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from grokscan.errors import GrokscanError

T_C = 2.0 / math.log1p(math.sqrt(2.0))  # Onsager's critical temperature, ≈ 2.269185


# ---------------------------------------------------------------- Onsager's exact solution


def _hyperbolic(T):
    """(q, 1 − q², 1 + q²) with q = exp(−2/T) ∈ [0, 1), from which the hyperbolic functions
    of 2β = 2/T follow without overflow at any T > 0: sinh = (1 − q²)/2q, cosh = (1 + q²)/2q.
    q = exp(−2000) is 0 in float64 at T = 1e-3 already (the ground state), so T is floored
    there, which only keeps 2/T finite for the tiniest T."""
    two_beta = 2.0 / np.maximum(T, 1e-3)
    q = np.exp(-two_beta)
    return q, -np.expm1(-2.0 * two_beta), 1.0 + q * q


def onsager_magnetization(T):
    """Spontaneous magnetisation per spin of the infinite lattice: (1 − sinh(2/T)⁻⁴)^(1/8)
    below T_c, 0 above (Onsager 1944, Yang 1952). T: float or array; returns the same shape."""
    T = np.asarray(T, dtype=np.float64)
    q, one_minus, _ = _hyperbolic(np.minimum(T, T_C))  # above T_c: 0, whatever x is
    x = 1.0 - (2.0 * q / one_minus) ** 4.0
    return np.where(T < T_C, np.clip(x, 0.0, None) ** 0.125, 0.0)[()]


def onsager_energy(T):
    """Internal energy per spin of the infinite lattice (Onsager 1944):
    u = −coth(2β)·[1 + (2/π)(2 tanh²(2β) − 1)·K(κ)], κ = 2 sinh(2β) / cosh²(2β), β = 1/T,
    K the complete elliptic integral of the first kind with modulus κ; scipy's ellipk takes
    the parameter m = κ². In q = exp(−2β): κ = 4q(1 − q²)/(1 + q²)², tanh(2β) = (1 − q²)/(1 +
    q²). T: float or array; returns the same shape."""
    q, one_minus, one_plus = _hyperbolic(np.asarray(T, dtype=np.float64))
    kappa = 4.0 * q * one_minus / one_plus**2
    tanh = one_minus / one_plus
    from scipy.special import ellipk

    K = ellipk(np.minimum(kappa**2, 1.0))  # κ = 1 at T_c: K diverges, its prefactor is 0
    bracket = 1.0 + (2.0 / np.pi) * (2.0 * tanh**2 - 1.0) * K
    bracket = np.where(np.isfinite(K), bracket, 1.0)  # the limit at T_c: u(T_c) = −√2
    return (-bracket / tanh)[()]


# ---------------------------------------------------------------- observables


def energy(spins: np.ndarray) -> np.ndarray:
    """E = −Σ_⟨ij⟩ s_i s_j of each lattice. spins: (..., L, L) ±1. Returns int64 of shape (...)."""
    s = np.asarray(spins, dtype=np.int64)
    return -(s * (np.roll(s, 1, -1) + np.roll(s, 1, -2))).sum((-2, -1))


def magnetization(spins: np.ndarray) -> np.ndarray:
    """Signed magnetisation per spin of each lattice. spins: (..., L, L). Returns float64 (...)."""
    return np.asarray(spins).mean((-2, -1), dtype=np.float64)


def random_spins(n: int, L: int, rng: np.random.Generator) -> np.ndarray:
    """n independent infinite-temperature lattices: int8 ±1 of shape (n, L, L)."""
    return rng.integers(0, 2, (n, L, L), dtype=np.int8) * np.int8(2) - np.int8(1)


# ---------------------------------------------------------------- checkerboard Metropolis
#
# Site (i, j) = (2a + p, 2b + q) has colour c = (p + q) % 2, like a checkerboard: all sites of
# one colour can be updated at once, because their neighbours all have the other colour (L must
# be even, or the periodic wrap joins two sites of the same colour). The sweep works on
# blocks[c, p, n, a, b], shape (2, 2, n, h, h) with h = L/2, so that each colour is one
# contiguous array.

_P = np.array([[0, 1], [0, 1]])  # blocks[c, k] = site parities (p, q) = (_P[c, k], _Q[c, k])
_Q = np.array([[0, 1], [1, 0]])


def _to_blocks(spins: np.ndarray) -> np.ndarray:
    """(n, L, L) → (2, 2, n, L/2, L/2), a copy."""
    n, L, _ = spins.shape
    pq = spins.reshape(n, L // 2, 2, L // 2, 2).transpose(2, 4, 0, 1, 3)  # [p, q, n, a, b]
    return np.ascontiguousarray(pq[_P, _Q])


def _from_blocks(blocks: np.ndarray) -> np.ndarray:
    """(2, 2, n, h, h) → (n, 2h, 2h), a copy."""
    _, _, n, h, _ = blocks.shape
    pq = blocks[_Q, _P.T]  # [p, q] ← [c = p xor q, k = p]; _Q happens to be p xor q
    return np.ascontiguousarray(pq.transpose(2, 3, 0, 4, 1).reshape(n, 2 * h, 2 * h))


@functools.cache
def _shifts(h: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.arange(h) - 1) % h, (np.arange(h) + 1) % h  # index of x − 1 and x + 1, periodic


def _neighbour_sums(blocks: np.ndarray, colour: int) -> np.ndarray:
    """Sum of the 4 neighbours of every site of one colour: int8 (2, n, h, h)."""
    prev, nxt = _shifts(blocks.shape[-1])
    O0, O1 = blocks[1 - colour]  # the other colour's sublattices, rows p = 0 and p = 1
    # colour 0: (2a, 2b) has neighbours O1[a−1, b], O1[a, b], O0[a, b−1], O0[a, b];
    #           (2a+1, 2b+1) has O0[a, b], O0[a+1, b], O1[a, b], O1[a, b+1].
    # colour 1: the same with b−1 and b+1 exchanged.
    b0, b1 = (prev, nxt) if colour == 0 else (nxt, prev)
    nb = np.empty((2, *O0.shape), np.int8)
    np.add(O0, O1, out=nb[0])
    nb[1] = nb[0]
    nb[0] += O1.take(prev, 1)
    nb[0] += O0.take(b0, 2)
    nb[1] += O0.take(nxt, 1)
    nb[1] += O1.take(b1, 2)
    return nb


def _blocks_energy(blocks: np.ndarray) -> np.ndarray:
    """E of each lattice: every bond has one end of each colour. Returns int64 (n,)."""
    return -(blocks[0] * _neighbour_sums(blocks, 0)).sum((0, 2, 3), dtype=np.int64)


def _thresholds(beta: float) -> tuple[np.uint32, np.uint32]:
    """Metropolis acceptance exp(−β ΔE) for ΔE = 4 and 8, as thresholds on uniform uint32."""
    top = float(2**32 - 1)
    t4, t8 = (min(math.exp(-beta * dE) * 2**32, top) for dE in (4, 8))
    return np.uint32(t4), np.uint32(t8)


def _half_sweep(blocks, colour, thresholds, rng) -> None:
    """Metropolis update of every site of one colour, in place."""
    t4, t8 = thresholds
    s = blocks[colour]
    hs = s * _neighbour_sums(blocks, colour)  # ΔE = 2·s·Σnb = 2·hs ∈ {−8, −4, 0, 4, 8}
    r = rng.bit_generator.random_raw(hs.size // 2).view(np.uint32).reshape(hs.shape)
    # accept if ΔE ≤ 0, or if r < 2³²·exp(−β ΔE); t8 < t4, so "r < t8" covers ΔE = 8
    flip = (hs <= 0) | (r < t8) | ((hs == 2) & (r < t4))
    s *= np.int8(1) - np.int8(2) * flip.view(np.int8)


def metropolis(spins: np.ndarray, T: float, n_sweeps: int, rng: np.random.Generator) -> np.ndarray:
    """n_sweeps checkerboard Metropolis sweeps (one attempted flip per site each) of every
    lattice at temperature T. spins: int8 (n, L, L), L even. Returns a new array of that shape."""
    blocks, th = _to_blocks(spins), _thresholds(1.0 / T)
    for _ in range(n_sweeps):
        _half_sweep(blocks, 0, th, rng)
        _half_sweep(blocks, 1, th, rng)
    return _from_blocks(blocks)


# ---------------------------------------------------------------- Swendsen–Wang cluster update

# 4-connectivity within each lattice, none across lattices: the structuring element of
# scipy.ndimage.label for a stack of lattices
_IN_PLANE = np.zeros((3, 3, 3), bool)
_IN_PLANE[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]


def swendsen_wang(spins: np.ndarray, T: float, rng: np.random.Generator) -> None:
    """One Swendsen–Wang update of every lattice, in place. spins: int8 (n, L, L).

    Each bond between equal spins is frozen with probability 1 − exp(−2/T); every cluster of
    frozen bonds is flipped with probability ½ (Swendsen & Wang 1987). This is the Wolff
    update's Fortuin–Kasteleyn construction applied to all clusters at once: the cluster of a
    random site has Wolff's distribution. Clusters are labelled for all lattices in one
    scipy.ndimage.label pass on a (n, 2L, 2L) image whose odd pixels are the frozen bonds; the
    bonds that wrap round the periodic boundary then merge labels in a small graph.
    """
    # scipy's graph and image modules load in about a second: only when a lattice is sampled
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n, L, _ = spins.shape
    thr = np.uint32(min(-math.expm1(-2.0 / T) * 2**32, 2**32 - 1))
    r = rng.bit_generator.random_raw(n * L * L).view(np.uint32).reshape(2, n, L, L)
    right = (spins == np.roll(spins, -1, 2)) & (r[0] < thr)  # bond (i, j)–(i, j+1)
    down = (spins == np.roll(spins, -1, 1)) & (r[1] < thr)  # bond (i, j)–(i+1, j)
    img = np.zeros((n, 2 * L, 2 * L), bool)
    img[:, ::2, ::2] = True
    img[:, ::2, 1::2] = right  # the last column and row hold the wrap-around bonds, which
    img[:, 1::2, ::2] = down  # ndimage cannot see; they are merged below
    lab, n_lab = ndimage.label(img, _IN_PLANE)
    lab = lab[:, ::2, ::2]
    a = np.concatenate([lab[:, :, -1][right[:, :, -1]], lab[:, -1, :][down[:, -1, :]]])
    b = np.concatenate([lab[:, :, 0][right[:, :, -1]], lab[:, 0, :][down[:, -1, :]]])
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n_lab + 1, n_lab + 1))
    n_clusters, cluster = connected_components(graph, directed=False)
    sign = np.int8(1) - np.int8(2) * rng.integers(0, 2, n_clusters, dtype=np.int8)
    spins *= sign[cluster[lab]]


# ---------------------------------------------------------------- equilibrium samples


def default_rounds(L: int) -> int:
    """Rounds from a random start to equilibrium: 10·⌈log₂ L⌉, at least 20 (50 for L = 32).

    Measured (scripts/bench_ising.py --relax): the slowest case is T_c, where the mean energy
    of 2¹⁹ spins is within 2 standard errors of equilibrium after 7 (L = 8), 10 (L = 32) and
    15 (L = 128) rounds and the rest decays by e every 2 (L = 32) to 5 (L = 128) rounds. The
    default doubles that and adds ≥ 8 decay times, so the bias stays far below the standard
    error of any n one can afford. Away from T_c the relaxation is faster.
    """
    return max(20, 10 * math.ceil(math.log2(L)))


SWEEPS_PER_ROUND = 2  # Metropolis costs ~5 % of a cluster update per site; 2 relaxed faster
# per unit time than 1 (and as fast as 4) in the measurement above
_SITES_PER_BATCH = 2**18  # lattices are equilibrated in batches of about this many spins
# The largest lattice and sample. A lattice of more than _SITES_PER_BATCH spins is updated on
# its own, with about 40 bytes of working memory a spin (0.7 GiB at L = 4096, whose default
# 120 rounds take about 3 minutes at ~90 ns a spin and round); a sample is held as int8, a byte
# a spin: 2^30 spins are 1 GiB, about 80 minutes of rounds at L = 32.
MAX_L = 4096
MAX_SPINS = 2**30


def _check_lattice(L: int, T: float) -> None:
    if not isinstance(L, (int, np.integer)) or L < 2 or L % 2 or L > MAX_L:
        raise GrokscanError(f"L must be an even integer in [2, {MAX_L}] (checkerboard updates; "
                            f"one lattice needs ~40 bytes a spin), got {L!r}")
    if not (isinstance(T, numbers.Real) and math.isfinite(T) and T > 0):
        raise GrokscanError(f"T must be a positive finite temperature, got {T!r}")


def sample(
    L: int,
    T: float,
    n: int,
    *,
    seed: int = 0,
    rounds: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """n independent equilibrium lattices of the L × L model at temperature T.

    Every lattice is the end of its own chain: a random start, then ``rounds`` rounds of
    SWEEPS_PER_ROUND checkerboard Metropolis sweeps and one Swendsen–Wang update (default
    :func:`default_rounds`). Because the chains are independent, plain standard errors over
    the n lattices (:func:`summarize`) are honest. Returns int8 of shape (n, L, L).
    """
    _check_lattice(L, T)
    if n < 1:
        raise GrokscanError(f"n must be ≥ 1, got {n}")
    if n * L * L > MAX_SPINS:
        raise GrokscanError(f"{n} lattices of {L} × {L} spins would need "
                            f"{n * L * L / 2**30:.3g} GiB (a byte a spin); at most "
                            f"{MAX_SPINS // 2**30} GiB ({MAX_SPINS} spins): lower n or L")
    rounds = default_rounds(L) if rounds is None else rounds
    if rounds < 0:
        raise GrokscanError(f"rounds must be ≥ 0, got {rounds}")
    batch = max(1, _SITES_PER_BATCH // (L * L))
    starts = range(0, n, batch)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(starts))]
    out = np.empty((n, L, L), np.int8)
    bar = _progress(len(starts) * rounds, progress, "round")
    for start, rng in zip(starts, rngs):
        spins = random_spins(min(batch, n - start), L, rng)
        for _ in range(rounds):
            spins = metropolis(spins, T, SWEEPS_PER_ROUND, rng)
            swendsen_wang(spins, T, rng)
            bar.update()
        out[start : start + len(spins)] = spins
    bar.close()
    return out


def summarize(spins: np.ndarray) -> dict[str, float]:
    """Mean \\|m\\| and e = E/L² per spin over independent lattices, with standard errors
    (std / √n, ddof 1). spins: (n, L, L)."""
    n, L, _ = spins.shape
    step = max(1, _SITES_PER_BATCH // (L * L))  # energy() takes 8 bytes a spin and more
    parts = [spins[i : i + step] for i in range(0, n, step)]
    m = np.abs(np.concatenate([magnetization(p) for p in parts]))
    e = np.concatenate([energy(p) for p in parts]) / (L * L)
    se = (lambda x: float(x.std(ddof=1) / math.sqrt(n))) if n > 1 else (lambda x: math.nan)
    return {
        "abs_m": float(m.mean()),
        "abs_m_se": se(m),
        "energy": float(e.mean()),
        "energy_se": se(e),
        "n": n,
    }


def _progress(total: int, enabled: bool, unit: str):
    from grokscan.progress import progress

    return progress(total, unit=unit, quiet=not enabled, leave=False)
