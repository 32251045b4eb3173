"""The 2-D Ising model: an equilibrium sampler, Onsager's exact values, and the classification
data set of Hutchison & Yevick (arXiv:2510.25966; REFERENCE.md §5).

Conventions: spins are int8 ±1 in arrays of shape (n, L, L) with periodic boundaries, J = 1, no
field; E = −Σ_⟨ij⟩ s_i s_j over the 2·L² nearest-neighbour bonds, so e = E / L² lies in [−2, 2].
T is in units of J / k_B. The data-set file format is described in ISING_DATA.md.
"""

from __future__ import annotations

import functools
import json
import math
import numbers
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import ellipk

from grokscan import __version__
from grokscan.errors import FileFormatError, GrokscanError

T_C = 2.0 / math.log1p(math.sqrt(2.0))  # Onsager's critical temperature, ≈ 2.269185
FORMAT_NAME = "grokscan-ising"
FORMAT_VERSION = 1
SPLITS = ("train", "test", "inverted")


# ---------------------------------------------------------------- Onsager's exact solution


def onsager_magnetization(T):
    """Spontaneous magnetisation per spin of the infinite lattice: (1 − sinh(2/T)⁻⁴)^(1/8)
    below T_c, 0 above (Onsager 1944, Yang 1952). T: float or array; returns the same shape."""
    T = np.asarray(T, dtype=np.float64)
    x = 1.0 - np.sinh(2.0 / T) ** -4.0
    return np.where(T < T_C, np.clip(x, 0.0, None) ** 0.125, 0.0)[()]


def onsager_energy(T):
    """Internal energy per spin of the infinite lattice (Onsager 1944):
    u = −coth(2β)·[1 + (2/π)(2 tanh²(2β) − 1)·K(κ)], κ = 2 sinh(2β) / cosh²(2β), β = 1/T,
    K the complete elliptic integral of the first kind with modulus κ; scipy's ellipk takes
    the parameter m = κ². T: float or array; returns the same shape."""
    b2 = 2.0 / np.asarray(T, dtype=np.float64)
    kappa = 2.0 * np.sinh(b2) / np.cosh(b2) ** 2
    K = ellipk(np.minimum(kappa**2, 1.0))  # κ = 1 at T_c: K diverges, its prefactor is 0
    bracket = 1.0 + (2.0 / np.pi) * (2.0 * np.tanh(b2) ** 2 - 1.0) * K
    bracket = np.where(np.isfinite(K), bracket, 1.0)  # the limit at T_c: u(T_c) = −√2
    return (-bracket / np.tanh(b2))[()]


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

_IN_PLANE = np.zeros((3, 3, 3), bool)  # 4-connectivity within each lattice, none across lattices
_IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)


def swendsen_wang(spins: np.ndarray, T: float, rng: np.random.Generator) -> None:
    """One Swendsen–Wang update of every lattice, in place. spins: int8 (n, L, L).

    Each bond between equal spins is frozen with probability 1 − exp(−2/T); every cluster of
    frozen bonds is flipped with probability ½ (Swendsen & Wang 1987). This is the Wolff
    update's Fortuin–Kasteleyn construction applied to all clusters at once: the cluster of a
    random site has Wolff's distribution. Clusters are labelled for all lattices in one
    scipy.ndimage.label pass on a (n, 2L, 2L) image whose odd pixels are the frozen bonds; the
    bonds that wrap round the periodic boundary then merge labels in a small graph.
    """
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


def _check_lattice(L: int, T: float) -> None:
    if not isinstance(L, (int, np.integer)) or L < 2 or L % 2:
        raise GrokscanError(f"L must be an even integer ≥ 2 (checkerboard updates), got {L!r}")
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
    """Mean |m| and e = E/L² per spin over independent lattices, with standard errors
    (std / √n, ddof 1). spins: (n, L, L)."""
    n, L, _ = spins.shape
    m = np.abs(magnetization(spins))
    e = energy(spins) / (L * L)
    se = (lambda x: float(x.std(ddof=1) / math.sqrt(n))) if n > 1 else (lambda x: math.nan)
    return {
        "abs_m": float(m.mean()),
        "abs_m_se": se(m),
        "energy": float(e.mean()),
        "energy_se": se(e),
        "n": n,
    }


def _progress(total: int, enabled: bool, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit=unit, leave=False)


# ---------------------------------------------------------------- the classification data set


