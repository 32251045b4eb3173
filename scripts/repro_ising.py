"""The Ising experiment of Hutchison & Yevick (arXiv:2510.25966): how the
softmax inverse temperature β and dropout change the grokking delay.

Each run is ``grokscan train --task ising`` with the paper's defaults
(grokscan/tasks/ising/task.py) and the given β, dropout and seed, the n-inverted set evaluated
too. From the recorded scalars (grokscan.summary.first_crossing) it takes the step of
memorisation (train accuracy first ≥ 0.99) and of generalisation (test accuracy first ≥ 0.7
and ≥ 0.8; the paper's final test accuracy is ≈ 0.83, so 0.9 is never reached), and appends one
JSON record per run to
``--results``. Runs already in that file are skipped, so the grid can be run in pieces:

    .venv/bin/python scripts/repro_ising.py --beta 0.5,1,2 --dropout 0 --seeds 1 --steps 20000
    .venv/bin/python scripts/repro_ising.py --beta 0.5,1,2 --dropout 0.04 --seeds 1 ...
    .venv/bin/python scripts/repro_ising.py --table     # the Markdown table of the README

Each process trains with one torch thread; ``--jobs N`` runs N of them side by side (on a
machine with N free cores, or N processes sharing one GPU with ``--device cuda``). The paper
finds that a smaller β shortens the delay and that dropout 0.04 suppresses grokking.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date

import torch

from grokscan.config import resolve
from grokscan.store.reader import Run
from grokscan.summary import first_crossing
from grokscan.train import train

THRESHOLDS = {"memorised": ("train_acc", 0.99), "test_0.7": ("test_acc", 0.7),
              "test_0.8": ("test_acc", 0.8)}


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


FIELDS = ("optimizer", "wd", "beta", "dropout", "seed", "steps", "device")


def key(r: dict) -> tuple:
    return tuple(r[k] for k in FIELDS)


def one_run(job: dict) -> dict:
    """Train one configuration into ``job["path"]`` and summarise its scalars."""
    torch.set_num_threads(1)
    cfg = resolve({"task": "ising", "eval_inverted": True, "grads": False,
                   **{k: job[k] for k in FIELDS}})
    t0 = time.perf_counter()
    train(cfg, job["path"], force=True, quiet=True)
    seconds = time.perf_counter() - t0
    with Run(job["path"]) as run:
        s, steps = run.scalars, run.steps
        out = {name: first_crossing(steps, s[col], t) for name, (col, t) in THRESHOLDS.items()}
        final = {k: float(s[k][-1]) for k in ("train_acc", "test_acc", "inverted_acc",
                                               "weight_norm")}
        best = float(s["test_acc"].max())
    cfgd = dataclasses.asdict(cfg.train)
    return {**{k: job[k] for k in FIELDS}, **out,
            "final": final, "max_test_acc": best, "seconds": round(seconds, 1),
            "betas": [cfgd["beta1"], cfgd["beta2"]],
            "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "date": date.today().isoformat(), "path": job["path"]}


def load(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return json.load(fh)


def save(path: str, records: list[dict]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(records, fh, indent=1)
    os.replace(tmp, path)


def fmt(values: list) -> str:
    """'1200, 1400 (1300)': the per-seed steps and their mean; '—' for a run that never did."""
    cells = ", ".join("—" if v is None else str(v) for v in values)
    done = [v for v in values if v is not None]
    mean = f" ({statistics.mean(done):.0f})" if len(done) == len(values) > 1 else ""
    return cells + mean


def table(records: list[dict]) -> str:
    """One row per (device, steps, optimizer, weight decay, dropout, β): per-seed crossings,
    delay, final accuracies."""
    rows = ["| device | optimizer, wd | dropout | β | seeds | train ≥ 0.99 | test ≥ 0.7 | "
            "test ≥ 0.8 | delay (test ≥ 0.8 − train ≥ 0.99) | final test / inverted acc |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        k = (r["device"], r["steps"], r["optimizer"] != "adam", r["optimizer"], -r["wd"],
             r["dropout"], r["beta"])
        groups.setdefault(k, []).append(r)
    for (device, steps, _, opt, wd, dropout, beta), rs in sorted(groups.items()):
        rs.sort(key=lambda r: r["seed"])
        delay = [None if r["memorised"] is None or r["test_0.8"] is None
                 else r["test_0.8"] - r["memorised"] for r in rs]
        acc = statistics.mean(r["final"]["test_acc"] for r in rs)
        inv = statistics.mean(r["final"]["inverted_acc"] for r in rs)
        name = {"adam": "Adam", "adamw": "AdamW"}[opt]
        rows.append(f"| {device}, {steps} steps | {name}, {-wd:g} | {dropout:g} | {beta:g} | "
                    f"{','.join(str(r['seed']) for r in rs)} | {fmt([r['memorised'] for r in rs])}"
                    f" | {fmt([r['test_0.7'] for r in rs])} | {fmt([r['test_0.8'] for r in rs])}"
                    f" | {fmt(delay)} | {acc:.3f} / {inv:.3f} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--beta", type=floats, default=[0.5, 1.0, 2.0])
    ap.add_argument("--dropout", type=floats, default=[0.0, 0.04])
    ap.add_argument("--seeds", type=ints, default=[1, 2])
    ap.add_argument("--steps", type=ints, default=[20000], help="one or more run lengths")
    ap.add_argument("--wd", type=floats, default=[5e-4], help="weight decays")
    ap.add_argument("--optimizer", default="adam", choices=["adam", "adamw"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1, help="runs side by side, one thread each")
    ap.add_argument("--results", default="out/repro_ising.json")
    ap.add_argument("--runs-dir", default="out/repro_ising", help="where the run files go")
    ap.add_argument("--table", action="store_true", help="print the table of --results, only")
    args = ap.parse_args()
    if args.table:
        print(table(load(args.results)))
        return
    os.makedirs(args.runs_dir, exist_ok=True)
    os.makedirs(os.path.dirname(args.results) or ".", exist_ok=True)
    records = load(args.results)
    done = {key(r) for r in records}
    opt = args.optimizer
    jobs = [dict(optimizer=opt, wd=w, beta=b, dropout=d, seed=s, steps=n, device=args.device,
                 path=os.path.join(args.runs_dir, f"{opt}_wd{w:g}_b{b:g}_d{d:g}_s{s}_n{n}.h5"))
            for n in args.steps for w in args.wd for d in args.dropout for b in args.beta
            for s in args.seeds]
    jobs = [j for j in jobs if key(j) not in done]
    print(f"{len(jobs)} runs to do ({len(done)} already in {args.results})", flush=True)
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        for r in pool.map(one_run, jobs):
            records.append(r)
            save(args.results, records)  # after every run: a stopped grid keeps what it did
            print(f"{r['optimizer']} wd {r['wd']:g} β {r['beta']:g} dropout {r['dropout']:g} "
                  f"seed {r['seed']}: train ≥ 0.99 at "
                  f"{r['memorised']}, test ≥ 0.7 at {r['test_0.7']}, ≥ 0.8 at {r['test_0.8']}; "
                  f"final test {r['final']['test_acc']:.3f} ({r['seconds']:.0f} s)", flush=True)
    print(table(records))


if __name__ == "__main__":
    main()
