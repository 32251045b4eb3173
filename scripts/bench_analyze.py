"""Cost of `grokscan analyze` on the default P = 97 model, measured in one run.

Prints, for a run of N checkpoints (default 500) of the default recipe:
- checkpoints per second of the weight-only families and of the replayed ones;
- the ratio of the weight-only analysis time to the time of merely reading the same
  parameters from the file (target <= 3);
- peak memory (RSS) of the weight-only analysis at N and at 4N checkpoints (target: equal
  within 20 %: the analysis streams blocks, so memory must not grow with the run);
- seconds per checkpoint of every family, each run alone;
- the wall time of the full default analysis (every family, the expensive ones on the
  default subset) with --jobs 2 (target: under 2 minutes on 2 cores).

The runs are trained once, with a checkpoint at every step and no gradients (the analysis
reads only parameters), and kept in --workdir. Each measurement runs in a fresh process, so
that peak memory is its own.

    python scripts/bench_analyze.py                 # N = 500 and 2000
    python scripts/bench_analyze.py --n 100 --quick # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import grokscan

# the weight-only families: the Fourier measures and norms (whose cost is held to 3x the
# reading of the parameters), and the geometry ones
WEIGHT_ONLY = ("fourier", "norms", "pca/last_layer", "entropy/weights", "embedding/cosine",
               "embedding/bimodality")
REPLAYED = ("neurons", "freqloss", "pca/activations", "sparsity")
BLOCK = 64  # checkpoints per block, as the analysis reads them (its default)


def make_run(path: str, n: int) -> None:
    import torch

    torch.set_num_threads(1)
    cfg = grokscan.run_config(steps=n - 1, every=1, grads=False)
    grokscan.train(path, cfg, force=True, quiet=True)


def child(mode: str, path: str, arg: str) -> dict:
    """One measurement in this (fresh) process: {"seconds", "n", "maxrss_mb"}, or
    {"left_out": why} when none of the asked families can run on the run's model."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    # the analysis and the reader are loaded before the clock starts (FAMILIES is the
    # analysis's own): what is timed is the work, not the imports
    grokscan.FAMILIES, grokscan.Run  # noqa: B018
    kw = json.loads(arg)
    threads = kw.pop("threads", 1)  # numpy's BLAS threads (torch: 1)
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(path), "out_" + mode.replace("/", "_"))
    with threadpool_limits(threads):
        t = time.perf_counter()
        if mode == "read":  # in the analysis's own blocks
            with grokscan.open_run(path) as run:
                n = run.n
                for i in range(0, n, BLOCK):
                    idx = np.arange(i, min(i + BLOCK, n))
                    for k in run.param_names:
                        run.param(k, idx)
        else:
            try:
                n = grokscan.analyze(path, out, report=False, quiet=True, **kw)["n_checkpoints"]
            except grokscan.GrokscanError as e:
                return {"left_out": str(e)}
        seconds = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "n": n, "maxrss_mb": rss}


