"""The in-loop onset detector's cost: training time with it (the default, ``onset = true``)
over training time without it (``--no-onset``), measured in one run, alternating the two
``--repeat`` times on the same config, and the ratio of the medians. Target: ≤ 1.05
(docs/results/onset.md). Also the dense checkpoints after memorisation (``--dense-memorised
200 --dense-every 5``): file size and time against the plain schedule.

    .venv/bin/python scripts/bench_onset_live.py              # the default model, 400 steps
    .venv/bin/python scripts/bench_onset_live.py --model transformer --p 59
    .venv/bin/python scripts/bench_onset_live.py --p 41 --d-embed 32 --width 128  # the sweeps' MLP
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch
from threadpoolctl import threadpool_limits

import grokscan


def use_threads(threads: int) -> None:
    """torch's and numpy's threads for the whole run: ``threads``, or with 0 the cores idle
    now (the usable cores less the 1-minute load average, at least one), as --threads 0."""
    cores = len(os.sched_getaffinity(0))
    n = threads if threads > 0 else max(1, min(cores, cores - round(os.getloadavg()[0])))
    torch.set_num_threads(n)
    threadpool_limits(n)


def timed(cfg, path: str) -> float:
    t0 = time.perf_counter()
    grokscan.train(path, cfg, force=True, quiet=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--p", type=int, default=97)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--d-embed", type=int, default=None)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    use_threads(a.threads)
    values = {"model": a.model, "p": a.p, "steps": a.steps}
    values.update({k: v for k, v in (("d_embed", a.d_embed), ("width", a.width)) if v})
    if a.model == "transformer":
        values.update(lr=1e-3, frac=0.3)
    on = grokscan.run_config(**values)
    off = grokscan.run_config(**values, onset=False)
    dense = grokscan.run_config(**values, dense_memorised=200, dense_every=5)
    times: dict[str, list[float]] = {"on": [], "off": [], "dense": []}
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        # not timed: the training code is loaded before the first timed run (no step taken)
        grokscan.train(os.path.join(tmp, "load.h5"), on, steps=0, force=True)
        for i in range(a.repeat):
            for name, cfg in (("off", off), ("on", on), ("dense", dense))[:: 1 if i % 2 else -1]:
                path = os.path.join(tmp, f"{name}.h5")
                times[name].append(timed(cfg, path))
                sizes[name] = os.path.getsize(path)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "config": values, "repeat": a.repeat, "seconds_median": med,
        "ratio_onset_on_over_off": round(med["on"] / med["off"], 3),
        "ratio_dense_over_plain_time": round(med["dense"] / med["on"], 3),
        "bytes": sizes, "ratio_dense_over_plain_size": round(sizes["dense"] / sizes["on"], 3),
    }, indent=1))


if __name__ == "__main__":
    main()