@dataclass(frozen=True)
class IsingDataConfig:
    """How a data set is made (REFERENCE.md §5); stored as JSON in the file's attributes."""

    L: int = 8  # lattice side; the paper uses 8 × 8
    n_train: int = 4000  # training lattices, split equally over the bins (paper: 1000 per bin)
    n_test: int = 1000  # "random spin" test lattices, made the same way, split equally
    bins: tuple[tuple[int, int], ...] = ((-120, -92), (-88, -60), (-56, -28), (-24, 4))
    # ^ inclusive energy ranges; label k is bins[k] (the paper numbers the classes 1–4)
    n_flip: int = 5  # spins flipped per training lattice for the n-inverted test set
    seed: int = 0  # the only source of randomness
    T_start: float = 8.0  # annealing: temperature of the first Metropolis sweep …
    T_end: float = 0.5  # … and of the last, geometric in between
    n_sweeps: int = 64  # sweeps in the annealing schedule; energies are read every half sweep

    def __post_init__(self):
        object.__setattr__(self, "bins", tuple((int(lo), int(hi)) for lo, hi in self.bins))

    def levels(self) -> list[np.ndarray]:
        """The attainable energies of each bin: multiples of 4, minus ±(2L² − 4), which no
        lattice on a torus has (the smallest excitation breaks 4 bonds)."""
        top = 2 * self.L**2
        out = []
        for lo, hi in self.bins:
            e = np.arange(math.ceil(lo / 4) * 4, hi + 1, 4)
            out.append(e[(np.abs(e) <= top) & (np.abs(e) != top - 4)])
        return out

    def validate(self) -> None:
        _check_lattice(self.L, self.T_start)
        _check_lattice(self.L, self.T_end)
        if self.T_end > self.T_start:
            raise GrokscanError(
                f"the schedule must cool: T_start {self.T_start} < T_end {self.T_end}"
            )
        k = len(self.bins)
        if k < 1:
            raise GrokscanError("bins: need at least one energy bin")
        for name in ("n_train", "n_test"):
            v = getattr(self, name)
            if v < k or v % k:
                raise GrokscanError(f"{name} = {v} must be a positive multiple of {k} bins")
        flat = [x for b in sorted(self.bins) for x in b]
        if any(lo > hi for lo, hi in self.bins) or flat != sorted(flat):
            raise GrokscanError(f"bins must be non-overlapping (lo, hi) with lo ≤ hi: {self.bins}")
        for (lo, hi), lev in zip(self.bins, self.levels()):
            if lev.size == 0:
                raise GrokscanError(
                    f"bin [{lo}, {hi}] holds no energy an {self.L}×{self.L} "
                    "lattice can have (E is a multiple of 4)"
                )
        if not 0 <= self.n_flip <= self.L**2:
            raise GrokscanError(f"n_flip must be in [0, L² = {self.L**2}], got {self.n_flip}")
        if self.n_sweeps < 1:
            raise GrokscanError(f"n_sweeps must be ≥ 1, got {self.n_sweeps}")

    def label(self, E: np.ndarray) -> np.ndarray:
        """Bin index of each energy, −1 where it is in no bin. E: int (n,). Returns int8 (n,)."""
        y = np.full(np.shape(E), -1, np.int8)
        for k, (lo, hi) in enumerate(self.bins):
            y[(E >= lo) & (E <= hi)] = k
        return y


