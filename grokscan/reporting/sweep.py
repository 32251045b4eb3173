"""`grokscan sweep report`: SWEEP/report.html, one self-contained page over every run.

It reads SWEEP/points.json and SWEEP/summary.csv (and, for the overlaid curves only, the runs'
scalars in SWEEP/runs/*/run.h5 where they are present), computes with grokscan/sweep/stats.py,
draws with grokscan/figures/sweep.py, and writes the PNGs to SWEEP/figures/ beside the page.
Captions that state what this sweep shows are computed from its numbers.
"""

from __future__ import annotations

import base64
import html
import os

import numpy as np
import pandas as pd

from grokscan.errors import GrokscanError
from grokscan.files import Staged, write_atomic
from grokscan.reporting import DPI, figure_bytes
from grokscan.reporting.page import CSS
from grokscan.sweep import stats, table
from grokscan.sweep.grid import read_points
from grokscan.sweep.phase import PHASES, PhaseRule

MAX_CURVES = 120  # runs drawn in the overlaid curves (chosen evenly over the table)
MAX_ALONG = 3  # axes with their own "against one axis" figure


def render(sweep_dir, *, x: str | None = None, y: str | None = None,
           quiet: bool = True) -> dict:
    """Write SWEEP/report.html; returns {"report": path, "figures": [paths]}. ``x``, ``y``:
    the axes of the phase diagram (default: the first two varied, seeds aside)."""

    sweep_dir = os.fspath(sweep_dir)
    doc = read_points(sweep_dir)
    df = table.read(sweep_dir)
    if df.empty:
        raise GrokscanError(f"{os.path.join(sweep_dir, 'summary.csv')}: no runs in it (a "
                            "header only); the sweep saves its rows as runs finish")
    missing = [k for k in doc["varied"] if k not in df]
    if missing:
        raise GrokscanError(f"{os.path.join(sweep_dir, 'summary.csv')}: no column "
                            f"{missing[0]!r}; expected one per varied key of points.json "
                            f"({', '.join(doc['varied'])})")
    axes = [k for k in doc["varied"] if k != "seed"]
    x, y = _diagram_axes(axes, x, y)
    items, written = [], []
    with Staged(sweep_dir) as staged:  # the earlier report stays whole until this one is
        for name, title, fig, caption in _figures(sweep_dir, doc, df, x, y, axes):
            data = figure_bytes(fig, "png", dpi=DPI)
            fig.clear()
            write_atomic(staged.path(name + ".png"), data)
            written.append(staged.final(name + ".png"))
            items.append((name, title, caption, data))
        staged.publish(_page(sweep_dir, doc, df, items).encode("utf-8"))
    if not quiet:
        print(f"wrote {staged.page} ({len(items)} figures)")
    return {"report": staged.page, "figures": written}


def _diagram_axes(axes: list[str], x, y) -> tuple:
    for k, opt in ((x, "--x"), (y, "--y")):
        if k is not None and k not in axes:
            raise GrokscanError(f"{opt} {k}: not an axis of this sweep; expected one of "
                                f"{', '.join(axes) or '(none: only seeds vary)'}")
    if x is None:
        x = next((k for k in axes if k != y), None)
    if y is None:
        y = next((k for k in axes if k != x), None)
    if x is not None and x == y:
        raise GrokscanError(f"--x and --y are both {x}; give two different axes")
    return x, y


def _figures(sweep_dir, doc, df, x, y, axes):
    """(name, title, Figure, caption) of every figure this sweep has the data for: an axis
    that no row has a value of (an empty column) gets none (_missing_values says so)."""
    from grokscan.figures import sweep as figs

    rule = PhaseRule(**doc.get("phase", {}))
    axes = [k for k in axes if df[k].notna().any()]
    x, y = (x if x in axes else None), (y if y in axes else None)
    if x is None and y is not None:
        x, y = y, None
    if x is not None:
        d = stats.diagram(df, x, y, fit=rule.fit)
        yield ("phase_diagram", "Phase diagram",
               figs.phase_diagram(d, stats.diagram_values(rule.fit)), _diagram_caption(d, rule))
    for k in axes[:MAX_ALONG]:
        a = stats.along(df, k, stats.grok_column(rule.fit))
        yield (f"time_to_grok_{k}", f"Time to grok against {k}",
               figs.along_axis(a, ylabel=f"step of test accuracy ≥ {rule.fit:g}"),
               _along_caption(a, rule.fit))
    runs = _curves(sweep_dir, df, x or "seed")
    if runs:
        n_done = int((df["status"] == "done").sum())
        yield ("training_curves", "Training curves of every run",
               figs.overlaid_curves(runs, axis=x or "seed"),
               f"Train and test accuracy of {len(runs)} of the {n_done} finished runs "
               f"(chosen evenly when there are more than {MAX_CURVES}), coloured by "
               f"{x or 'seed'}; a step axis in log scale.")
    point = stats.default_point(df, axes, _defaults(doc))
    at = stats.done(stats.select(df, point))
    delays = pd.to_numeric(at["delay"], errors="coerce").to_numpy(float)
    if len(at):
        yield ("delay_distribution", "Delay over seeds at the default point",
               figs.distribution(delays, xlabel="delay (steps, train ≥ 0.99 → test ≥ 0.99)"),
               _delay_caption(point, delays))


def _defaults(doc: dict) -> dict:
    """The value each varied key takes in the base configuration (grokscan train's defaults
    where the base does not set it)."""
    from grokscan.config import resolve, sections

    cfg = resolve(doc["base"])
    index = sections(doc["base"].get("task", "modular"))
    return {k: getattr(getattr(cfg, sec), f.name) for k, (sec, f) in index.items()
            if k in doc["varied"]}


