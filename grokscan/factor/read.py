"""Read the factors of a composite modulus P off a network's last-layer weights.

Salah & Yevick, arXiv:2411.05353 §3.3–3.4. A network trained on (a + b) mod P writes, in the
row W[q] of its last layer for output class q, a sum of learned frequencies:
W[q] ≈ Σ_k (cos(2πkq/P) a_k + sin(2πkq/P) b_k) + noise, with a_k, b_k vectors in hidden space.
In a plane holding one frequency k the P rows sit on a circle at the angles 2πkq/P. If
gcd(k, P) = d > 1 those are only m = P/d distinct angles: m clusters of d rows, each cluster one
residue class mod m. Such a pattern, read off the weights, shows m and P/m; the patterns
together give the prime factorisation the weights support (see FactorReport).

Projections read, each a set of P points in a plane:

- ``PC0-PC1``, ``PC2-PC3``, ``PC4-PC5``: principal-component scores of the centred rows, even
  against odd, as in the paper's figures; read when the pair holds MIN_SHARE of the variance.
- ``freq k plane``, for each strong frequency k (MIN_SHARE of the variance, and NOISE_RATIO
  above the noise floor of the spectrum): each row's coordinates on a_k, b_k, fitted by least
  squares on all strong frequencies at once, so that the others do not leak into the plane
  (random hidden vectors overlap by ~1/√h; fitting each plane alone read P = 20 with k = 2, 4,
  5, 10 exactly in 0 of 40 seeds at σ = 0.02, against 40 of 40). Near-degenerate eigenvalues
  mix frequencies within a PC pair; these planes keep them apart. On the line k = P/2
  (sin(πq) = 0) the coordinate α, scaled to median modulus 1, is mapped to the angle
  π(1 - α)/2, so that α = 1 → 0 and α = -1 → π.

  Row q is placed in a basis a_k, b_k estimated from the *other* rows, centred on their own
  mean (leave-one-out). Otherwise the reading is circular: row q's own share of
  C_k = Σ_q cos(2πkq/P) W[q] pulls it towards its own Fourier angle, and any matrix shows the
  frequency-k clusters in its own frequency-k plane. Projected on span{C_k, S_k} directly,
  random weights (h = 256) gave a complete factorisation of P = 20 and of P = 21 in 98 of 100
  seeds; with the row left out but the overall mean (which holds row q) used for centring, 59
  and 100 of 100 at h = 64 (both with the MIN_SHARE selection alone). The noise floor keeps
  random weights out, but not a weak frequency: P = 20, k = 4 at amplitude 0.5 under noise
  σ = 0.1, h = 256, only 2.0 times the floor, shows 5 tight clusters (median ρ 0.54) in 20 of
  20 seeds when projected directly, and even at amplitude 0.1 (1.1 times the floor) in 10.

Clustering, with the number of clusters chosen by the data: sort the P angles on the circle;
cutting at the m largest gaps gives m arcs, for every m = 2..P-1; the quality of a cut is

    ρ(m) = (largest angular spread of an arc) / (smallest gap between arcs),

small for tight, well-separated clusters. A cut is evidence when

(a) ρ < MAX_QUALITY: the clusters are tight against their separation;
(b) every arc holds P/m rows (so m divides P);
(c) each arc's residues are one class mod m;
(d) randomly labelled points would make residue classes of these arcs with probability
    m!·((P/m)!)^m / P! < MAX_CHANCE. This is what (c) is worth: 1/3 for P = 4, 2e-9 for P = 20
    and m = 4. Without (d), random weights gave "factors" of P = 4 in 81-109 of 300 seeds, of
    P = 6 in 22-23, of P = 8 in 1-2 (h = 16, 64, 256). It leaves P ≤ 10 unreadable, and m = 2
    for P = 12.

Of the cuts of a projection that pass, the tightest is kept; a projection with none reports
its tightest cut into equal arcs and the condition that failed.

The experiments behind the thresholds use constructed weights: h = 64, hidden vectors with
entries N(0, 1/h) (norm ≈ 1), amplitude 1 per frequency, a random phase, and Gaussian noise of
standard deviation σ on every entry of W; σ is then about the angular noise in radians.
Limit: if more than about three quarters of the frequencies carry signal, the floor (the median
of the weaker half) is itself signal and no frequency plane is read; the PC pairs still are,
but mix frequencies (P = 20 with all of k = 1..10 was read in 0 of 120 seeds, σ ≤ 0.05). The
leave-one-out fit would fail there too: with strong frequencies filling nearly all P - 1
Fourier dimensions it is exactly determined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from math import exp, gcd, lgamma, prod

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.groups import prime_factors
from grokscan.store.layout import logit_map
from grokscan.store.reader import Run

# ρ of the true cut grows with σ: median 0.04-0.10 at σ = 0.02, 0.10-0.29 at 0.05, 0.2-0.5 at
# 0.08. ρ < 1 says that every gap between clusters is wider than every cluster. P = 20 with
# k = 2, 4, 5, 10 together, 40 seeds, all four planes read exactly: at σ = 0.08, 21/30/37 with
# limits 0.5/0.7/1.0; at σ = 0.1, 6/18/29 (40/40 up to σ = 0.07 with 1.0; sweep in
# tests/test_factor.py). No cluster with a wrong member was accepted in any run, and random
# weights (P = 4..35, h = 4..256, 300 seeds each), frequencies coprime to P and prime P never
# passed (b)-(d) with ρ < 1: (c) and (d) carry the protection; ρ says that clusters are visible.
MAX_QUALITY = 1.0
# Chance that random labels make the arcs residue classes; see condition (d) above.
MAX_CHANCE = 1e-3
# A projection is read only if it holds this share of the variance of the centred rows. A
# frequency coprime to P still takes part in the joint fit of the frequency planes.
MIN_SHARE = 0.05
# A frequency plane is read only if its variance per dimension (1 on the line k = P/2, else 2) is
# at least this multiple of the noise floor: the median of the weaker half of the values over k =
# 1..⌊P/2⌋. Not the median of all: a network trained on a small P can put its weight on half of
# its few frequencies (P = 12, 3 of 6: k = 2, 4, 5 at 26 %, 26 %, 36 % of the variance), and the
# median then falls between them (ratio 1.7 for k = 2 and 4: unread; 8.0 with this floor). That
# run (P = 12, seed 2, lr 3e-3, weight decay 3) read nothing at any of its 76 checkpoints with the
# median; with this floor 2^2 · 3 from step 500 on. Random weights reach at most 3.6 for h ≥ 16
# (6.8 at h = 8, 12 at h = 4; with the median of all: 2.8, 4.7, 6.8), P = 12..40 with 300 seeds
# each and 53, 64, 97, 113 with 60; a learned frequency stands far above. Still, (b)-(d) carry the
# protection: with this floor, random weights gave no factor in any of 300 seeds for each P =
# 4..40 and h = 4, 8, 16, 32, 64, 256. Without a floor, random weights with h near P gave even/odd
# "clusters" on the line k = P/2 in up to 4 of 300 seeds (P = 18, h = 16).
NOISE_RATIO = 4.0
N_PC_PAIRS = 3


@dataclass(frozen=True)
class Evidence:
    """One projection and its tightest cut: the accepted one, or the best of a rejected one."""

    projection: str  # "PC0-PC1" or "freq 4 plane"
    share: float  # share of the variance of the centred rows held by this projection
    n_clusters: int  # m, the number of arcs of the cut
    cluster_size: int  # P / m (0 when the projection has no cut into equal arcs)
    residues: tuple[tuple[int, ...], ...]  # rows q of each arc, ascending, arcs by first row
    quality: float  # ρ: largest angular spread of an arc / smallest gap between arcs
    chance: float  # m!·((P/m)!)^m / P!, condition (d); 1 when there is no cut
    accepted: bool  # passes (a)-(d) of the module docstring
    reason: str  # why not accepted; "" when accepted
    points: np.ndarray = field(repr=False, compare=False)  # (P, 2) coordinates of the rows

    def to_json(self) -> dict:
        """Everything but the coordinates, as JSON types."""
        return {
            "projection": self.projection,
            "share": self.share,
            "n_clusters": self.n_clusters,
            "cluster_size": self.cluster_size,
            "residues": [list(r) for r in self.residues],
            "quality": self.quality if np.isfinite(self.quality) else None,
            "chance": self.chance,
            "accepted": self.accepted,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FactorReport:
    """What the weights say about the factors of P.

    The divisors shown by the accepted patterns are refined into pairwise coprime pieces (a piece
    shared by two divisors is split off until none share a factor), and P = ∏ piece^exponent.
    A piece that is a prime power p^j gives ``factors[p] = j·exponent``: the weights isolate the
    full power of p in P. A composite piece that is not a prime power (6, when the only pattern of
    P = 30 shows 5 | P) goes to ``unresolved``: the weights do not split it.
    """

    p: int  # the modulus P
    found: bool  # at least one accepted pattern
    complete: bool  # found, and nothing unresolved: ∏ p^e over ``factors`` equals P
    factors: dict[int, int]  # prime -> exponent in P, for the pieces that are prime powers
    unresolved: dict[int, int]  # composite coprime piece -> exponent
    divisors: tuple[int, ...]  # every m and P / m of an accepted pattern, ascending
    evidence: tuple[Evidence, ...]  # accepted readings
    rejected: tuple[Evidence, ...]  # the other projections read, each with its reason

    def to_json(self) -> dict:
        return {
            "p": self.p,
            "found": self.found,
            "complete": self.complete,
            "factors": {str(q): e for q, e in self.factors.items()},
            "unresolved": {str(q): e for q, e in self.unresolved.items()},
            "divisors": list(self.divisors),
            "evidence": [e.to_json() for e in self.evidence],
            "rejected": [e.to_json() for e in self.rejected],
        }

    def summary(self) -> str:
        """One line, e.g. "P = 20 = 2^2 · 5", or "P = 30 = 5 · (6) (partial)"."""
        if not self.found:
            return f"P = {self.p}: no factors read"
        parts = [f"{q}^{e}" if e > 1 else f"{q}" for q, e in sorted(self.factors.items())]
        parts += [f"({c})^{e}" if e > 1 else f"({c})" for c, e in sorted(self.unresolved.items())]
        return f"P = {self.p} = {' · '.join(parts)}" + ("" if self.complete else " (partial)")


def read_factors(W, *, p: int | None = None) -> FactorReport:
    """Read the factors of P off a last-layer weight matrix (see the module docstring).

    Parameters
    ----------
    W : array of shape (P, h)
        One row per output class q = 0..P-1, as in ``torch.nn.Linear(h, P).weight``.
    p : int, optional
        The modulus; checked against ``W.shape[0]`` when given.

    Returns a :class:`FactorReport`; ``found`` is False when no projection shows residue-class
    clusters: P prime, random or untrained weights, only frequencies coprime to P, P ≤ 10.
    """
    X = _check_weights(W, p)
    P = X.shape[0]
    X = X - X.mean(axis=0)  # (P, h)
    total = float(np.sum(X**2))
    readings = [_read(*proj) for proj in _projections(X, total)] if total > 0 else []
    evidence = tuple(e for e in readings if e.accepted)
    divisors = sorted({d for e in evidence for d in (e.n_clusters, P // e.n_clusters)})
    factors, unresolved = _factorise(P, divisors)
    return FactorReport(
        p=P,
        found=bool(evidence),
        complete=bool(evidence) and not unresolved,
        factors=factors,
        unresolved=unresolved,
        divisors=tuple(divisors),
        evidence=evidence,
        rejected=tuple(e for e in readings if not e.accepted),
    )


def _check_weights(W, p: int | None) -> np.ndarray:
    a = np.asarray(W)
    if a.dtype.kind not in "fiu":
        raise GrokscanError(f"W: expected a numeric array, got dtype {a.dtype}")
    if a.ndim != 2:
        raise GrokscanError(f"W: expected a 2-D array of shape (P, h), got shape {a.shape}")
    if p is not None and a.shape[0] != p:
        hint = "; transposed? rows must be the output classes" if a.shape[1] == p else ""
        raise GrokscanError(f"W: expected {p} rows, one per class q mod P = {p}, got shape "
                            f"{a.shape}{hint}")
    if a.shape[0] < 2 or a.shape[1] < 1:
        raise GrokscanError(f"W: expected at least 2 rows and 1 column, got shape {a.shape}")
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise GrokscanError(f"W: expected finite values, found {a[where]} at {where} "
                            f"({len(bad)} non-finite entries)")
    return a.astype(np.float64)


def _projections(X: np.ndarray, total: float):
    """Yield (name, share, points (P, 2), angles (P,)) for each projection read."""
    P = X.shape[0]
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    scores = np.zeros((P, 2 * N_PC_PAIRS))  # zero-padded when rank < 6
    n = min(scores.shape[1], s.size)
    scores[:, :n] = U[:, :n] * s[:n]
    for i in range(N_PC_PAIRS):
        pts = scores[:, 2 * i : 2 * i + 2]
        pc_share = float(np.sum(pts**2)) / total
        if pc_share >= MIN_SHARE:
            yield f"PC{2 * i}-PC{2 * i + 1}", pc_share, pts, np.arctan2(pts[:, 1], pts[:, 0])

    # Fourier rows: X[q] = cos·a_k + sin·b_k gives (2/P)·C_k = a_k, and P^-1·C_k = a_k on the
    # line k = P/2; `share` is then each frequency's part of Σ_q ‖X[q]‖² (Parseval).
    q = np.arange(P)
    fourier, share, per_dim = {}, {}, {}
    for k in range(1, P // 2 + 1):
        line = 2 * k == P
        c, sn = np.cos(2 * np.pi * k * q / P), np.sin(2 * np.pi * k * q / P)
        fourier[k] = np.stack([c / P] if line else [2 * c / P, 2 * sn / P])  # (1 or 2, P)
        share[k] = float(np.sum((fourier[k] @ X) ** 2)) * (P if line else P / 2) / total
        per_dim[k] = share[k] / len(fourier[k])
    floor = _noise_floor(np.array(list(per_dim.values())))
    strong = [k for k in share if share[k] >= MIN_SHARE and per_dim[k] >= NOISE_RATIO * floor]
    if not strong:
        return
    basis = np.concatenate([fourier[k] for k in strong])  # (n_b, P)
    freq = np.concatenate([[k] * len(fourier[k]) for k in strong])  # (n_b,)
    coords = np.zeros((P, len(basis)))
    for r in range(P):
        others = np.delete(q, r)
        mu = X[others].mean(axis=0)  # (h,)
        G = basis[:, others] @ (X[others] - mu)  # (n_b, h): a_k, b_k from the other rows
        coords[r] = np.linalg.lstsq(G.T, X[r] - mu, rcond=None)[0]
    for k in strong:
        pts = np.zeros((P, 2))
        pts[:, : np.sum(freq == k)] = coords[:, freq == k]
        pts /= max(float(np.median(np.hypot(pts[:, 0], pts[:, 1]))), 1e-300)  # radius ≈ 1
        if 2 * k == P:
            theta = np.pi * (1 - pts[:, 0]) / 2
        else:
            theta = np.arctan2(pts[:, 1], pts[:, 0])
        yield f"freq {k} plane", share[k], pts, theta


def _noise_floor(per_dim: np.ndarray) -> float:
    """The noise floor of a spectrum: the median of its weaker half (see NOISE_RATIO)."""
    return float(np.median(np.sort(per_dim)[: (per_dim.size + 1) // 2]))


def _cuts(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut the circle of angles at its m largest gaps, for m = 2..P-1.

    Returns (order, by_size, m, rho): ``order`` (P,) sorts the angles, gap i runs from sorted
    point i to i + 1, ``by_size`` (P,) ranks the gaps largest first, and rho[j] is ρ of the cut
    into m[j] arcs.
    """
    P = theta.size
    t = np.mod(theta, 2 * np.pi)
    order = np.argsort(t, kind="stable")
    gaps = np.diff(np.append(t[order], t[order[0]] + 2 * np.pi))  # (P,)
    by_size = np.argsort(-gaps, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(gaps)])  # spread of sorted points a..b: cum[b] - cum[a]
    ms = np.arange(2, P)
    rho = np.empty(ms.size)
    for j, m in enumerate(ms):
        ends = np.sort(by_size[:m])  # arc i ends at sorted point ends[i]
        starts = np.roll(ends + 1, 1) % P
        spread = np.where(starts <= ends, cum[ends] - cum[starts],
                          cum[P] - cum[starts] + cum[ends])
        gap = gaps[by_size[m - 1]]
        rho[j] = spread.max() / gap if gap > 0 else np.inf  # a cut between coinciding points
    return order, by_size, ms, rho


