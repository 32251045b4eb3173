"""SWEEP/summary.csv: one row per point, and what `grokscan sweep status` prints of it.

Columns: ``run`` (the folder under SWEEP/runs/), the varied keys, then ``status`` ("done" or
"failed") with ``error``, ``action`` (trained, resumed, skipped: finished before), the
memorisation step ``step_train_0.99`` and the other first crossings ``step_<split>_<acc>``
(train and test at 0.5, 0.7, 0.8, 0.9, 0.99), ``delay`` (step_test_0.99 − step_train_0.99),
``final_<scalar>`` (accuracies, losses, weight norm), ``last_step``, ``key_freqs`` of the final
checkpoint, ``phase`` (grokscan/sweep/phase.py) and the times ``train_s``, ``analyze_s``,
``wall_s``. An empty cell is a crossing never reached (or a failed run). With pyarrow
importable, SWEEP/summary.parquet holds the same table.
"""

from __future__ import annotations

import io
import math
import os
from collections import Counter

import numpy as np
import pandas as pd

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.files import write_atomic
from grokscan.names import printable, safe_name, shown
from grokscan.summary import THRESHOLDS
from grokscan.sweep.grid import read_points
from grokscan.sweep.phase import PHASES

COLUMNS = ("status", "error", "action", "phase",
           *(f"step_{split}_{t:g}" for split in ("train", "test") for t in THRESHOLDS), "delay",
           "final_train_acc", "final_test_acc", "final_inverted_acc", "final_train_loss",
           "final_test_loss", "final_weight_norm", "last_step", "key_freqs", "train_s",
           "analyze_s", "wall_s")


def frame(rows: list[dict], varied: list[str]) -> pd.DataFrame:
    """The summary table of ``rows`` (dicts from grokscan/sweep/worker.py), columns in order."""
    cols = ["run", *varied, *COLUMNS]
    df = pd.DataFrame(rows, columns=cols)
    for c in cols:
        if c.startswith("step_") or c in ("delay", "last_step"):
            df[c] = df[c].astype("Int64")  # whole steps, empty where never reached
    return df


def write(out_dir, df: pd.DataFrame) -> list[str]:
    """SWEEP/summary.csv (and summary.parquet when pyarrow is importable); the paths."""
    out_dir = os.fspath(out_dir)
    csv = os.path.join(out_dir, "summary.csv")
    write_atomic(csv, df.to_csv(index=False).encode())
    written = [csv]
    try:
        import pyarrow  # noqa: F401  (optional)
    except ImportError:
        return written
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    written.append(os.path.join(out_dir, "summary.parquet"))
    write_atomic(written[-1], buf.getvalue())
    return written


def read(out_dir) -> pd.DataFrame:
    """SWEEP/summary.csv as a table (``error`` and ``key_freqs`` as strings), its ``run``
    cells checked: names as the sweep makes them (grokscan/names.py), never a path."""
    path = os.path.join(os.fspath(out_dir), "summary.csv")
    try:
        df = pd.read_csv(path, dtype={"error": str, "key_freqs": str, "run": str})
    except FileNotFoundError:
        raise GrokscanError(f"{out_dir}: no summary.csv yet (run the sweep first)") from None
    except (OSError, ValueError) as e:
        raise GrokscanError(f"{path}: unreadable ({e})") from None
    missing = [c for c in ("run", "status", "phase") if c not in df]
    if missing:
        raise GrokscanError(f"{path}: no column {missing[0]!r}; not a sweep summary")
    for run in df["run"]:  # each names a folder under SWEEP/runs/
        safe_name(run, f"{path}: run")
    _check_rows(df, path)
    return df.fillna({"error": "", "key_freqs": ""})


# the numbers of a row and their ranges: steps as `grokscan train --steps` allows them
MAX_STEP = 10**9
NUMBERS = {**{c: (0, MAX_STEP) for c in COLUMNS if c.startswith("step_") or c == "last_step"},
           "delay": (-MAX_STEP, MAX_STEP),
           **{c: (0, math.inf) for c in ("train_s", "analyze_s", "wall_s")},
           **{c: (-math.inf, math.inf) for c in COLUMNS if c.startswith("final_")}}


def _check_rows(df: pd.DataFrame, path: str) -> None:
    """Each run once, its status and phase as a sweep writes them, its steps whole numbers in
    range and its other numbers finite (an empty cell: never reached)."""
    twice = df["run"][df["run"].duplicated()]
    if len(twice):
        raise FileFormatError(f"{path}: run: expected each run once, got {twice.iloc[0]!r} "
                              "twice")
    _within(df, "status", lambda v: v in ("done", "failed"), "done or failed", path)
    _within(df, "phase", lambda v: v in PHASES or v != v, f"one of {', '.join(PHASES)} or "
            "empty", path)
    for c, (lo, hi) in NUMBERS.items():
        if c not in df:
            continue
        values = pd.to_numeric(df[c], errors="coerce")
        whole = c.startswith("step_") or c in ("last_step", "delay")
        ok = (values.isna() == df[c].isna()) & (df[c].isna() | (
            np.isfinite(values) & (values >= lo) & (values <= hi)
            & (~whole | (values == values.round()))))
        if not ok.all():
            bad = df[c][~ok].iloc[0]
            what = "whole numbers of steps" if whole else "numbers"
            span = f" in [{lo}, {hi}]" if whole else ""
            raise FileFormatError(f"{path}: {c}: expected {what}{span} or an empty cell, got "
                                  f"{shown(bad)}")


def _within(df: pd.DataFrame, column: str, ok, what: str, path: str) -> None:
    bad = [v for v in df[column] if not ok(v)]
    if bad:
        raise FileFormatError(f"{path}: {column}: expected {what}, got {shown(bad[0])}")


def counts(out_dir, df: pd.DataFrame | None = None) -> list[str]:
    """The counts of the sweep in SWEEP/, as lines: points, done, failed, not run yet, and
    the phases of the finished runs."""
    names = [p["name"] for p in read_points(out_dir)["points"]]
    df = read(out_dir) if df is None else df
    have = set(df["run"])
    n = Counter(df["status"])
    lines = [f"{len(names)} points: {n.get('done', 0)} done, {n.get('failed', 0)} failed, "
             f"{sum(k not in have for k in names)} not run yet"]
    phases = Counter(p for p in df.loc[df["status"] == "done", "phase"] if p in PHASES)
    if phases:
        lines.append("phases: " + ", ".join(f"{p} {phases[p]}" for p in PHASES if phases[p]))
    return lines


def status(out_dir, *, head: int = 10) -> str:
    """The counts of the sweep in SWEEP/, its failed runs with their errors, and the head of
    its summary table, as text."""
    read_points(out_dir)  # a folder that is not a sweep is told so first
    if os.path.exists(os.path.join(os.fspath(out_dir), "summary.csv")):
        df = read(out_dir)
    else:  # started, nothing finished yet
        df = pd.DataFrame(columns=["run", "status", "phase"])
    lines = counts(out_dir, df)
    for _, r in df[df["status"] == "failed"].head(head).iterrows():
        lines.append(f"failed {r['run']}: {printable(r['error'])}")
    shown = df[[c for c in ("run", "status", "phase", "step_train_0.99", "step_test_0.99",
                            "delay", "final_test_acc") if c in df]].head(head).copy()
    for c in ("status", "phase"):  # text from the file, for a terminal
        if c in shown:
            shown[c] = shown[c].map(lambda v: printable(v) if isinstance(v, str) else v)
    lines += ["", shown.to_string(index=False)]
    return "\n".join(lines)
