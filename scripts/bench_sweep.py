"""Sweep throughput and scheduling overhead, and the sweep report at scale, measured in one run.

  throughput  the same sweep of --runs points (the fast recipe: (a+b) mod 41, MLP emb 32 → 128
              ReLU, --steps steps, a checkpoint every 20, the cheap analysis) with --jobs 1,
              with --jobs 2, and on a 2-worker dask.distributed LocalCluster reached by its
              address (as a cluster's scheduler would be); each into a fresh folder. The ratio
              is wall(--jobs 1) / wall(2 workers): target ≥ 1.8 on 2 idle cores.
  overhead    per run: (sweep wall time − start-up − the runs' own wall time / workers) / runs,
              the runs' own time taken by each worker around its point; target < 0.5 s.
  scale       `grokscan sweep report` over a constructed summary of --rows rows
              (grokscan/sweep/synthetic.py: 10 × 10 cells of a wd × frac grid, 100 seeds):
              target < 10 s.

The load average at the start is printed: on a busy machine the ratio means little.

    .venv/bin/python scripts/bench_sweep.py [--runs 8] [--steps 600] [--rows 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

GRID = """# the fast recipe (docs/tutorials/first-run.md)
p = 41
frac = 0.5
d_embed = 32
width = 128
lr = 1e-2
wd = 1.0
steps = {steps}
every = 20
seeds = {runs}
"""


def sweep(grid: str, out: str, **kw) -> dict:
    from grokscan.sweep import SweepOptions, run_sweep

    res = run_sweep(grid, out, SweepOptions(quiet=True, **kw))
    df = res["summary"]
    assert set(df["status"]) == {"done"}, df["error"].tolist()
    return {"wall": res["wall_s"], "start": res["start_s"], "own": float(df["wall_s"].sum()),
            "n": len(df)}


def overhead(r: dict, workers: int) -> float:
    return (r["wall"] - r["start"] - r["own"] / workers) / r["n"]


def throughput(args, tmp: str) -> None:
    from distributed import LocalCluster

    grid = os.path.join(tmp, "grid.toml")
    with open(grid, "w") as fh:
        fh.write(GRID.format(steps=args.steps, runs=args.runs))
    one = sweep(grid, os.path.join(tmp, "j1"), jobs=1)
    two = sweep(grid, os.path.join(tmp, "j2"), jobs=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        t = time.perf_counter()
        lc = sweep(grid, os.path.join(tmp, "lc"), scheduler=cluster.scheduler_address)
        lc["wall"] = time.perf_counter() - t
    print(f"{args.runs} runs of {args.steps} steps (fast recipe, cheap analysis):")
    print(f"  --jobs 1              wall {one['wall']:6.2f} s  start {one['start']:.2f} s  "
          f"runs' own {one['own']:6.2f} s  overhead/run {overhead(one, 1):.3f} s")
    print(f"  --jobs 2              wall {two['wall']:6.2f} s  start {two['start']:.2f} s  "
          f"runs' own {two['own']:6.2f} s  overhead/run {overhead(two, 2):.3f} s")
    print(f"  2-worker LocalCluster wall {lc['wall']:6.2f} s  start {lc['start']:.2f} s  "
          f"runs' own {lc['own']:6.2f} s  overhead/run {overhead(lc, 2):.3f} s")
    print(f"  ratio wall(--jobs 1) / wall(--jobs 2) = {one['wall'] / two['wall']:.2f} "
          f"(target ≥ 1.8); / wall(LocalCluster) = {one['wall'] / lc['wall']:.2f}")
    bare = (one["wall"] - one["start"]) / (two["wall"] - two["start"])
    print(f"  ratio without start-up: {bare:.2f}")


def scale(args, tmp: str) -> None:
    import grokscan
    import grokscan.figures  # noqa: F401 (the drawing code, loaded before the clock starts)
    from grokscan.sweep import synthetic

    cells = {"wd": [round(0.1 * i, 1) for i in range(10)],
             "frac": [round(0.1 + 0.08 * i, 2) for i in range(10)]}
    seeds = max(1, args.rows // 100)

    def phase_of(p):
        return ("confusion" if p["frac"] < 0.2 else "memorisation" if p["wd"] == 0 else
                "grokking" if p["frac"] < 0.7 else "comprehension")

    out = os.path.join(tmp, "synthetic")
    synthetic.make(out, cells, seeds, phase_of)
    t = time.perf_counter()
    grokscan.sweep_report(out)
    dt = time.perf_counter() - t
    print(f"sweep report over {100 * seeds} constructed rows: {dt:.2f} s (target < 10 s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--rows", type=int, default=10_000)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        scale(args, tmp)
        throughput(args, tmp)


if __name__ == "__main__":
    main()