@dataclass(frozen=True)
class IsingData:
    """A data set: for each split ``x`` int8 (n, L, L) ±1, ``y`` int8 (n,) bin labels 0…k−1,
    ``energy`` int16 (n,); ``inverted_source`` int32 (n_inverted,) is the training lattice each
    inverted lattice was made from. ``n_dropped``: inverted lattices whose energy left every
    bin (not kept)."""

    config: IsingDataConfig
    train_x: np.ndarray
    train_y: np.ndarray
    train_energy: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    test_energy: np.ndarray
    inverted_x: np.ndarray
    inverted_y: np.ndarray
    inverted_energy: np.ndarray
    inverted_source: np.ndarray
    n_dropped: int = 0
    meta: dict = field(default_factory=dict)  # file attributes other than the above

    def xy(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Inputs for an MLP: (float32 (n, L²) of ±1, int64 (n,) labels) of one split."""
        if split not in SPLITS:
            raise GrokscanError(f"split must be one of {SPLITS}, got {split!r}")
        x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
        return x.reshape(len(x), -1).astype(np.float32), y.astype(np.int64)


def _quota(n_per_bin: int, levels: list[np.ndarray], rng) -> dict[int, int]:
    """Lattices wanted at each energy: n_per_bin per bin, spread evenly over its levels, the
    remainder given to randomly chosen levels."""
    want = {}
    for lev in levels:
        extra = set(rng.choice(lev.size, n_per_bin % lev.size, replace=False).tolist())
        for i, E in enumerate(lev):
            want[int(E)] = n_per_bin // lev.size + (i in extra)
    return want


def _anneal(cfg: IsingDataConfig, n_total: int, rng, progress: bool) -> np.ndarray:
    """n_total lattices, each from its own random start, with energies spread evenly over the
    levels of every bin (see :func:`generate`). Returns int8 (n_total, L, L), sorted by energy."""
    want = _quota(n_total // len(cfg.bins), cfg.levels(), rng)
    got: dict[int, list[np.ndarray]] = {E: [] for E in want}
    Ts = cfg.T_start * (cfg.T_end / cfg.T_start) ** np.linspace(0, 1, cfg.n_sweeps)
    bar = _progress(n_total, progress, "lattices")
    for _ in range(100):  # rounds of fresh chains for the levels still short
        short = {E: k - len(got[E]) for E, k in want.items() if len(got[E]) < k}
        if not short:
            break
        # two chains per missing lattice (at least 8): most levels are hit by over half
        target = np.repeat(list(short), [max(2 * d, 8) for d in short.values()])
        blocks = _to_blocks(random_spins(target.size, cfg.L, rng))
        caught = np.zeros(target.size, bool)
        for T in Ts:
            th = _thresholds(1.0 / T)
            for colour in (0, 1):
                _half_sweep(blocks, colour, th, rng)
                E = _blocks_energy(blocks)
                hit = (E == target) & ~caught
                for i in np.flatnonzero(hit):
                    if len(got[target[i]]) < want[target[i]]:
                        got[target[i]].append(_from_blocks(blocks[:, :, i : i + 1])[0])
                        bar.update()
                caught |= hit  # a chain gives at most one lattice
    bar.close()
    missing = {E: k - len(got[E]) for E, k in want.items() if len(got[E]) < k}
    if missing:
        raise GrokscanError(
            f"annealing never reached these energies (E: lattices short): "
            f"{missing}; try more n_sweeps or other bins"
        )
    return np.stack([x for E in sorted(got) for x in got[E]])


def generate(cfg: IsingDataConfig = IsingDataConfig(), *, progress: bool = False) -> IsingData:
    """Make the data set of REFERENCE.md §5 (Hutchison & Yevick, arXiv:2510.25966).

    Training and test lattices are made the same way, from independent random streams: every
    lattice is the state of its own chain (random start, then checkerboard Metropolis with a
    geometric temperature schedule T_start → T_end over n_sweeps sweeps) at the first half
    sweep where the chain's energy equals the level it was assigned. Each bin gets an equal
    share, spread evenly over the energies a lattice can have in it (on 8 × 8 every bin holds
    8 levels, so 125 training lattices per level); chains that miss their level are discarded
    and fresh ones started. The n-inverted set flips n_flip distinct random spins of every
    training lattice and relabels it by its new energy; a lattice whose energy leaves every
    bin is dropped (n_dropped counts them; on the default set they come almost all from the
    top bin, whose upper edge E = 4 is near the energy of random spins).

    The lowest levels have few distinct lattices (E = −120 on 8 × 8: one flipped spin, 128
    lattices), so repeats within and across the splits are unavoidable there.
    """
    cfg.validate()
    train_ss, test_ss, inv_ss = np.random.SeedSequence(cfg.seed).spawn(3)
    x = {}
    for name, ss, n in (("train", train_ss, cfg.n_train), ("test", test_ss, cfg.n_test)):
        rng = np.random.default_rng(ss)
        x[name] = _anneal(cfg, n, rng, progress)
        x[name] = x[name][rng.permutation(n)]  # no order by energy or label
    rng = np.random.default_rng(inv_ss)
    n, L = cfg.n_train, cfg.L
    sites = np.argsort(rng.random((n, L * L)), axis=1)[:, : cfg.n_flip]  # n_flip distinct sites
    flipped = x["train"].reshape(n, L * L).copy()
    np.put_along_axis(flipped, sites, -np.take_along_axis(flipped, sites, 1), 1)
    flipped = flipped.reshape(n, L, L)
    E_inv = energy(flipped)
    keep = cfg.label(E_inv) >= 0
    E = {k: energy(v) for k, v in x.items()}
    return IsingData(
        config=cfg,
        train_x=x["train"],
        train_y=cfg.label(E["train"]),
        train_energy=E["train"].astype(np.int16),
        test_x=x["test"],
        test_y=cfg.label(E["test"]),
        test_energy=E["test"].astype(np.int16),
        inverted_x=flipped[keep],
        inverted_y=cfg.label(E_inv[keep]),
        inverted_energy=E_inv[keep].astype(np.int16),
        inverted_source=np.flatnonzero(keep).astype(np.int32),
        n_dropped=int((~keep).sum()),
    )


# ---------------------------------------------------------------- the file (ISING_DATA.md)


def save_ising(path: str | Path, data: IsingData) -> None:
    """Write a data set to an HDF5 file in the format of ISING_DATA.md (overwrites ``path``)."""
    with h5py.File(path, "w") as f:
        f.attrs.update(
            format=FORMAT_NAME,
            format_version=FORMAT_VERSION,
            grokscan_version=__version__,
            config=json.dumps(asdict(data.config)),
            n_dropped=data.n_dropped,
        )
        for split in SPLITS:
            g = f.create_group(split)
            for key, ds in (("spins", "x"), ("label", "y"), ("energy", "energy")):
                a = getattr(data, f"{split}_{ds}")
                # ±1 int8 lattices compress ~5× with gzip after shuffle; labels and energies too
                g.create_dataset(key, data=a, compression="gzip", compression_opts=9, shuffle=True)
        f["inverted"].create_dataset("source", data=data.inverted_source, compression="gzip")


_DTYPES = {"spins": np.int8, "label": np.int8, "energy": np.int16, "source": np.int32}


def _config_from_json(text, where: str) -> IsingDataConfig:
    """The IsingDataConfig stored as JSON; FileFormatError starting with ``where`` if not."""
    try:
        cfg = json.loads(text)
        return IsingDataConfig(**{**cfg, "bins": tuple(map(tuple, cfg["bins"]))})
    except (KeyError, TypeError, ValueError) as err:
        raise FileFormatError(f"{where} ({err})") from None


def load_ising(path: str | Path) -> IsingData:
    """Read and check a data set written by :func:`save_ising`. Raises FileFormatError naming
    the file (and the HDF5 path) when it is missing, not HDF5, not a grokscan Ising file, of
    an unknown version, or inconsistent."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise FileFormatError(f"{path}: not an HDF5 file ({err})") from None
    with f:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT_NAME:
            found = "missing" if fmt is None else f"'{fmt}'"
            raise FileFormatError(
                f"{path}: not a grokscan Ising data set (format attribute "
                f"{found}, expected '{FORMAT_NAME}')"
            )
        version = f.attrs.get("format_version")
        if version != FORMAT_VERSION:
            raise FileFormatError(
                f"{path}: unknown {FORMAT_NAME} format_version {version}; "
                f"this grokscan reads version {FORMAT_VERSION}"
            )
        cfg = _config_from_json(f.attrs.get("config"), f"{path}: unreadable 'config' attribute")
        arrays = {}
        for split, key in _KEYS:
            name = f"/{split}/{key}"
            if not isinstance(f.get(name), h5py.Dataset):
                raise FileFormatError(f"{path}: missing dataset {name}")
            arrays[split, key] = f[name][()]
        meta = {k: v for k, v in f.attrs.items() if k not in ("config", "n_dropped")}
        n_dropped = int(f.attrs.get("n_dropped", 0))
    return _assemble(cfg, arrays, n_dropped, meta, where=str(path), name="/{}/{}")


_KEYS = [(s, k) for s in SPLITS for k in ("spins", "label", "energy")] + [("inverted", "source")]


def _assemble(cfg, arrays: dict, n_dropped: int, meta: dict, *, where: str,
              name: str) -> IsingData:
    """An IsingData from ``arrays[split, key]``, checked for dtypes, shapes and ±1 spins.
    ``where`` and ``name`` (a format string of split and key) locate a problem in the error."""
    for (split, key), a in arrays.items():
        if a.dtype != _DTYPES[key]:
            raise FileFormatError(f"{where}: {name.format(split, key)} has dtype {a.dtype}, "
                                  f"expected {np.dtype(_DTYPES[key])}")
    L = cfg.L
    for split in SPLITS:
        x, y, E = (arrays[split, k] for k in ("spins", "label", "energy"))
        if x.ndim != 3 or x.shape[1:] != (L, L) or y.shape != (len(x),) or E.shape != y.shape:
            raise FileFormatError(
                f"{where}: {name.format(split, '*')} shapes spins {x.shape}, label {y.shape}, "
                f"energy {E.shape}; expected (n, {L}, {L}), (n,), (n,)"
            )
        if not np.all(np.abs(x) == 1):
            raise FileFormatError(
                f"{where}: {name.format(split, 'spins')} holds values other than ±1")
    if arrays["inverted", "source"].shape != arrays["inverted", "label"].shape:
        raise FileFormatError(f"{where}: {name.format('inverted', 'source')} and "
                              f"{name.format('inverted', 'label')} differ in length")
    a = {f"{split}_{key}": v for (split, key), v in arrays.items()}
    return IsingData(
        config=cfg,
        train_x=a["train_spins"],
        train_y=a["train_label"],
        train_energy=a["train_energy"],
        test_x=a["test_spins"],
        test_y=a["test_label"],
        test_energy=a["test_energy"],
        inverted_x=a["inverted_spins"],
        inverted_y=a["inverted_label"],
        inverted_energy=a["inverted_energy"],
        inverted_source=a["inverted_source"],
        n_dropped=n_dropped,
        meta=meta,
    )


def parse_bins(text: str | Iterable[str]) -> tuple[tuple[int, int], ...]:
    """'-120:-92,-88:-60' → ((-120, -92), (-88, -60)); GrokscanError on anything else."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        bins = tuple(tuple(int(v) for v in p.split(":")) for p in parts if p.strip())
    except ValueError:
        bins = ()
    if not bins or any(len(b) != 2 for b in bins):
        raise GrokscanError(f"bins: expected 'lo:hi,lo:hi,…' with integers, got {text!r}")
    return bins


# ---------------------------------------------------------------- the data of a training run

# data/ising8.h5 beside the package: present in a source checkout and an editable install
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "ising8.h5"
GENERATED = "generated: IsingDataConfig() defaults, seed 0"  # the source of the fallback


def training_data(path: str | Path | None = None) -> tuple[IsingData, str]:
    """The data set a run trains on, and where it came from (a path, or GENERATED).

    ``path`` if given. Without one, the shipped data/ising8.h5 when the package sits in a
    source checkout (or an editable install); otherwise, as from a wheel, the same data set
    generated on the spot from ``IsingDataConfig()`` (seed 0): generation is deterministic and
    takes about a second, and gives the shipped file's arrays exactly.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileFormatError(
                f"--data {path}: no such file (make one with `grokscan ising generate -o {path}`)"
            )
        return load_ising(path), str(path)
    if SHIPPED.is_file():
        return load_ising(SHIPPED), str(SHIPPED)
    return generate(IsingDataConfig()), GENERATED


