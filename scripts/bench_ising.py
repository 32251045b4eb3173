"""Benchmark of the Ising sampler and the data set (grokscan/tasks/ising.py); prints, not a test.

    .venv/bin/python scripts/bench_ising.py            # flip rates, cluster cost, data set time
    .venv/bin/python scripts/bench_ising.py --relax    # relaxation from a random start

Flip rates: attempted Metropolis flips per second of the vectorised checkerboard sweep, for 64
lattices of 32 × 32 and of 8 × 8, against the same single-site update in a loop over sites
(numba if importable, else plain Python, timed for about a second and extrapolated).
--relax prints how far the mean energy and |m| of 2¹⁹ spins (in lattices of side L) are from
their values at rounds 100–200, in standard errors, after each round (SWEEPS_PER_ROUND sweeps
+ one Swendsen–Wang update) from a random start: the measurement behind default_rounds.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np

from grokscan.tasks import ising

T = 2.269  # near T_c, where half the attempts are accepted: no shortcut helps either side


def single_site_python(spins: list[list[int]], beta: float, n_sweeps: int) -> None:
    """The reference: sequential Metropolis over sites with Python lists and random.random()."""
    L = len(spins)
    acc = {dE: math.exp(-beta * dE) for dE in (4, 8)}
    for _ in range(n_sweeps):
        for i in range(L):
            row, up, down = spins[i], spins[i - 1], spins[(i + 1) % L]
            for j in range(L):
                s = row[j]
                dE = 2 * s * (row[j - 1] + row[(j + 1) % L] + up[j] + down[j])
                if dE <= 0 or random.random() < acc[dE]:
                    row[j] = -s


def reference_rate(L: int) -> tuple[str, float]:
    """Single-site attempts per second: numba if importable, else plain Python."""
    try:
        import numba
    except ImportError:
        spins = [[random.choice((-1, 1)) for _ in range(L)] for _ in range(L)]
        sweeps = max(1, 200_000 // (L * L))
        t0 = time.perf_counter()
        single_site_python(spins, 1 / T, sweeps)
        return "plain Python loop", sweeps * L * L / (time.perf_counter() - t0)

    @numba.njit
    def sweep(s, beta, n):
        L = s.shape[0]
        for _ in range(n):
            for i in range(L):
                for j in range(L):
                    nb = s[i - 1, j] + s[(i + 1) % L, j] + s[i, j - 1] + s[i, (j + 1) % L]
                    dE = 2 * s[i, j] * nb
                    if dE <= 0 or np.random.random() < math.exp(-beta * dE):
                        s[i, j] = -s[i, j]

    s = ising.random_spins(1, L, np.random.default_rng(0))[0]
    sweep(s, 1 / T, 1)  # compile
    sweeps = max(1, 20_000_000 // (L * L))
    t0 = time.perf_counter()
    sweep(s, 1 / T, sweeps)
    return "numba loop", sweeps * L * L / (time.perf_counter() - t0)


def checkerboard_rate(n: int, L: int, seconds: float = 2.0) -> float:
    rng = np.random.default_rng(0)
    spins = ising.random_spins(n, L, rng)
    sweeps = 10
    while True:
        t0 = time.perf_counter()
        ising.metropolis(spins, T, sweeps, rng)
        dt = time.perf_counter() - t0
        if dt > seconds / 4:
            return sweeps * n * L * L / dt
        sweeps *= 4


def cluster_cost(n: int, L: int, T: float) -> float:
    """ns per spin of one Swendsen–Wang update, in equilibrium."""
    rng = np.random.default_rng(0)
    spins = ising.sample(L, T, n, seed=0, rounds=10)
    t0 = time.perf_counter()
    for _ in range(10):
        ising.swendsen_wang(spins, T, rng)
    return (time.perf_counter() - t0) / 10 / spins.size * 1e9


def relax(Ls=(8, 16, 32, 64, 128), Ts=(1.5, 2.0, ising.T_C, 2.5, 3.5)) -> None:
    checks = [1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 60]
    print(
        f"deviation in SE after rounds {checks} (each round: {ising.SWEEPS_PER_ROUND} sweeps "
        "+ 1 Swendsen–Wang); reference: rounds 100–200"
    )
    for L in Ls:
        n = max(16, 2**19 // (L * L))
        for T_ in Ts:
            rng = np.random.default_rng(0)
            spins, e, m = ising.random_spins(n, L, rng), [], []
            for _ in range(200):
                spins = ising.metropolis(spins, T_, ising.SWEEPS_PER_ROUND, rng)
                ising.swendsen_wang(spins, T_, rng)
                e.append(ising.energy(spins) / L**2)
                m.append(np.abs(ising.magnetization(spins)))
            z = {}
            for name, x in (("e", np.array(e)), ("|m|", np.array(m))):
                ref = x[100:].mean()
                z[name] = " ".join(
                    f"{(x[c - 1].mean() - ref) / x[c - 1].std() * n**0.5:+.1f}" for c in checks
                )
            print(f"L={L:<4} n={n:<5} T={T_:.3f}  e: {z['e']}   |m|: {z['|m|']}", flush=True)
    print("default_rounds:", {L: ising.default_rounds(L) for L in Ls})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--relax", action="store_true", help="only the relaxation table")
    args = p.parse_args()
    if args.relax:
        relax()
        return
    name, ref = reference_rate(32)
    print(f"reference ({name}, one 32 × 32 lattice, T = {T}): {ref:.3g} attempts/s")
    for n, L in ((64, 32), (64, 8), (4096, 8)):
        r = checkerboard_rate(n, L)
        print(
            f"checkerboard Metropolis, {n} × {L}×{L}: {r:.3g} attempts/s  "
            f"({r / ref:.0f}× the reference)"
        )
    for n, L in ((256, 32), (4096, 8)):
        costs = ", ".join(f"T={T_:g}: {cluster_cost(n, L, T_):.0f}" for T_ in (1.5, T, 3.5))
        print(f"Swendsen–Wang, {n} × {L}×{L}: ns per spin {costs}")
    t0 = time.perf_counter()
    d = ising.generate(ising.IsingDataConfig())
    print(
        f"default data set ({len(d.train_x)} train + {len(d.test_x)} test + "
        f"{len(d.inverted_x)} inverted): {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    s = ising.sample(32, 2.0, 200, seed=0)
    print(
        f"sample --L 32 --T 2.0 --n 200 ({ising.default_rounds(32)} rounds): "
        f"{time.perf_counter() - t0:.1f} s, {ising.summarize(s)}"
    )


if __name__ == "__main__":
    main()
