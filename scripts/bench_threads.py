"""Thread count against speed, on an idle and on a busy machine, measured in one run.

For 1 thread, 2 threads and the core count (when it is more than 2), it times

  train    ``grokscan.train`` of the default recipe (add mod 97, MLP, width 512),
           --steps full-batch steps with a checkpoint every 10, written to a temporary file;
  analyze  ``grokscan.analyze`` (--jobs 1) of a short run of that recipe
           (--analyze-steps steps, a checkpoint every 20), every family, no report;

each in a fresh process, with the machine as it is ("as is") and with B busy competitors: B
processes spinning in a Python loop, standing for someone else's work on a shared machine
(B = 1 and B = the core count). The ratio is time(N threads) / time(1 thread) in the same load;
below 1, more threads paid. The load average at the start of each row is printed, since
"as is" is only idle when nothing else runs. grokscan's default (grokscan/threads.py) takes the
cores that are idle by the 1-minute load average, so it picks 1 thread under a competitor that
has run for a minute or more and every core on an idle machine.

    .venv/bin/python scripts/bench_threads.py [--steps 60] [--analyze-steps 100] [--reps 1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time

# the code of grokscan.train and grokscan.analyze is loaded before the clock starts: the
# training's by a run of no step, the analysis's with its FAMILIES
CHILD = r"""
import json, os, sys, time
import torch
from threadpoolctl import threadpool_limits
kind, threads, steps, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
threadpool_limits(threads)
import grokscan
if kind == "train":
    cfg = grokscan.run_config(steps=steps, every=10)
    path = os.path.join(folder, f"t{threads}.h5")
    grokscan.train(path, cfg, steps=0, force=True, quiet=True)
    t = time.perf_counter()
    grokscan.train(path, cfg, force=True, quiet=True)
else:
    grokscan.FAMILIES
    t = time.perf_counter()
    grokscan.analyze(os.path.join(folder, "a.h5"), os.path.join(folder, f"out{threads}"),
                     report=False, quiet=True)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def spin() -> None:
    while True:
        pass


def timed(kind: str, threads: int, steps: int, folder: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(threads), str(steps), folder],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def make_run(folder: str, steps: int) -> None:
    import grokscan

    cfg = grokscan.run_config(steps=steps, every=20)
    grokscan.train(os.path.join(folder, "a.h5"), cfg, force=True, quiet=True)


def row(kind: str, load: str, counts: list[int], args, folder: str) -> dict:
    times = {n: statistics.median(timed(kind, n, args.steps, folder) for _ in range(args.reps))
             for n in counts}
    return {"kind": kind, "load": load, "loadavg": round(os.getloadavg()[0], 2), "seconds": times}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--analyze-steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n_cores = len(os.sched_getaffinity(0))
    counts = sorted({1, 2, n_cores})
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        make_run(folder, args.analyze_steps)
        for busy in (0, 1, n_cores):
            procs = [mp.Process(target=spin, daemon=True) for _ in range(busy)]
            for p in procs:
                p.start()
            time.sleep(1 if busy else 0)
            load = "as is" if not busy else f"{busy} busy"
            try:
                rows += [row(kind, load, counts, args, folder) for kind in ("train", "analyze")]
            finally:
                for p in procs:
                    p.terminate()
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{n_cores} cores; train: {args.steps} steps of the default recipe; analyze: "
          f"{args.analyze_steps // 20 + 1} checkpoints, every family")
    head = "  ".join(f"{n} thr s" for n in counts)
    print(f"{'work':<8} {'load':<8} {'loadavg':>7}  {head}  " +
          "  ".join(f"{n}/1" for n in counts[1:]))
    for r in rows:
        s = r["seconds"]
        print(f"{r['kind']:<8} {r['load']:<8} {r['loadavg']:>7}  " +
              "  ".join(f"{s[n]:>7.1f}" for n in counts) + "  " +
              "  ".join(f"{s[n] / s[1]:>4.2f}" for n in counts[1:]))


if __name__ == "__main__":
    main()