def _diagram_caption(d, rule: PhaseRule) -> str:
    seen = [p for p in d.phase.flat if p]
    counts = ", ".join(f"{p} {seen.count(p)}" for p in PHASES if seen.count(p))
    over = f"{d.x} (columns)" + (f" × {d.y} (rows)" if d.y else "")
    return (f"Over {over}, {len(seen)} cells with finished runs; the commonest phase of each "
            f"cell, with its runs / the cell's runs: {counts or 'none'}. Heatmaps: the mean "
            "over the cell's runs that reached the value (blank: none did). Phase rule: "
            f"{rule.describe()}.")


def _along_caption(a, fit: float) -> str:
    reached = [int(np.isfinite(r).sum()) for r in a.per_run]
    total = sum(len(r) for r in a.per_run)
    ok = np.isfinite(a.mean)
    parts = [f"{sum(reached)} of {total} finished runs reached test accuracy {fit:g}."]
    if ok.sum() >= 2:
        i, j = np.flatnonzero(ok)[[0, -1]]
        parts.append(f"The mean step goes from {a.mean[i]:.0f} at {a.axis} = {stats.word(a.xs[i])} "
                     f"to {a.mean[j]:.0f} at {a.axis} = {stats.word(a.xs[j])}.")
    never = [stats.word(v) for v, r in zip(a.xs, reached) if r == 0]
    if never:
        parts.append(f"No run reached it at {a.axis} = {', '.join(never)}.")
    return " ".join(parts) + " Band: bootstrap 95 % interval of the mean (scipy)."


def _delay_caption(point: dict, delays) -> str:
    where = ", ".join(f"{k} = {stats.word(v)}" for k, v in point.items()) or "the base"
    v = delays[np.isfinite(delays)]
    if not v.size:
        return f"At {where}: no run both memorised and reached test accuracy 0.99."
    return (f"At {where} (the base configuration's values where the grid has them): "
            f"{v.size} of {len(delays)} runs grokked; delay median {np.median(v):.0f}, "
            f"from {v.min():.0f} to {v.max():.0f} steps.")


def _missing_values(df, varied: list[str]) -> list[str]:
    """A line for each varied key that some rows have no value of (an empty cell of
    summary.csv): those rows are left out of the figures over it."""
    out = []
    for k in varied:
        n = int(df[k].isna().sum())
        if n == len(df):
            out.append(f"{k}: no row has a value; no figure over it")
        elif n:
            out.append(f"{k}: {n} of {len(df)} rows have no value; they are left out of the "
                       f"figures over {k}")
    return out


def _curves(sweep_dir, df, axis: str) -> list[dict]:
    """The scalars of up to MAX_CURVES finished runs whose files are here."""
    from grokscan.store.reader import Run
    from grokscan.sweep.paths import run_file

    d = stats.done(df)
    d = d[d[axis].notna()]
    if len(d) > MAX_CURVES:
        d = d.iloc[np.linspace(0, len(d) - 1, MAX_CURVES).astype(int)]
    out = []
    for _, r in d.iterrows():
        path = run_file(sweep_dir, r["run"])
        if not os.path.exists(path):
            continue
        with Run(path) as run:
            s = run.scalars
            if "train_acc" in s and "test_acc" in s:
                out.append({"steps": run.steps, "train_acc": s["train_acc"],
                            "test_acc": s["test_acc"], "value": r[axis]})
    return out


def _page(sweep_dir, doc, df, items) -> str:
    from grokscan._version import __version__

    esc = html.escape
    names = [p["name"] for p in doc["points"]]
    status = table.counts(sweep_dir, df) + _missing_values(df, doc["varied"])
    figures = "".join(
        f'<figure id="{esc(name)}"><img src="data:image/png;base64,'
        f'{base64.b64encode(data).decode()}" alt="{esc(title)}"><figcaption><b>{esc(title)}.</b>'
        f" {esc(cap)}</figcaption></figure>"
        for name, title, cap, data in items)
    failed = df[df["status"] == "failed"]
    fail_rows = "".join(f"<tr><td>{esc(r['run'])}</td><td>{esc(str(r['error']))}</td></tr>"
                        for _, r in failed.iterrows())
    shown = ["run", *[k for k in doc["varied"]], "status", "phase", "step_train_0.99",
             "step_test_0.9", "step_test_0.99", "delay", "final_test_acc"]
    head = df[[c for c in shown if c in df]].head(50)
    grid = os.path.basename(doc.get("grid", "")) or "grid.toml"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>grokscan sweep — {esc(os.path.basename(os.path.abspath(sweep_dir)))}</title>
<style>{CSS}</style></head>
<body><main>
<h1>grokscan sweep — {esc(os.path.basename(os.path.abspath(sweep_dir)))}</h1>
<p class="run">{len(names)} points from {esc(grid)}; varied: {esc(', '.join(doc['varied']))}</p>
<ul class="facts">{''.join(f'<li>{esc(s)}</li>' for s in status)}</ul>
{figures}
{f'<h2>Failed runs</h2><table><tr><th>run</th><th>error</th></tr>{fail_rows}</table>'
 if fail_rows else ''}
<h2>Summary (first {len(head)} of {len(df)} rows; all in summary.csv)</h2>
{head.to_html(index=False, na_rep="—", float_format=lambda v: f"{v:.4g}", border=0)}
<div class="foot"><p>grokscan {esc(__version__)} · drawn from summary.csv and points.json
in {esc(os.path.abspath(sweep_dir))} · the figures are also in figures/ beside this page</p></div>
</main></body></html>"""
