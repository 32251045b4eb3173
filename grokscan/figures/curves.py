"""Training curves: loss and accuracy against step, with the event markers."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from grokscan.figures._style import (
    PALETTE,
    SPLIT,
    add_markers,
    marker_legend,
    new_figure,
    styled,
)


@styled
def training_curves(steps, scalars: Mapping[str, np.ndarray], *, markers=None) -> Figure:
    """Loss (log scale) and accuracy of every split recorded, against step.

    steps: (n,). scalars: {name: (n,)} with ``train_loss``, ``test_loss``, ``train_acc``,
    ``test_acc`` and any ``<extra>_loss`` / ``<extra>_acc`` (e.g. the Ising ``inverted`` set).
    """
    steps = np.asarray(steps)
    fig, axes = new_figure(1, 2, height=3.4)
    splits = [k[: -len("_loss")] for k in scalars if k.endswith("_loss")]
    splits += [k[: -len("_acc")] for k in scalars if k.endswith("_acc")]
    splits = sorted(set(splits), key=lambda s: (s not in SPLIT, s != "train", s))
    extra = iter(PALETTE[2:])
    colours = {s: SPLIT.get(s) or next(extra) for s in splits}
    for ax, suffix, title in ((axes[0, 0], "_loss", "loss"), (axes[0, 1], "_acc", "accuracy")):
        for s in splits:
            y = scalars.get(s + suffix)
            if y is None:
                continue
            y = np.asarray(y, dtype=float)
            ok = np.isfinite(y) & ((y > 0) if suffix == "_loss" else True)
            ax.plot(steps[ok], y[ok], color=colours[s], lw=1.6, label=s)
        add_markers(ax, markers)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize="small")
    axes[0, 0].set_yscale("log")
    axes[0, 1].set_ylim(-0.02, 1.02)
    marker_legend(fig, markers)
    return fig
