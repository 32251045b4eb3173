"""Figures of a population of runs: phase diagrams, a value against one axis, overlaid
training curves, a distribution over seeds. They take the numbers of grokscan/sweep/stats.py."""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from grokscan.figures._style import PALETTE, SPLIT, new_figure, styled
from grokscan.sweep.stats import word as _word

PHASE_COLOURS = {"comprehension": PALETTE[2], "grokking": PALETTE[1],
                 "memorisation": PALETTE[0], "confusion": "0.6"}
PHASE_LETTER = {"comprehension": "C", "grokking": "G", "memorisation": "M", "confusion": "X"}


def _cells(ax, xs, ys, x, y) -> None:
    ax.set_xticks(range(len(xs)), [_word(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_word(v) for v in ys] if y else [""])
    ax.set_xlabel(x)
    if y:
        ax.set_ylabel(y)
    ax.grid(False)


@styled
def phase_diagram(d, labels: dict) -> Figure:
    """The phase of each cell (colour; letter and runs with it / runs) and one heatmap per
    value of ``d.values`` (mean over the cell's runs, printed; blank: no run reached it).
    ``d``: a stats.Diagram; ``labels``: {value name: panel title}."""
    names = list(d.values)
    n = len(names) + 1
    ncols = 2 if n > 2 else n
    nrows = -(-n // ncols)
    cell_h = 0.45 * len(d.ys) + 1.6
    fig, axes = new_figure(nrows, ncols, height=max(2.4, cell_h))
    ax = axes.flat[0]
    phases = list(PHASE_COLOURS)
    codes = np.array([[phases.index(p) if p else -1 for p in row] for row in d.phase], float)
    codes[codes < 0] = np.nan
    ax.imshow(codes, cmap=ListedColormap([PHASE_COLOURS[p] for p in phases]), vmin=-0.5,
              vmax=len(phases) - 0.5, aspect="auto", interpolation="nearest", origin="lower")
    for (i, j), p in np.ndenumerate(d.phase):
        text = f"{PHASE_LETTER[p]} {d.count[i, j]}/{d.runs[i, j]}" if p else "no run"
        ax.text(j, i, text, ha="center", va="center", fontsize="small",
                color="white" if p in ("grokking", "memorisation") else "black")
    _cells(ax, d.xs, d.ys, d.x, d.y)
    ax.set_title("phase")
    ax.legend(handles=[Patch(color=PHASE_COLOURS[p], label=f"{PHASE_LETTER[p]} {p}")
                       for p in phases], loc="upper left", bbox_to_anchor=(1.01, 1),
              fontsize="small")
    for ax, name in zip(list(axes.flat)[1:], names):
        v = d.values[name]
        im = ax.imshow(v, cmap="viridis", aspect="auto", interpolation="nearest", origin="lower")
        finite = v[np.isfinite(v)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0
        for (i, j), val in np.ndenumerate(v):
            if np.isfinite(val):
                ax.text(j, i, f"{val:.2f}" if abs(val) < 10 else f"{val:.0f}", ha="center",
                        va="center", fontsize="small", color="black" if val > mid else "white")
        _cells(ax, d.xs, d.ys, d.x, d.y)
        ax.set_title(labels.get(name, name), fontsize="medium")
        fig.colorbar(im, ax=ax, shrink=0.9)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig


@styled
def along_axis(a, *, ylabel: str) -> Figure:
    """``a.value`` against ``a.axis`` (a stats.AlongAxis), the axis values evenly spaced in
    order: every run as a dot (jittered sideways), the mean as a line with its bootstrap 95 %
    interval as a band; under each value, the runs that reached it / the runs."""
    fig, axes = new_figure(1, 1, height=3.6, width=7.5)
    ax = axes[0, 0]
    pos = np.arange(len(a.xs), dtype=float)
    rng = np.random.default_rng(0)
    for x0, vals in zip(pos, a.per_run):
        ok = np.isfinite(vals)
        ax.plot(x0 + rng.uniform(-0.08, 0.08, ok.sum()), vals[ok], "o", color=PALETTE[0],
                ms=4, alpha=0.6)
    ok = np.isfinite(a.mean)
    ax.plot(pos[ok], a.mean[ok], "-o", color=PALETTE[1], lw=2, ms=5)
    ax.fill_between(pos[ok], a.low[ok], a.high[ok], color=PALETTE[1], alpha=0.2, lw=0)
    ax.set_xticks(pos, [f"{_word(v)}\n{np.isfinite(r).sum()}/{len(r)}" for v, r in
                        zip(a.xs, a.per_run)])
    ax.set_xlim(-0.5, len(pos) - 0.5)
    ax.set_xlabel(f"{a.axis}   (runs that reached it / runs)")
    ax.set_ylabel(ylabel)
    ax.legend(handles=[Line2D([], [], ls="", marker="o", color=PALETTE[0], label="one run"),
                       Line2D([], [], color=PALETTE[1], lw=2, marker="o",
                              label="mean, 95 % bootstrap interval")],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


@styled
def overlaid_curves(runs: list[dict], *, axis: str, logx: bool = True) -> Figure:
    """Train and test accuracy of every run against step, coloured by its value of ``axis``.
    runs: [{"steps": (n,), "train_acc": (n,), "test_acc": (n,), "value": v}]."""
    fig, axes = new_figure(1, 2, height=3.4, sharey=True)
    values = sorted({r["value"] for r in runs}, key=lambda v: (str(type(v)), v))
    colours = dict(zip(values, sns.color_palette("viridis", len(values))))
    for ax, split in zip(axes[0], ("train", "test")):
        for r in runs:
            steps = np.asarray(r["steps"])
            keep = steps > 0 if logx else np.ones(len(steps), bool)
            ax.plot(steps[keep], np.asarray(r[f"{split}_acc"])[keep],
                    color=colours[r["value"]], lw=1, alpha=0.7)
        if logx:
            ax.set_xscale("log")
        ax.set_title(f"{split} accuracy")
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
        ax.title.set_color(SPLIT[split])
    axes[0, 1].legend(handles=[Line2D([], [], color=colours[v], lw=2, label=_word(v))
                               for v in values], title=axis, loc="upper left",
                      bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


@styled
def distribution(values, *, xlabel: str) -> Figure:
    """A histogram of ``values`` (finite ones), each run also a tick below it."""
    fig, axes = new_figure(1, 1, height=3.0, width=7.5)
    ax = axes[0, 0]
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    bins = min(20, max(3, v.size // 2)) if v.size > 1 else 1
    ax.hist(v, bins=bins, color=PALETTE[0], alpha=0.8)
    ax.plot(v, np.zeros_like(v), "|", color="black", ms=12)
    if v.size:
        ax.axvline(np.median(v), color=PALETTE[1], lw=2, label=f"median {np.median(v):.0f}")
        ax.legend(fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("runs")
    return fig
