"""The numbers of the sweep report, from the summary table: cells of a phase diagram averaged
over seeds, a value against one axis with a bootstrap interval, and the default point.

Everything here takes and returns plain tables and arrays; grokscan/figures/sweep.py draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from grokscan.sweep.phase import cell_phase


def grok_column(fit: float = 0.9) -> str:
    """The time to grok of the report: the first step with test accuracy ≥ the phase rule's
    ``fit``."""
    return f"step_test_{fit:g}"


def diagram_values(fit: float = 0.9) -> dict:
    """{summary column: panel title} of the phase diagram's heatmaps."""
    return {"delay": "delay (steps): train ≥ 0.99 → test ≥ 0.99",
            grok_column(fit): f"step of test accuracy ≥ {fit:g}",
            "final_test_acc": "final test accuracy"}


def word(v) -> str:
    """An axis value as the figures and captions print it (floats in %g)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def done(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that finished (failed runs have no numbers)."""
    return df[df["status"] == "done"]


def axis_values(df: pd.DataFrame, key: str) -> list:
    """The distinct values of column ``key``, sorted (numbers as numbers)."""
    vals = df[key].dropna().unique().tolist()
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


@dataclass(frozen=True)
class Diagram:
    """A phase diagram: ``values[name]`` of shape (len(ys), len(xs)), the mean over the runs
    of each cell (NaN where no run of the cell has the value), ``phase`` the commonest phase
    label of each cell (None: no finished run), ``count`` its number of runs and ``runs`` the
    cell's finished runs."""

    x: str
    y: str | None
    xs: list
    ys: list
    values: dict
    phase: np.ndarray
    count: np.ndarray
    runs: np.ndarray


def diagram(df: pd.DataFrame, x: str, y: str | None = None, *, fit: float = 0.9) -> Diagram:
    """The cells of ``x`` (columns) × ``y`` (rows; one row if None), over the finished runs;
    the heatmaps of diagram_values(fit)."""
    d = done(df)
    xs = axis_values(df, x)
    ys = axis_values(df, y) if y else [None]
    shape = (len(ys), len(xs))
    values = {k: np.full(shape, np.nan) for k in diagram_values(fit)}
    phase = np.full(shape, None, dtype=object)
    count, runs = np.zeros(shape, int), np.zeros(shape, int)
    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            cell = d[(d[x] == xv) & ((d[y] == yv) if y else True)]
            runs[i, j] = len(cell)
            for k in values:
                col = pd.to_numeric(cell[k], errors="coerce").dropna()
                if len(col):
                    values[k][i, j] = float(col.mean())
            phase[i, j], count[i, j] = cell_phase(cell["phase"].tolist())
    return Diagram(x, y, xs, ys, values, phase, count, runs)


def bootstrap_mean(values, *, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """The mean of ``values`` and its bootstrap ``level`` interval (scipy.stats.bootstrap,
    BCa, 9 999 resamples); the interval is (mean, mean) for one value, NaN for none."""
    from scipy.stats import bootstrap

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan, np.nan
    m = float(v.mean())
    if v.size == 1 or np.all(v == v[0]):
        return m, m, m
    res = bootstrap((v,), np.mean, confidence_level=level, n_resamples=9999,
                    method="percentile" if v.size < 4 else "BCa", random_state=seed)
    return m, float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass(frozen=True)
class AlongAxis:
    """``value`` against ``axis``: per axis value, the per-run values (NaN: never reached),
    and the mean with its bootstrap 95 % interval over the runs that reached it."""

    axis: str
    value: str
    xs: list
    per_run: list  # one array per axis value
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def along(df: pd.DataFrame, axis: str, value: str) -> AlongAxis:
    d = done(df)
    xs = axis_values(df, axis)
    per_run = [pd.to_numeric(d.loc[d[axis] == xv, value], errors="coerce").to_numpy(float)
               for xv in xs]
    stats = np.array([bootstrap_mean(v) for v in per_run]).reshape(len(xs), 3)
    return AlongAxis(axis, value, xs, per_run, stats[:, 0], stats[:, 1], stats[:, 2])


def default_point(df: pd.DataFrame, axes: list[str], defaults: dict) -> dict:
    """The values of ``axes`` of the sweep's default point: the defaults of grokscan train
    (``defaults``, {key: value}) where the grid has that value, else the axis's first value."""
    out = {}
    for k in axes:
        vals = axis_values(df, k)
        out[k] = defaults[k] if defaults.get(k) in vals else (vals[0] if vals else None)
    return out


def select(df: pd.DataFrame, point: dict) -> pd.DataFrame:
    """The rows of ``df`` at ``point`` ({key: value})."""
    mask = np.ones(len(df), bool)
    for k, v in point.items():
        mask &= (df[k] == v).to_numpy()
    return df[mask]
