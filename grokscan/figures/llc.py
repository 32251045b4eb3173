"""The local learning coefficient (the llc family): its estimate against step, and the SGLD
chains' diagnostics."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from grokscan.figures._style import (
    PALETTE,
    SERIES,
    WIDTH,
    add_markers,
    marker_legend,
    new_figure,
    styled,
)


@styled
def llc_curve(steps, mean, std, *, markers=None) -> Figure:
    """λ̂ (mean over chains, bars ± one standard deviation over chains) at the checkpoints
    where it was computed (finite rows), against step, with the event markers.

    steps, mean, std: (n,)."""
    steps = np.asarray(steps)
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    ok = np.isfinite(mean)
    fig, axes = new_figure(1, 1, height=3.4)
    ax = axes[0, 0]
    ax.errorbar(steps[ok], mean[ok], yerr=np.nan_to_num(std[ok]), color=PALETTE[0], lw=1.6,
                marker="o", ms=4, capsize=0, elinewidth=1.2, label="λ̂ (mean ± std over chains)")
    add_markers(ax, markers)
    ax.set_xlabel("step")
    ax.set_ylabel("local learning coefficient λ̂")
    if ok.any() and np.nanmin(mean[ok]) > 0 and np.nanmax(mean[ok]) > 20 * np.nanmin(mean[ok]):
        ax.set_yscale("log")
    marker_legend(fig, markers)
    return fig


@styled
def llc_diagnostics(steps_shown, traces, init_loss, nbeta: float, steps, accept, *,
                    markers=None) -> Figure:
    """Top row: each chain's sampled loss as nβ (L_t − L(w*)) against the draw, at the
    checkpoints ``steps_shown`` (traces: (k, chains, draws), init_loss: (k,)); the black
    line is the chains' mean over the draws, that checkpoint's λ̂. Bottom: the MALA acceptance
    rate of each chain against step (accept: (n, chains), NaN where not computed), with the
    event markers."""
    traces = np.asarray(traces, dtype=float)
    k, n_chains, _ = traces.shape
    fig = Figure(figsize=(WIDTH, 5.6), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, max(k, 1))
    colours = SERIES[:n_chains] if n_chains <= 7 else [SERIES[i % 7] for i in range(n_chains)]
    for j in range(k):
        ax = fig.add_subplot(grid[0, j])
        y = nbeta * (traces[j] - float(init_loss[j]))
        for c in range(n_chains):
            ax.plot(np.arange(y.shape[1]), y[c], color=colours[c], lw=0.8,
                    ls="-" if c < 7 else "--")
        ax.axhline(float(y.mean()), color="black", lw=1.8)
        ax.set_title(f"step {int(steps_shown[j])}")
        ax.set_xlabel("draw")
        if j == 0:
            ax.set_ylabel("nβ (L − L(w*))")
    ax = fig.add_subplot(grid[1, :])
    steps, accept = np.asarray(steps), np.asarray(accept, dtype=float)
    ok = np.isfinite(accept).all(axis=1) if accept.ndim == 2 else np.isfinite(accept)
    for c in range(accept.shape[1] if accept.ndim == 2 else 0):
        ax.plot(steps[ok], accept[ok, c], color=colours[c], lw=1.2, marker="o", ms=3,
                ls="-" if c < 7 else "--")
    add_markers(ax, markers)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel("MALA acceptance rate")
    handles = [Line2D([], [], color=colours[c], lw=1.2, label=f"chain {c}")
               for c in range(n_chains)]
    handles.append(Line2D([], [], color="black", lw=1.8, label="mean over draws (λ̂)"))
    marker_legend(fig, markers, extra=handles)
    return fig
