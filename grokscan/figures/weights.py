"""Weight statistics, dropout and output figures (arXiv:2411.05353, 2507.11645, 2510.25966):
weight entropy,
norm, inactive units and sparsity against step; variance under dropout; the Dropout
Robustness Curve; the softmax gap of the Ising paper."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from grokscan.figures._style import PALETTE, SERIES, new_figure, series_grid, styled


def weight_statistics(steps, panels: Mapping[str, Mapping[str, np.ndarray]], *,
                      markers=None) -> Figure:
    """Per-layer weight statistics against step: ``series_grid`` with one panel per
    statistic ({title: {layer: (n,)}}); a panel titled "... norm ..." has a log y axis, one
    titled "... (share)" a y axis from 0 (to at least 0.05, so that a share of 0 reads as 0)."""
    logy = [t for t in panels if "norm" in t]
    ylims = {}
    for t, curves in panels.items():
        if "(share)" in t:
            top = max((np.nanmax(v) for v in map(np.asarray, curves.values())
                       if np.isfinite(v).any()), default=0.0)
            ylims[t] = (-0.02 * max(top, 0.05), 1.1 * max(top, 0.05))
    return series_grid(steps, panels, markers=markers, ncols=2, logy=logy, ylims=ylims,
                       colours=layer_colours(panels))


def layer_colours(panels: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """One colour per layer in every panel: a hidden layer's units ("hidden 2") take the
    colour of its weights ("hidden.2.W"); any other label its own, in order of appearance."""
    def key(label: str) -> str:
        m = re.fullmatch(r"hidden[ .](\d+)(\.W)?", label)
        return f"hidden {m.group(1)}" if m else label

    keys = list(dict.fromkeys(key(label) for curves in panels.values() for label in curves))
    cycle = SERIES[:7] * (len(keys) // 7 + 1)
    return {label: cycle[keys.index(key(label))]
            for curves in panels.values() for label in curves}


def dropout_variance(steps, variance, mean, *, markers=None) -> Figure:
    """Variance and mean of test accuracy over stochastic dropout passes at frozen weights
    (Salah & Yevick, arXiv:2507.11645); (n,) each, NaN where not computed."""
    return series_grid(steps, {"variance of test accuracy under dropout": {"variance": variance},
                               "mean test accuracy under dropout": {"mean": mean}},
                       markers=markers, ncols=2, height=3.0)


@styled
def dropout_robustness(rates, accuracy, *, steps: Sequence[int]) -> Figure:
    """The Dropout Robustness Curve (arXiv:2507.11645): test accuracy against the dropout rate
    applied at inference, one curve per checkpoint, coloured from early (light) to late.

    rates: (R,); accuracy: (m, R) for the checkpoints ``steps`` (m,).
    """
    rates, acc = np.asarray(rates, dtype=float), np.asarray(accuracy, dtype=float)
    fig, axes = new_figure(1, 1, height=3.8, width=7.0)
    ax = axes[0, 0]
    colours = sns.color_palette("crest", len(acc))
    for a, step, colour in zip(acc, steps, colours):
        ok = np.isfinite(a)
        ax.plot(rates[ok], a[ok], marker="o", ms=3.5, lw=1.6, color=colour, label=f"step {step}")
    ax.set_xlabel("dropout rate at inference")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small", loc="upper right")
    return fig


def softmax_gap(steps, gap, gap_class=None, *, markers=None, class_names=None) -> Figure:
    """The mean gap P_max − P_second of the softmax outputs, overall and per class
    (Hutchison & Yevick, arXiv:2510.25966). gap: (n,); gap_class: (n, C) or None. With more
    than 10 classes the per-class panel shows their 10 %, 50 % and 90 % quantiles."""
    panels = {"softmax gap P_max − P_second": {"all samples": gap}}
    if gap_class is not None:
        g = np.asarray(gap_class, dtype=float)
        if g.shape[1] <= 10:
            names = class_names or [f"class {c}" for c in range(g.shape[1])]
            panels["per class"] = {names[c]: g[:, c] for c in range(g.shape[1])}
        else:
            with warnings.catch_warnings():  # rows not computed are all NaN: NaN quantiles
                warnings.simplefilter("ignore", RuntimeWarning)
                q = np.nanquantile(np.where(np.isfinite(g), g, np.nan), [0.1, 0.5, 0.9], axis=1)
            panels["per class (quantiles over classes)"] = {
                "10 %": q[0], "median": q[1], "90 %": q[2]}
    shades = sns.color_palette("crest", 3)  # the quantiles as light, middle and dark of one hue
    return series_grid(steps, panels, markers=markers, ncols=2, height=3.0,
                       colours={"all samples": PALETTE[0], "10 %": shades[0],
                                "median": shades[1], "90 %": shades[2]})