def _arcs(order: np.ndarray, by_size: np.ndarray, m: int) -> tuple[tuple[int, ...], ...]:
    """The rows of each arc when the circle is cut at its m largest gaps, as in Evidence."""
    P = order.size
    ends = np.sort(by_size[:m])
    starts = np.roll(ends + 1, 1) % P
    arcs = [order[np.arange(a, b + 1 if a <= b else b + 1 + P) % P] for a, b in zip(starts, ends)]
    return tuple(sorted(tuple(sorted(int(r) for r in arc)) for arc in arcs))


def _chance(P: int, m: int) -> float:
    """m!·((P/m)!)^m / P!: probability that random labels make m arcs of P/m residue classes."""
    return exp(lgamma(m + 1) + m * lgamma(P // m + 1) - lgamma(P + 1))


def _judge(P: int, rho: float, residues) -> tuple[float, str]:
    """(chance, reason) of a cut into equal arcs; reason "" when it passes (a), (c) and (d)."""
    m = len(residues)
    chance = _chance(P, m)
    if rho >= MAX_QUALITY:
        return chance, f"clusters not tight: quality {rho:.2f} >= {MAX_QUALITY}"
    if any(len({x % m for x in r}) > 1 for r in residues):
        return chance, f"clusters are not residue classes mod {m}"
    if chance >= MAX_CHANCE:
        return chance, f"residue classes that chance gives with probability {chance:.1e}"
    return chance, ""


def _read(name: str, share: float, points: np.ndarray, theta: np.ndarray) -> Evidence:
    """The tightest cut into equal arcs that passes (a)-(d); else the tightest into equal arcs."""
    P = theta.size
    order, by_size, ms, rho = _cuts(theta)
    tightest = None
    for j in np.argsort(rho, kind="stable"):
        m = int(ms[j])
        ends = np.sort(by_size[:m])
        if np.ptp(np.diff(np.append(ends, ends[0] + P))):
            continue  # arcs of unequal size, condition (b)
        residues = _arcs(order, by_size, m)
        chance, reason = _judge(P, float(rho[j]), residues)
        e = Evidence(name, share, m, P // m, residues, float(rho[j]), chance, not reason, reason,
                     points)
        if e.accepted:
            return e
        tightest = tightest or e
        if rho[j] >= MAX_QUALITY:
            break  # the cuts left are looser still
    return tightest or Evidence(name, share, 0, 0, (), float("inf"), 1.0, False,
                                "no cut into clusters of equal size", points)


def _factorise(P: int, divisors: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Split P over the coprime pieces of the divisors found; see FactorReport."""
    pieces = {d for d in divisors if d > 1}
    while True:  # gcd refinement: a, b sharing g > 1 become g, a/g, b/g
        pair = next(((a, b) for a, b in combinations(sorted(pieces), 2) if gcd(a, b) > 1), None)
        if pair is None:
            break
        a, b = pair
        g = gcd(a, b)
        pieces = (pieces - {a, b}) | {x for x in (g, a // g, b // g) if x > 1}
    factors, unresolved, rest = {}, {}, P
    for piece in sorted(pieces):
        e = 0
        while rest % piece == 0:
            rest, e = rest // piece, e + 1
        primes = prime_factors(piece)  # names a piece already found; never splits one
        if len(primes) == 1:
            j, x = 0, piece
            while x > 1:
                x, j = x // primes[0], j + 1
            factors[primes[0]] = j * e
        else:
            unresolved[piece] = e
    if pieces and (rest != 1 or prod(q**e for q, e in factors.items())
                   * prod(c**e for c, e in unresolved.items()) != P):
        raise AssertionError(f"unreachable: pieces {sorted(pieces)} do not make up P = {P}")
    return factors, unresolved


# --- reading a checkpoint file ----------------------------------------------------------------

# Operations whose label is a linear form q = αa + βb mod P: the logits are then functions of q
# on the additive group Z_P, and the rows of the last layer carry its Fourier frequencies (the
# reading above). Polynomial operations and the multiplicative group do not promise that.
LINEAR_OPS = ("add", "sub", "2x+y", "2x-y", "2x+3y", "2x-3y")


@dataclass(frozen=True)
class CheckpointReading:
    """The reading of one checkpoint of a run file."""

    path: str
    step: int  # the optimizer step of the checkpoint
    test_acc: float | None  # recorded test accuracy there (None when not recorded)
    report: FactorReport

    def to_json(self) -> dict:
        return {"path": self.path, "step": self.step, "test_acc": self.test_acc,
                **self.report.to_json()}


def last_layer_rows(run, row: int) -> np.ndarray:
    """The last layer of checkpoint ``row`` of a Run as (P, h): one row per output class q.

    The neuron-logit map W_L (store/SCHEMA.md: ``unembed.W_U`` (width, n_classes) for the MLP,
    ``W_out · W_U`` for the transformer), its first P columns, transposed.
    """
    entries = run.neuron_logit_map
    if not entries:
        raise GrokscanError(f"{run.path}: the model has no recorded last layer "
                            "(no neuron_logit_map attribute)")
    mats = {e["param"]: run.param(e["param"], row).astype(np.float64) for e in entries}
    for name, m in mats.items():
        if not np.isfinite(m).all():
            raise GrokscanError(f"{run.path}: parameter {name} holds NaN or inf at step "
                                f"{run.steps[row]}")
    W = logit_map(mats, entries)
    p = _modular_p(run)
    if W.ndim != 2 or W.shape[1] < p:
        names = " @ ".join(e["param"] for e in entries)
        raise GrokscanError(f"{run.path}: the last layer {names} has shape {W.shape}; "
                            f"expected (width, n_classes ≥ P = {p})")
    return W[:, :p].T


def _modular_p(run) -> int:
    """P of a run whose every operation is a linear form of a and b; else a GrokscanError."""
    res = run.task.residues
    if res is None:
        raise GrokscanError(f"{run.path}: the task is {run.task.kind!r}, not modular arithmetic; "
                            "factors are read from networks trained on (a + b) mod P")
    other = [op for op in res.ops if op not in LINEAR_OPS]
    if other:
        raise GrokscanError(f"{run.path}: operation {other[0]!r} is not a linear form of a and "
                            f"b; factors are read for {', '.join(LINEAR_OPS)}")
    return res.p


def read_checkpoint(path, *, step: int | None = None) -> CheckpointReading:
    """Read the factors of P off checkpoint ``step`` (default: the last) of a run file."""
    with Run(path) as run:
        p = _modular_p(run)
        if p < 2:
            raise GrokscanError(f"{run.path}: P = {p}; factors need P ≥ 2")
        if run.n == 0:
            raise GrokscanError(f"{run.path} holds no checkpoint yet")
        if step is None:
            row = run.n - 1
        else:
            rows = np.flatnonzero(run.steps == step)
            if not rows.size:
                raise GrokscanError(f"{run.path}: no checkpoint at step {step}; the file holds "
                                    f"{run.n} checkpoints, steps {run.steps[0]}..{run.steps[-1]}")
            row = int(rows[0])
        W = last_layer_rows(run, row)
        acc = run.scalars.get("test_acc")
        return CheckpointReading(run.path, int(run.steps[row]),
                                 None if acc is None else float(acc[row]),
                                 read_factors(W, p=p))
