"""A constructed sweep folder whose phases are known: points.json and summary.csv made from
chosen crossing steps, no run trained. For the tests of the report and for its scale
benchmark (scripts/bench_sweep.py)."""

from __future__ import annotations

import itertools
import json
import os

import numpy as np

from grokscan.files import write_atomic
from grokscan.sweep import table
from grokscan.sweep.grid import run_name
from grokscan.sweep.phase import phase

# crossing steps (train ≥ 0.9, test ≥ 0.9) that make each phase under the default PhaseRule
STEPS = {"comprehension": (40, 60), "grokking": (40, 900), "memorisation": (40, None),
         "confusion": (None, None)}


def make(out_dir, axes: dict, seeds: int, phase_of, *, failed=(), rng: int = 0) -> dict:
    """Write a sweep folder over ``axes`` ({key: values}) × ``seeds`` whose run at params has
    the phase ``phase_of(params)``, its steps jittered; the names in ``failed`` get a failed
    row. Returns {name: designed phase}."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    r = np.random.default_rng(rng)
    varied = [*axes, "seed"]
    rows, points, designed = [], [], {}
    for combo in itertools.product(*axes.values(), range(seeds)):
        params = dict(zip(varied, combo))
        name = run_name(params)
        points.append({"name": name, "params": params})
        if name in failed:
            rows.append({"run": name, **params, "status": "failed", "error": "constructed"})
            continue
        want = designed[name] = phase_of(params)
        rows.append({"run": name, **params, "status": "done", **_row(want, r)})
    doc = {"grid": "synthetic.toml", "varied": varied,
           "axes": {**{k: list(v) for k, v in axes.items()}, "seed": list(range(seeds))},
           "sampled": [], "base": {}, "points": points}
    write_atomic(os.path.join(out_dir, "points.json"), json.dumps(doc).encode())
    table.write(out_dir, table.frame(rows, varied))
    return designed


def _row(want: str, r) -> dict:
    train, test = STEPS[want]
    jitter = int(r.integers(0, 20))
    train = None if train is None else train + jitter
    test = None if test is None else test + jitter
    row = {"step_train_0.9": train, "step_test_0.9": test, "step_train_0.99": train,
           "step_test_0.99": None if test is None else test + 20,
           "final_test_acc": 1.0 if test is not None else 0.05, "phase": phase(train, test)}
    row["delay"] = (None if train is None or test is None
                    else row["step_test_0.99"] - row["step_train_0.99"])
    return row
