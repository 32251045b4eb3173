"""Subnormal floats flushed to zero while training, against not, measured in one run.

A run whose train loss falls towards 0 has gradients in the subnormal range (below 1.2e-38 in
float32), where the CPU takes tens of times longer per operation. ``grokscan train`` flushes
them to zero while it trains (grokscan/threads.py). This trains one run that reaches that
range, a weight-decay-0 multi-task MLP (add and x²+xy+y² mod 67, train fraction 0.7, the
corpus's recipe at lr 3e-3), twice in fresh processes with the same seed and thread count: as
``grokscan train`` does, and with the flush taken out. It prints the seconds of each, their
ratio, and how far the two runs' final parameters and accuracies lie apart.

    .venv/bin/python scripts/bench_denormal.py [--steps 1500] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import contextlib, json, sys, time
import numpy as np
import torch
flush, threads, steps, path = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
import grokscan
from grokscan import threads as th
if not flush:
    th.flush_denormals = contextlib.nullcontext
cfg = grokscan.run_config(op=["add", "x2+xy+y2"], p=67, wd=0.0, frac=0.7, lr=3e-3, d_embed=32,
                          width=128, steps=steps, every=50, grads=False, onset=False)
grokscan.train(path + ".warm", cfg, steps=0, force=True, quiet=True)
t = time.perf_counter()
grokscan.train(path, cfg, force=True, quiet=True)
seconds = time.perf_counter() - t
with grokscan.open_run(path) as run:
    last = len(run.steps) - 1
    flat = np.concatenate([np.ravel(run.param(k, [last])) for k in run.param_names])
    np.save(path + ".npy", flat)
    acc = {k: float(run.scalars[k][-1]) for k in ("train_acc", "test_acc", "train_loss")}
print(json.dumps({"seconds": seconds, **acc}))
"""


def run(flush: bool, threads: int, steps: int, folder: str) -> dict:
    path = os.path.join(folder, f"flush{int(flush)}.h5")
    out = subprocess.run([sys.executable, "-c", CHILD, str(int(flush)), str(threads),
                          str(steps), path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        on = run(True, args.threads, args.steps, folder)
        off = run(False, args.threads, args.steps, folder)
        a, b = (np.load(os.path.join(folder, f"flush{i}.h5.npy")) for i in (1, 0))
    print(f"{args.steps} steps, {args.threads} thread(s): flushed {on['seconds']:.1f} s, "
          f"not flushed {off['seconds']:.1f} s, ratio {off['seconds'] / on['seconds']:.2f}")
    print(f"final parameters: max |difference| {np.abs(a - b).max():.2e} (max |value| "
          f"{np.abs(b).max():.2e}); train loss {on['train_loss']:.3e} against "
          f"{off['train_loss']:.3e}; test accuracy {on['test_acc']:.4f} against "
          f"{off['test_acc']:.4f}")


if __name__ == "__main__":
    main()
