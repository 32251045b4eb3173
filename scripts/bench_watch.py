"""What watching a run costs, measured in one run.

1. Refresh cost. A writer process (a Recorder on an embedding P × d_embed and a P-class
   unembedding, (a+b) mod P, the layout of grokscan's MLP) writes ``--first`` checkpoints, then
   one at a time on request; this process follows the file with grokscan.watch's LiveRun and
   View (SWMR, as ``grokscan watch`` does) and times one refresh (LiveRun.poll of the one new
   checkpoint and View.update) with 10 and with ``--many`` checkpoints already read,
   ``--polls`` refreshes each, median. Target: the ratio within 20 % (the cost of a refresh
   does not grow with the checkpoints already seen).
2. Training with a watcher. ``grokscan train -o X --p P --steps S --every 10 -q --threads 1``
   in a fresh process, alone and with ``grokscan watch X --interval 0.5`` attached in a second
   process, alternating, ``--reps`` times; the ratio of the medians. Target: <= 1.05.

    .venv/bin/python scripts/bench_watch.py [--p 97] [--many 1000] [--polls 20]
                                            [--steps 2000] [--reps 3] [--json]
Smoke run: --p 11 --many 30 --polls 3 --steps 50 --reps 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WRITER = r"""
import sys, numpy as np, torch
from grokscan import Layout, Recorder
from grokscan.tasks.modular import ModularConfig, make_data
p, d, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
model = torch.nn.Module()
model.E = torch.nn.Parameter(torch.randn(p + 2, d))
model.U = torch.nn.Parameter(torch.randn(d, p))
layout = Layout(residue_vectors=({"param": "E", "start": 0, "stop": p, "operand": "a,b"},),
                neuron_logit_map=("U",))
with Recorder(path, model, task=make_data(ModularConfig(p=p, frac=0.5), 0), layout=layout,
              grads=False) as rec:
    step = 0
    for line in sys.stdin:
        for _ in range(int(line)):
            with torch.no_grad():
                model.E.add_(0.01 * torch.randn_like(model.E))
            rec.record(step, train_loss=1.0, test_loss=2.0, train_acc=0.5, test_acc=0.1)
            step += 1
        print("ok", flush=True)
"""


def refresh_cost(p: int, d: int, many: int, polls: int, folder: str) -> dict:
    from grokscan.watch import LiveRun, View, wait_for

    path = os.path.join(folder, "bench.h5")
    w = subprocess.Popen([sys.executable, "-c", WRITER, str(p), str(d), path],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def write(k: int) -> None:
        w.stdin.write(f"{k}\n")
        w.stdin.flush()
        assert w.stdout.readline().strip() == "ok"

    try:
        write(10)
        wait_for(path, timeout=60)
        out = {}
        with LiveRun(path, timeout=60) as live:
            view = View(path, live.task, live.run.residue_vectors)
            view.update(live.poll())
            for seen in (10, many):
                while live.n < seen:  # catch up, untimed
                    write(min(500, seen - live.n))
                    view.update(live.poll())
                times = []
                for _ in range(polls):
                    write(1)
                    t0 = time.perf_counter()
                    rows = live.poll()
                    view.update(rows)
                    times.append(time.perf_counter() - t0)
                    assert len(rows) == 1
                out[seen] = statistics.median(times)
        w.stdin.close()
        w.wait(60)
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    return {"seen": [10, many], "seconds": [out[10], out[many]],
            "ratio": out[many] / out[10], "target": 1.2}


def _train(args, path: str, watch: bool) -> float:
    cmd = [sys.executable, "-m", "grokscan", "train", "-o", path, "--force", "--p", str(args.p),
           "--steps", str(args.steps), "--every", "10", "-q", "--threads", "1"]
    watcher = None
    if watch:
        watcher = subprocess.Popen([sys.executable, "-m", "grokscan", "watch", path,
                                    "--interval", "0.5", "--timeout", "120"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    took = time.perf_counter() - t0
    if watcher is not None:
        watcher.wait(120)
    return took


def training_ratio(args, folder: str) -> dict:
    alone, watched = [], []
    for i in range(args.reps):
        for watch in ((False, True) if i % 2 == 0 else (True, False)):
            t = _train(args, os.path.join(folder, "train.h5"), watch)
            (watched if watch else alone).append(t)
    a, b = statistics.median(alone), statistics.median(watched)
    return {"alone_s": a, "watched_s": b, "ratio": b / a, "target": 1.05, "reps": args.reps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=97)
    ap.add_argument("--d-embed", type=int, default=128)
    ap.add_argument("--many", type=int, default=1000)
    ap.add_argument("--polls", type=int, default=20)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = {"refresh": refresh_cost(args.p, args.d_embed, args.many, args.polls, folder),
                  "training": training_ratio(args, folder)}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    r, t = result["refresh"], result["training"]
    print(f"refresh, one new checkpoint: {r['seconds'][0] * 1e3:.2f} ms with 10 read, "
          f"{r['seconds'][1] * 1e3:.2f} ms with {args.many} read; ratio {r['ratio']:.2f} "
          f"(target within 20 %)")
    print(f"training P = {args.p}, {args.steps} steps: {t['alone_s']:.2f} s alone, "
          f"{t['watched_s']:.2f} s watched; ratio {t['ratio']:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
