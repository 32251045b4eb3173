"""Fourier figures (Nanda et al., arXiv:2301.05217; Furuta et al., arXiv:2402.16726): the
spectrum of the embedding over training, the scalar measures of that spectrum, the neurons' 2-D
spectrum, and the restricted and excluded loss."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grokscan.figures._style import (
    SERIES,
    SPLIT,
    add_markers,
    marker_legend,
    new_figure,
    series_grid,
    styled,
)


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around (possibly unevenly spaced) centres x (n,): midpoints, ends mirrored."""
    x = np.asarray(x, dtype=float)
    if len(x) == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])


@styled
def fourier_heatmap(steps, norms: Mapping[str, np.ndarray], *, markers=None) -> Figure:
    """The norm carried by each frequency, frequency (rows) × checkpoint (columns).

    steps: (n,). norms: {panel title: (n, K)}, column k−1 the norm √(μ_k² + ν_k²) of frequency
    k (from ``grokscan.metrics.fourier.frequency_power``); one panel per entry.
    """
    steps = np.asarray(steps)
    fig, axes = new_figure(len(norms), 1, height=3.2, sharex=True)
    x = _edges(steps)
    for ax, (title, z) in zip(axes[:, 0], norms.items()):
        z = np.asarray(z, dtype=float)
        k = np.arange(1, z.shape[1] + 1)
        mesh = ax.pcolormesh(x, _edges(k), z.T, shading="flat", rasterized=True)
        fig.colorbar(mesh, ax=ax, label="norm", pad=0.01)
        add_markers(ax, markers, on_image=True)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_ylabel("frequency k")
        ax.grid(False)
    axes[-1, 0].set_xlabel("step")
    marker_legend(fig, markers)
    return fig


def fourier_measures(steps, measures: Mapping[str, Mapping[str, np.ndarray]], *,
                     markers=None) -> Figure:
    """FFD, FCR, Gini coefficient and spectral entropy against step (Furuta et al. Eq. 5-6).

    measures: {title: {"embedding": (n,), "neuron-logit map": (n,)}}.
    """
    return series_grid(steps, measures, markers=markers, ncols=2)


@styled
def neuron_spectrum(before: np.ndarray, after: np.ndarray, *, steps: tuple[int, int],
                    labels: tuple[str, str] = ("before grokking", "after grokking")) -> Figure:
    """The neuron-mean 2-D power over (a, b) in the Fourier basis, at two checkpoints.

    before, after: (B, B), rows and columns in basis order (constant, cos 1, sin 1, ...), the
    ``neurons/mean_power`` of two checkpoints. Both panels share one logarithmic colour scale.
    """
    before, after = np.asarray(before, float), np.asarray(after, float)
    pos = np.concatenate([before[before > 0], after[after > 0]])
    vmax = pos.max() if pos.size else 1.0
    vmin = max(pos.min() if pos.size else 1e-12, vmax * 1e-6)
    norm = LogNorm(vmin=vmin, vmax=vmax)
    fig, axes = new_figure(1, 2, height=4.4, width=9.0)
    n = before.shape[0]
    ticks = [2 * k - 1 for k in _tick_freqs(n // 2)]
    for ax, z, label, step in zip(axes[0], (before, after), labels, steps):
        mesh = ax.pcolormesh(np.clip(z, vmin, None), norm=norm, rasterized=True)
        ax.set_aspect("equal")
        ax.set_title(f"{label} (step {step})")
        ax.set_xticks(np.asarray(ticks) + 0.5, [str((t + 1) // 2) for t in ticks])
        ax.set_yticks(np.asarray(ticks) + 0.5, [str((t + 1) // 2) for t in ticks])
        ax.set_xlabel("frequency of b")
        ax.set_ylabel("frequency of a")
        ax.grid(False)
    fig.colorbar(mesh, ax=axes[0].tolist(), label="mean power", shrink=0.85)
    return fig


def _tick_freqs(K: int) -> list[int]:
    step = max(1, int(np.ceil(K / 8)))
    return list(range(step, K + 1, step))


@styled
def frequency_loss(steps, losses: Mapping[str, np.ndarray], *, markers=None) -> Figure:
    """Train and test loss with Nanda's restricted and excluded loss, against step (log y).

    losses: {name: (n,)} with names from ``loss_train``, ``loss_test``, ``restricted_train``,
    ``restricted_test``, ``excluded_train``, ``excluded_test``; colour is the split, line style
    the kind (solid: the plain loss, dashed: restricted, dotted: excluded).
    """
    steps = np.asarray(steps)
    fig, axes = new_figure(1, 1, height=3.8, width=9.0)
    ax = axes[0, 0]
    style = {"loss": "-", "restricted": "--", "excluded": ":"}
    for name, y in losses.items():
        kind, split = name.rsplit("_", 1)
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(y) & (y > 0)
        ax.plot(steps[ok], y[ok], color=SPLIT.get(split, "0.3"), ls=style.get(kind, "-"),
                lw=1.6, label=f"{kind} ({split})")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    add_markers(ax, markers)
    marker_legend(fig, markers)
    return fig


@styled
def trig_coefficients(steps, coefficients: Mapping[int, np.ndarray], *, markers=None) -> Figure:
    """The coefficient of the unit direction cos(w_k(a+b−c)) in the logits, one line per key
    frequency k, against step (Nanda et al. 2023, arXiv:2301.05217, the "trig components").

    coefficients: {k: (n,)}; each line drawn on its finite points.
    """
    steps = np.asarray(steps)
    fig, axes = new_figure(1, 1, height=3.6, width=9.0)
    ax = axes[0, 0]
    for i, (k, y) in enumerate(sorted(coefficients.items())):
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(y)
        # seven distinct colours (SERIES), then the same again dashed
        ax.plot(steps[ok], y[ok], lw=1.6, color=SERIES[i % 7], ls="-" if i < 7 else "--",
                label=f"k = {k}")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("coefficient of cos(w_k(a+b−c))")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    add_markers(ax, markers)
    marker_legend(fig, markers)
    return fig
