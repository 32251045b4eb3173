"""Judging the onset detector on a sweep's runs (the protocol: grokscan/onset/__init__.py).

For each finished run of SWEEP/ the detector's inputs come from the run's metrics.h5 (the
sweep's cheap analysis writes the ``fourier`` and ``norms`` families there); a run without
them is analysed first, the same way (grokscan/analysis). The test-set scalars are read apart
and used only to judge the flags, never handed to the detector.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grokscan.errors import GrokscanError
from grokscan.onset.detector import OnsetSettings, detect
from grokscan.onset.shipped import LIVE, checkpoint_detectors, default
from grokscan.sweep.paths import run_dir

# The detectors judged: the shipped ones (grokscan/onset/shipped.py), each one signal with a
# threshold, and the in-loop model (LIVE). Every threshold was chosen on the first tuning
# sweep (scripts/grids/onset_tune.toml) by one rule: twice the largest score any of its
# controls reached, rounded up, at least 0.01 (Gini 0.24 -> 0.5; FFD 0.025 -> 0.05; entropy
# 0.003 -> 0.01; weight norm: it rose in every run, 0 -> 0.01). The train loss falls by ~100 %
# in the controls too (score 1.0): no threshold separates them, so its threshold, 2, never
# fires; only its ROC is informative.
DETECTORS: dict[str, OnsetSettings] = checkpoint_detectors()
MAIN = default().name  # the default detector: the best held-out ROC AUC
FAMILIES = ("fourier", "norms")
FALSE_ALARMS = (0.05, 0.10)  # the false-alarm rates at which coverage is read off the ROC


@dataclass(frozen=True)
class RunInputs:
    """One run: its checkpoints, the detector's training-side series, and the outcome."""

    name: str
    steps: np.ndarray  # (n,)
    series: dict  # {name: (n,)} training-side only
    test_acc: np.ndarray  # (n,) used to judge, never to detect
    live: object = None  # the in-loop record of run.h5 (store.reader.OnsetRows), or None


def read_inputs(sweep_dir, name: str) -> RunInputs:
    """The inputs of run ``name`` of the sweep, analysing it first if it has no metrics.h5
    with the fourier and norms families. A run file that is there must open, metrics.h5 or
    not: a damaged run is an error, never judged on the analysis it had before."""
    from grokscan.store.metrics import MetricsFile
    from grokscan.store.reader import Run

    out = run_dir(sweep_dir, name)
    path = os.path.join(out, "run.h5")
    live = None
    if os.path.exists(path):
        with Run(path) as run:
            live = run.onset_rows()
    if not _analysed(out):
        from grokscan.analysis import Options, analyze

        analyze(path, out, Options(families=FAMILIES, quiet=True))
    with MetricsFile(out) as m:
        sc = m.scalars
        if "test_acc" not in sc or "train_acc" not in sc:
            raise GrokscanError(f"{m.path}: expected scalars train_acc and test_acc")
        series = {k: np.asarray(sc[k], float) for k in ("train_acc", "train_loss",
                                                         "weight_norm") if k in sc}
        for path in m.names("metrics/fourier"):
            v = m.get(f"metrics/fourier/{path}")
            if v.ndim == 1:
                series[f"fourier/{path}"] = v.astype(float)
        series["norms/total"] = m.get("metrics/norms/total").astype(float)
        return RunInputs(name, m.steps, series, np.asarray(sc["test_acc"], float), live)


def _analysed(out: str) -> bool:
    from grokscan.store.metrics import MetricsFile

    if not os.path.exists(os.path.join(out, "metrics.h5")):
        return False
    with MetricsFile(out) as m:
        return set(FAMILIES) <= set(m.families)