@dataclass(frozen=True)
class IsingTask:
    """An Ising data set as the ``/task`` group of a checkpoint file (store/SCHEMA.md): every
    split in full, so that the file alone rebuilds the data; ``source`` says where it came
    from (informational only)."""

    data: IsingData
    source: str

    def write_to(self, g: h5py.Group) -> None:
        d = self.data
        g.attrs.update(kind="ising", config=json.dumps(asdict(d.config)),
                       n_dropped=d.n_dropped, source=self.source)
        for split, key in _KEYS:
            a = getattr(d, f"{split}_{_FIELDS[key]}")
            # small (≈ 0.6 MB for the default set) and ±1 int8 compresses ~5× after shuffle
            g.create_dataset(f"{split}_{key}", data=a, compression="gzip", shuffle=True)

    @classmethod
    def from_task(cls, task: dict, where: str = "/task") -> IsingTask:
        """Rebuild from the dict a checkpoint file's ``/task`` group reads back as
        (``Run.task``); FileFormatError naming the missing or inconsistent dataset."""
        missing = [f"{s}_{k}" for s, k in _KEYS if f"{s}_{k}" not in task]
        if missing or "config" not in task:
            raise FileFormatError(f"{where}: an Ising task without "
                                  f"{', '.join(missing or ['the config attribute'])}")
        cfg = _config_from_json(task["config"], f"{where}: unreadable 'config' attribute")
        arrays = {(s, k): np.asarray(task[f"{s}_{k}"]) for s, k in _KEYS}
        data = _assemble(cfg, arrays, int(task.get("n_dropped", 0)), {}, where=where,
                         name="{}_{}")
        source = task.get("source", "")
        return cls(data, source.decode() if isinstance(source, bytes) else str(source))

    def summary(self) -> dict:
        """Sizes for ``grokscan info``."""
        d = self.data
        return {"kind": "ising", "L": d.config.L, "n_classes": len(d.config.bins),
                **{f"n_{s}": len(getattr(d, f"{s}_y")) for s in SPLITS},
                "n_flip": d.config.n_flip, "source": self.source}


_FIELDS = {"spins": "x", "label": "y", "energy": "energy", "source": "source"}
