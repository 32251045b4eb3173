"""The panels of ``grokscan factor --plot``: the last layer's rows in each projection read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure

from grokscan.figures._style import new_figure, residue_colours, styled

if TYPE_CHECKING:
    from grokscan.factor.read import FactorReport

OUTLINE = [patheffects.withStroke(linewidth=3, foreground="white")]


@styled
def factor_evidence(report: FactorReport, *, rejected: bool = False) -> Figure:
    """Each accepted projection (and, with ``rejected``, the others) of a factor report.

    One panel per projection: the P rows of the last layer as points, coloured by cluster; an
    accepted cluster is labelled with its residue class beside the cluster, the points of a
    rejected projection with their class q.
    """
    shown = list(report.evidence) + (list(report.rejected) if rejected else [])
    n = max(len(shown), 1)
    cols = min(n, 3)
    fig, axes = new_figure(-(-n // cols), cols, height=3.6, width=3.6 * cols)
    axes = axes.ravel()
    for ax in axes[len(shown):]:
        ax.set_axis_off()
    if not shown:
        axes[0].text(0.5, 0.5, f"P = {report.p}: no cluster pattern found",
                     ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    for ax, e in zip(axes, shown):
        _panel(ax, e, report.p)
    fig.suptitle(report.summary())
    return fig


def _panel(ax, e, p: int) -> None:
    x, y = e.points[:, 0], e.points[:, 1]
    colours = residue_colours(max(len(e.residues), 1))
    cluster = np.zeros(p, dtype=int)
    for i, arc in enumerate(e.residues):
        cluster[list(arc)] = i
    ax.scatter(x, y, c=[colours[c] for c in cluster], s=28, edgecolor="white", lw=0.5, zorder=2)
    centre = e.points.mean(axis=0)
    if e.accepted:  # one label a cluster, its residue class, outside the cluster
        for arc in e.residues:
            at = e.points[list(arc)].mean(axis=0)
            out = (at - centre) / (np.linalg.norm(at - centre) or 1.0)
            ax.annotate(f"{arc[0]} mod {e.n_clusters}", at, xytext=14 * out,
                        textcoords="offset points", ha="center", va="center", fontsize=8,
                        path_effects=OUTLINE, zorder=3)
    else:
        for q in range(p):
            ax.annotate(str(q), (x[q], y[q]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points", path_effects=OUTLINE)
    verdict = f"{e.n_clusters} clusters of {e.cluster_size}" if e.accepted else e.reason
    ax.set_title(f"{e.projection}: {verdict}\nquality {e.quality:.2f}", fontsize=9)
    first, second = _axis_names(e.projection)
    ax.set_xlabel(first)
    ax.set_ylabel(second)
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.18)


def _axis_names(projection: str) -> tuple[str, str]:
    """Axis labels of a projection named "PC0-PC1" or "freq k plane"."""
    if projection.startswith("PC") and "-" in projection:
        a, b = projection.split("-", 1)
        return a, b
    if projection.startswith("freq"):
        k = projection.split()[1]
        return f"cos {k} coordinate", f"sin {k} coordinate"
    return "coordinate 1", "coordinate 2"
