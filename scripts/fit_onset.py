"""Fit the in-loop onset detector's logistic model on the TUNING sweeps only, and write it to
grokscan/onset/model.json (the protocol: grokscan/onset/__init__.py, scripts/grids/onset2/).

    python scripts/fit_onset.py out/onset2/tune_mlp out/onset2/tune_tf out/onset2/tune_multi

Two designs of the Monitor's time scales (DESIGNS: the plateau and the trailing mean as
multiples of the memorisation step m) are fitted; the one with the higher tuning coverage at
its threshold is kept. Rows: every 5th step that the Monitor scores (grokscan/onset/live.py),
of the grokking runs before their first checkpoint at test accuracy 0.5 (label 1) and of the
controls (label 0); undecided runs and runs with no delay are left out
(grokscan/onset/labels.py). The model: scikit-learn's LogisticRegression (L2, C = 1, classes
balanced) on the standardised features. The threshold: the smallest of 0.50, 0.55, ..., 0.95,
0.97, 0.99, 0.995, 0.999 at which at most 5 % of the tuning controls are flagged (the
false-alarm target), the Monitor's hold and all; the largest when none is.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd

import grokscan
from grokscan.onset import SIGNALS, OnsetModel, features, label, replay

USED = tuple(s for s in SIGNALS if s != "train_acc")  # train accuracy finds memorisation
THRESHOLDS = np.r_[np.round(np.arange(0.50, 0.951, 0.05), 2), 0.97, 0.99, 0.995, 0.999]
EVERY = 5


def sweep_runs(sweep: str) -> list[str]:
    """The checkpoint files of the finished runs of a sweep (SWEEP/summary.csv: status done),
    SWEEP/runs/<run>/run.h5."""
    df = pd.read_csv(os.path.join(sweep, "summary.csv"), dtype={"run": str})
    return [os.path.join(sweep, "runs", name, "run.h5")
            for name in df.loc[df["status"] == "done", "run"]]


def runs(sweep: str):
    """(label, in-loop record) of each finished run of a sweep."""
    for run_path in sweep_runs(sweep):
        with grokscan.open_run(run_path) as run:
            rec = run.onset_rows()
            lab = label(run.steps, run.scalars["train_acc"], run.scalars["test_acc"])
        if rec is None:
            raise SystemExit(f"{run_path}: no in-loop onset series (trained before they were "
                             "recorded?)")
        yield lab, rec


DESIGNS = ((0.1, 0.05), (1.0, 0.25))  # (window, trail): multiples of the memorisation step


def fit(kept, window: float, trail: float, names: str):
    """The logistic model on the rows of ``kept`` [(label, record)] with these time scales,
    its threshold (choose_threshold), the tuning coverage there and the table of thresholds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = [], []
    for lab, rec in kept:
        f = features(rec.steps, rec.values, USED, window, trail)
        ok = ~np.isnan(f).any(1)
        if lab.kind == "grokking":
            ok &= rec.steps < lab.step_test_50
        idx = np.flatnonzero(ok)[::EVERY]
        X.append(f[idx])
        y.append(np.full(len(idx), lab.kind == "grokking"))
    X, y = np.concatenate(X), np.concatenate(y)
    sc = StandardScaler().fit(X)
    lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    lr.fit(sc.transform(X), y)
    n_g = sum(lab.kind == "grokking" for lab, _ in kept)

    def model(t: float) -> OnsetModel:
        return OnsetModel(USED, tuple(map(float, lr.coef_[0])), float(lr.intercept_[0]),
                          tuple(map(float, sc.mean_)), tuple(map(float, sc.scale_)), float(t),
                          f"{names}: {n_g} grokking runs, {len(kept) - n_g} controls, "
                          f"{len(y)} rows", window, trail)

    threshold, coverage, table = choose_threshold(model, kept)
    return model(threshold), coverage, table


def main(sweeps: list[str]) -> None:
    kept = [(lab, rec) for sweep in sweeps for lab, rec in runs(sweep)
            if lab.kind in ("grokking", "control")]
    names = ", ".join(os.path.basename(os.path.normpath(s)) for s in sweeps)
    fits = [fit(kept, w, t, names) for w, t in DESIGNS]
    for (w, t), (_, cov, table) in zip(DESIGNS, fits):
        print(f"design window {w:g}·m, trail {t:g}·m: coverage at the chosen threshold "
              f"{cov:.0%}\n{table}")
    model = max(fits, key=lambda f: f[1])[0]  # the first of equals
    path = os.path.join(os.path.dirname(__file__), "..", "grokscan", "onset", "model.json")
    with open(path, "w") as fh:
        fh.write(model.to_json() + "\n")
    print(f"chosen: window {model.window:g}·m, trail {model.trail:g}·m; coefficients "
          "(standardised features):")
    for s, c in zip(USED, model.coef):
        print(f"  {s:<14} {c:+.3f}")
    print(f"intercept {model.intercept:+.3f}; threshold {model.threshold}; {model.fitted_on}")
    print(f"written to {os.path.normpath(path)}")


def choose_threshold(model, kept) -> tuple[float, float, str]:
    """The smallest threshold with at most 5 % of the tuning controls flagged (else the
    largest), the tuning coverage there, and the table of every threshold."""
    lines = ["  threshold  coverage  false alarms (tuning)"]
    chosen = None
    for t in THRESHOLDS:
        hit = {"grokking": [], "control": []}
        for lab, rec in kept:
            _, mon = replay(rec.steps, rec.values, model(t))
            ok = mon.flag is not None and (lab.kind == "control" or mon.flag < lab.step_test_50)
            hit[lab.kind].append(ok)
        cov, fa = np.mean(hit["grokking"]), np.mean(hit["control"])
        lines.append(f"  {t:9.3f}  {cov:8.0%}  {fa:12.0%}")
        if chosen is None and fa <= 0.05:
            chosen = (float(t), float(cov))
    if chosen is None:
        chosen = (float(THRESHOLDS[-1]), float(cov))
    return chosen[0], chosen[1], "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