def judge(inputs: RunInputs, detector) -> dict | None:
    """One run's row: the outcome (memorisation, test acc 0.5 and 0.9, its class:
    grokscan/onset/labels.py) and the detector's flag, lead fraction and largest score before
    test acc 0.5. ``detector``: an OnsetSettings (over the checkpoints) or the in-loop
    OnsetModel (over the run's every step; None when the run has no in-loop record)."""
    from grokscan.onset.labels import label

    steps = inputs.steps
    lab = label(steps, inputs.series["train_acc"], inputs.test_acc)
    mem, t50 = lab.step_memorised, lab.step_test_50
    if isinstance(detector, OnsetSettings):
        res = detect(steps, inputs.series, detector)
        at, score, flag, reason = steps, res.score, res.step, res.reason
    elif inputs.live is None:
        return None
    else:
        from grokscan.onset.live import replay

        score, mon = replay(inputs.live.steps, inputs.live.values, detector)
        at, flag, reason = inputs.live.steps, mon.flag, mon.reason
    before = at < t50 if t50 is not None else np.ones(len(at), bool)
    scores = score[before]
    best = float(np.nanmax(scores)) if np.isfinite(scores).any() else float("nan")
    lead = (t50 - flag) / (t50 - mem) if lab.kind == "grokking" and flag is not None \
        else float("nan")
    return {"run": inputs.name, "class": lab.kind, "step_memorised": mem, "step_test_0.5": t50,
            "step_test_0.9": lab.step_test_90, "last_step": int(steps[-1]), "flag": flag,
            "in_time": bool(flag is not None and (t50 is None or flag < t50)),
            "lead_fraction": lead, "max_score": best, "final_test_acc": float(inputs.test_acc[-1]),
            "reason": reason}


def summarise(rows: pd.DataFrame, threshold: float) -> dict:
    """The sweep's numbers for one detector from its per-run rows (judge)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    g = rows[rows["class"] == "grokking"]
    c = rows[rows["class"] == "control"]
    flagged = (g["flag"] < g["step_test_0.5"]).fillna(False).astype(bool)
    lead = np.where(flagged, g["lead_fraction"], 0.0).astype(float)  # missed or late: 0
    q = np.percentile(lead, [25, 50, 75]) if len(lead) else [np.nan] * 3
    out = {"grokking": len(g), "controls": len(c),
           "no_delay": int((rows["class"] == "no delay").sum()),
           "undecided": int((rows["class"] == "undecided").sum()),
           "coverage": float(flagged.mean()) if len(g) else np.nan,
           "lead_q1": q[0], "lead_median": q[1], "lead_q3": q[2],
           "false_alarms": float(c["flag"].notna().mean()) if len(c) else np.nan,
           "threshold": threshold}
    both = pd.concat([g, c])
    y = (both["class"] == "grokking").to_numpy()
    s = both["max_score"].to_numpy(float)
    s = np.where(np.isfinite(s), s, np.nanmin(s, initial=0.0) - 1.0)  # no score: lowest
    if 0 < y.sum() < len(y):
        fpr, tpr, _ = roc_curve(y, s)
        out["auc"] = float(roc_auc_score(y, s))
        for fa in FALSE_ALARMS:
            out[f"coverage_at_fa_{fa:g}"] = float(tpr[fpr <= fa].max())
        out["roc"] = (fpr, tpr)
    else:
        out.update({"auc": np.nan, **{f"coverage_at_fa_{fa:g}": np.nan for fa in FALSE_ALARMS},
                    "roc": (np.array([0.0, 1.0]), np.array([0.0, 1.0]))})
    return out


def evaluate(sweep_dirs, detectors: dict | None = None,
             tick=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Every finished run of the sweeps (one folder or several, judged together) through
    every detector: the per-run table (one row per run and detector, columns ``detector``,
    ``sweep`` and the run's model and operation), the summary (one row per detector over
    all the runs, column ``runs`` = "all", then, with several sweeps, one per detector and
    sweep; column ``inputs``: what the detector saw), and the ROC curves over all the runs
    {detector: (fpr, tpr)}. The default detectors: the in-loop model shipped with grokscan
    (LIVE, on the runs whose run.h5 has its record: trained since it exists), then the
    checkpoint detectors (DETECTORS)."""
    if detectors is None:
        from grokscan.onset.live import shipped

        detectors = {LIVE: shipped(), **DETECTORS}
    dirs = [sweep_dirs] if isinstance(sweep_dirs, (str, os.PathLike)) else list(sweep_dirs)
    rows = []
    for d, label in zip(dirs, sweep_labels(dirs)):
        for name, what in _finished(d, label):
            inputs = read_inputs(d, name)
            for det, s in detectors.items():
                row = judge(inputs, s)
                if row is not None:
                    rows.append({"detector": det, **what, **row})
            if tick:
                tick(1)
    per_run = pd.DataFrame(rows)
    for c in ("step_memorised", "step_test_0.5", "step_test_0.9", "flag"):
        per_run[c] = per_run[c].astype("Int64")
    groups = [("all", per_run)]
    if len(dirs) > 1:
        groups += list(per_run.groupby("sweep", sort=False))
    summary, curves = [], {}
    for runs, part in groups:
        for det, s in detectors.items():
            mine = part[part["detector"] == det]
            if not len(mine):  # the in-loop detector on sweeps trained before it
                continue
            res = summarise(mine, s.threshold)
            roc = res.pop("roc")
            if runs == "all":
                curves[det] = roc
            summary.append({"detector": det, "runs": runs, **_inputs(s), **res})
    return per_run, pd.DataFrame(summary), curves


