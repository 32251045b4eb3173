"""The onset corpus, in one command that resumes where it stopped: the six sweeps of
scripts/grids/onset3/ (a sweep trains only what it has not finished), then their runs read into
one table, one row per checkpoint, of training-side signals beside test accuracy
(grokscan/studies/corpus.py), written small: data/onset_corpus.parquet (signals as float16,
the losses as float32) with its provenance, data/onset_corpus.json.

    python scripts/onset_corpus.py --out out/onset3 --jobs 2        # train, then gather
    python scripts/onset_corpus.py --out out/onset3 --gather-only   # the table of what is done

A session that ends mid-way loses nothing: the next one, on this machine or a fresh one with
none of the runs, runs the same command (each run's rows are cached under OUT/cache/).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np

import grokscan
from grokscan.studies import SIGNALS, gather, trained_with
from grokscan.sweep import SweepOptions, run_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRIDS = os.path.join(ROOT, "scripts", "grids", "onset3")
LOSSES = ("train_loss", "restricted_loss", "excluded_loss")
SWEEPS = ("tune_mlp", "tune_multi", "tune_tf", "eval_mlp", "eval_multi", "eval_tf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="out/onset3", help="where the sweeps' runs go")
    ap.add_argument("--jobs", type=int, default=2, help="sweep worker processes")
    ap.add_argument("--gather-only", action="store_true", help="no training: the table of "
                    "the runs finished so far")
    ap.add_argument("--table", default=os.path.join(ROOT, "data", "onset_corpus.parquet"))
    args = ap.parse_args()
    t0 = time.time()
    if not args.gather_only:
        for name in SWEEPS:
            print(f"sweep {name}", flush=True)
            run_sweep(os.path.join(GRIDS, f"{name}.toml"), os.path.join(args.out, name),
                      SweepOptions(jobs=args.jobs, quiet=True))
    dirs = [os.path.join(args.out, n) for n in SWEEPS
            if os.path.exists(os.path.join(args.out, n, "summary.csv"))]
    import torch

    torch.set_num_threads(1)  # many small forward passes: one thread is fastest beside others
    table = gather(dirs, os.path.join(args.out, "cache"))
    write(table, args.table, time.time() - t0, trained_with(dirs))


def write(table, path: str, seconds: float, trained: dict) -> None:
    """The table, its signals as float16, and its provenance beside it (``trained``: per
    sweep, what trained its runs, grokscan.studies.trained_with)."""
    small = table.copy()
    for k in (*SIGNALS, "test_acc"):  # losses fall below float16's range: float32
        small[k] = small[k].astype(np.float32 if k in LOSSES else np.float16)
    small["step"] = small["step"].astype(np.int32)
    small.to_parquet(path, index=False, compression="zstd")
    runs = table.drop_duplicates(["sweep", "run"])
    prov = {"grids": [f"scripts/grids/onset3/{s}.toml" for s in SWEEPS],
            "grokscan": grokscan.__version__, "commit": _commit(),
            "date": datetime.date.today().isoformat(), "runs": int(len(runs)),
            "rows": int(len(table)), "bytes": os.path.getsize(path),
            "runs_per_sweep": runs.groupby("sweep").size().to_dict(),
            "trained_with": trained, "seconds": round(seconds)}
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(prov, f, indent=1)
    print(f"{path}: {prov['runs']} runs, {prov['rows']} rows, {prov['bytes'] / 1e6:.1f} MB",
          file=sys.stderr)


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