def measure(mode: str, path: str, **kw) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, path, json.dumps(kw)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="checkpoints of the main run")
    ap.add_argument("--big", type=int, default=0, help="checkpoints of the memory run (4N)")
    ap.add_argument("--workdir", default="runs/bench_analyze")
    ap.add_argument("--quick", action="store_true", help="skip the memory run and full run")
    ap.add_argument("--ratio-only", action="store_true", help="only the read-time ratio")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    os.makedirs(args.workdir, exist_ok=True)
    big = args.big or 4 * args.n
    paths = {n: os.path.join(args.workdir, f"default_{n}.h5") for n in (args.n, big)}
    for n, path in paths.items():
        if args.quick and n == big:
            continue
        if not os.path.exists(path):
            print(f"training the default recipe for {n} checkpoints -> {path}", file=sys.stderr)
            make_run(path, n)
    main_run = paths[args.n]
    res: dict = {"n": args.n}
    # reading and the Fourier measures alternate, 5 times: the read time of one process varies
    # by 2x with the page cache, so the ratio is the median of the per-pair ratios
    # (with one BLAS thread, and with two: numpy's default on a 2-core machine)
    for threads in (2, 1):
        pairs = [(measure("read", main_run), measure("analyze", main_run, threads=threads,
                                                     families=["fourier", "norms"]))
                 for _ in range(5)]
        ratios = sorted(f["seconds"] / r["seconds"] for r, f in pairs)
        res["read_s"] = statistics.median(r["seconds"] for r, _ in pairs)
        res["fourier_norms_s"] = statistics.median(f["seconds"] for _, f in pairs)
        res[f"fourier_norms_over_read_{threads}"] = statistics.median(ratios)
        res[f"fourier_norms_over_read_range_{threads}"] = (ratios[0], ratios[-1])
        if args.ratio_only or threads == 2:
            print(f"fourier and norms over reading, {args.n} checkpoints, {threads} BLAS "
                  f"thread(s): median {statistics.median(ratios):.2f} "
                  f"({ratios[0]:.2f}-{ratios[-1]:.2f}; target <= 3); read "
                  f"{res['read_s']:.2f} s, analysis {res['fourier_norms_s']:.2f} s (medians)")
    if args.ratio_only:
        return
    weights = measure("analyze", main_run, families=list(WEIGHT_ONLY))
    replayed = measure("analyze", main_run, families=list(REPLAYED), every=5)
    res["weight_only_s"] = weights["seconds"]
    res["weight_only_ckpt_per_s"] = weights["n"] / weights["seconds"]
    res["weight_only_over_read"] = weights["seconds"] / res["read_s"]
    res["replayed_ckpt_per_s"] = replayed["n"] / replayed["seconds"]
    per = {}
    # the whole analysis over its checkpoints, setup included; an expensive family gets at
    # most 15 checkpoints here, so its subset (24 checkpoints) holds them all
    for name, fam in grokscan.FAMILIES.items():
        every = max(1, args.n // (8 if fam.expensive else 50))
        r = measure("analyze", main_run, families=[name], every=every)
        if "left_out" in r:  # a family the MLP has nothing for (attention/maps)
            continue
        per[name] = r["seconds"] / r["n"]
    res["seconds_per_checkpoint"] = per
    if not args.quick:
        res["memory_mb"] = {}
        for n, path in paths.items():
            res["memory_mb"][n] = measure("analyze", path, families=list(WEIGHT_ONLY))["maxrss_mb"]
        res["memory_ratio"] = res["memory_mb"][big] / res["memory_mb"][args.n]
        full = measure("analyze", main_run, families=list(grokscan.FAMILIES), jobs=2)
        res["full_default_s"] = full["seconds"]
    if args.json:
        print(json.dumps(res, indent=1))
        return
    print(f"analysis of the default P = 97 run, {args.n} checkpoints (1 thread per process)")
    print(f"  reading the parameters          {res['read_s']:7.2f} s")
    print(f"  fourier and norms               {res['fourier_norms_s']:7.2f} s  "
          f"{args.n / res['fourier_norms_s']:6.1f} ckpt/s  ratio to reading "
          f"{res['fourier_norms_over_read_1']:.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f}; "
          "target <= 3)")
    print(f"  every weight-only family        {res['weight_only_s']:7.2f} s  "
          f"{res['weight_only_ckpt_per_s']:6.1f} ckpt/s  ratio to reading "
          f"{res['weight_only_over_read']:.2f}")
    print(f"  replayed families               {res['replayed_ckpt_per_s']:6.1f} ckpt/s")
    print("  seconds per checkpoint, each family alone:")
    for name, s in per.items():
        print(f"    {name:22s} {s:7.3f}")
    if not args.quick:
        m = res["memory_mb"]
        print(f"  peak memory, weight-only: {m[args.n]:.0f} MB at {args.n}, {m[big]:.0f} MB at "
              f"{big} checkpoints: ratio {res['memory_ratio']:.2f} (target within 1.2)")
        print(f"  full default analysis, --jobs 2: {res['full_default_s']:.1f} s "
              "(target < 120 s)")


if __name__ == "__main__":
    main()