def _inputs(detector) -> dict:
    """What a detector reads, for the summary's columns."""
    if isinstance(detector, OnsetSettings):
        return {"inputs": "checkpoints", "signal": detector.signal,
                "direction": detector.direction}
    return {"inputs": "every step (in the loop)",
            "signal": f"logistic model on {', '.join(detector.signals)}",
            "direction": f"fitted on {detector.fitted_on}"}


def finished_count(sweep_dirs) -> int:
    """How many runs ``evaluate`` will judge."""
    return sum(len(_finished(d, "")) for d in sweep_dirs)


def sweep_labels(dirs) -> list[str]:
    """A name per sweep folder for the tables: its own name, or, where two share it, its
    path from their common folder. A folder given twice is an error (its runs would count
    twice)."""
    real = [os.path.realpath(d) for d in dirs]
    twice = sorted({d for d in real if real.count(d) > 1})
    if twice:
        raise GrokscanError(f"{twice[0]}: the same sweep given twice (its runs would count "
                            "twice); give each sweep once")
    names = [os.path.basename(d) for d in real]
    if len(set(names)) == len(names):
        return names
    top = os.path.commonpath(real)  # names clash: two folders or more
    return [os.path.relpath(d, top) for d in real]


def _finished(sweep_dir, label: str) -> list[tuple[str, dict]]:
    """The finished runs of a sweep: (name, {"sweep", "model", "op", and the point's p, wd,
    frac, lr and seed where it sets them}); an error if none."""
    from grokscan.sweep.grid import read_points

    names = {name for name, _ in sweep_runs(sweep_dir)}
    if not names:
        raise GrokscanError(f"{sweep_dir}: no finished run to evaluate")
    doc, out = read_points(sweep_dir), []
    for pt in doc["points"]:
        if pt["name"] in names:
            v = {**doc.get("base", {}), **pt.get("params", {})}
            op = v.get("op", "add")
            varied = {k: v[k] for k in ("p", "wd", "frac", "lr", "seed") if k in v}
            out.append((pt["name"], {"sweep": label, "model": v.get("model", "mlp"),
                                     "op": op if isinstance(op, str) else ",".join(op),
                                     **varied}))
    return out


def sweep_runs(sweep_dir) -> list[tuple[str, str]]:
    """(name, path of run.h5) of the finished runs of a sweep."""
    from grokscan.sweep import table

    done = table.read(sweep_dir)
    names = list(done.loc[done["status"] == "done", "run"])
    return [(n, os.path.join(run_dir(sweep_dir, n), "run.h5")) for n in names]
