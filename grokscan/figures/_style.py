"""The look every report figure shares: one seaborn theme, one palette, the event markers, and a
grid of time series that most figures are made of.

Figures are ``matplotlib.figure.Figure`` objects created without pyplot, each with its own Agg
canvas, so drawing one leaves no global state behind (a notebook's backend is not touched);
Agg renders them (PNG, PDF, and the GIF frames).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import matplotlib
import numpy as np
import seaborn as sns
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

# One theme for every figure: seaborn's "paper" context scaled up a little, a white grid.
RC = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("paper", font_scale=1.25),
    "axes.edgecolor": "0.35",
    "grid.color": "0.9",
    "axes.titleweight": "bold",
    "axes.titlesize": 11,
    "legend.frameon": False,
    "image.cmap": "rocket",
    "figure.dpi": 100,
}
PALETTE = sns.color_palette("colorblind")
SPLIT = {"train": PALETTE[0], "test": PALETTE[1]}
# the palette in an order whose first seven differ by CIELAB ΔE ≥ 37 (orange and vermilion,
# ΔE 26, are far apart in it): the colours of the series of one panel, in turn
SERIES = [PALETTE[i] for i in (0, 1, 2, 4, 7, 8, 5, 9, 3, 6)]
WIDTH = 10.0  # inches: a full-width report figure

# The events marked on every time axis: (colour, line style, legend text). What the run
# shows only; a detector's flag is a forecast, drawn in its own figure (figures/onset.py).
EVENTS = {
    "memorisation": ("0.45", "--", "memorisation (train acc ≥ 0.99)"),
    "grokking": (PALETTE[2], "-.", "grokking (test acc ≥ 0.99)"),
}

Markers = Mapping[str, "int | None"]  # event name (a key of EVENTS) -> step, or None


def styled(fn):
    """Run a plotting function inside the report's theme (rcParams are read as artists are
    created, so the finished Figure keeps the look after the context is left)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            return fn(*args, **kwargs)

    return wrapper


def new_figure(nrows: int, ncols: int, *, height: float, width: float = WIDTH, **kw):
    """A constrained-layout Figure and its axes array (always 2-D)."""
    fig = Figure(figsize=(width, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)  # its own canvas: saving and animating need no pyplot backend
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def add_markers(ax, markers: Markers | None, *, on_image: bool = False) -> None:
    """Vertical lines at the steps of the events in ``markers`` (absent or None: not drawn);
    ``on_image``: above a heatmap, with a white outline, rather than behind the curves."""
    for name, step in (markers or {}).items():
        if step is not None and name in EVENTS:
            colour, ls, _ = EVENTS[name]
            kw = (dict(zorder=3, path_effects=[patheffects.withStroke(linewidth=3,
                                                                       foreground="white")])
                  if on_image else dict(zorder=0.5))
            ax.axvline(step, color=colour, ls=ls, lw=1.4 if on_image else 1.2, **kw)


def marker_legend(fig: Figure, markers: Markers | None, extra: list | None = None) -> None:
    """One legend above the figure for the event markers (and any ``extra`` handles)."""
    handles = list(extra or [])
    for name, step in (markers or {}).items():
        if step is not None and name in EVENTS:
            colour, ls, text = EVENTS[name]
            handles.append(Line2D([], [], color=colour, ls=ls, lw=1.2, label=f"{text}: {step}"))
    if handles:
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 4))


@styled
def series_grid(steps, panels: Mapping[str, Mapping[str, np.ndarray]], *, markers=None,
                ncols: int = 2, logy=(), ylims: Mapping[str, tuple] | None = None,
                height: float = 2.8,
                colours: Mapping[str, object] | None = None) -> Figure:
    """Small multiples of quantities against step, one panel per entry of ``panels``.

    steps: (n,). panels: {title: {label: (n,) array}}; each curve is drawn on its finite
    points only (a dot per point when there are fewer than 40). ``logy``: titles whose y axis
    is logarithmic. Event ``markers`` appear on every panel and in one legend above; a
    panel's own legend sits beside it, off the curves. ``colours``: {label: colour} for labels
    that need their own (else train/test take theirs and the others the palette in turn).
    """
    steps = np.asarray(steps)
    titles = list(panels)
    ncols = max(1, min(ncols, len(titles)))
    nrows = -(-len(titles) // ncols)
    fig, axes = new_figure(nrows, ncols, height=height, sharex=True)
    named = {**SPLIT, **(colours or {})}
    colours = iter(SERIES[:7] * 8)
    for ax, title in zip(axes.flat, titles):
        curves = panels[title]
        for i, (label, y) in enumerate(curves.items()):
            y = np.asarray(y, dtype=float)
            ok = np.isfinite(y) & ((y > 0) if title in logy else True)
            colour = named.get(label) or named.setdefault(label, next(colours))
            dots = dict(marker="o", ms=3) if ok.sum() < 40 else {}
            ls = "-" if i < 7 else "--"  # past seven distinct colours, dashed
            ax.plot(steps[ok], y[ok], color=colour, lw=1.5, ls=ls, label=label, **dots)
        if title in logy:
            ax.set_yscale("log")
        if ylims and title in ylims:
            ax.set_ylim(*ylims[title])
        add_markers(ax, markers)
        ax.set_title(title)
        if len(curves) > 1:
            ax.legend(fontsize="small", ncols=1 if len(curves) < 8 else 2, loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    for j in range(ncols):  # the lowest visible panel of each column carries the step axis
        col = [ax for i, ax in enumerate(axes[:, j]) if i * ncols + j < len(titles)]
        col[-1].set_xlabel("step")
        col[-1].tick_params(labelbottom=True)
    for ax in list(axes.flat)[len(titles):]:
        ax.set_visible(False)
    marker_legend(fig, markers)
    return fig


def residue_colours(n: int):
    """n colours around a hue circle: neighbouring residues get neighbouring hues, and n−1
    wraps to 0 as the group does."""
    return sns.husl_palette(n, s=0.85, l=0.55)
