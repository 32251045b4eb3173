"""The panels of ``grokscan factor --plot``: the last layer's rows in each projection read
(Salah & Yevick, arXiv:2411.05353 §3.3-3.4: P/d clusters of d points on the plane of a
frequency that shares the factor d with P)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from grokscan.figures._style import new_figure, panel, residue_colours, styled

if TYPE_CHECKING:
    from grokscan.factor.read import Evidence, FactorReport

OUTLINE = [patheffects.withStroke(linewidth=3, foreground="white")]

@styled
def factor_evidence(report: FactorReport, *, rejected: bool = False) -> Figure:
    """The projections of a factor report, one panel each.

    Each accepted projection (and, with ``rejected``, the others): one :func:`factor_panel` per
    projection, three a row, the report's summary above.

    Parameters
    ----------
    report : grokscan.factor.read.FactorReport
        What ``grokscan.factor.read.read_factors`` read off a last layer.
    rejected : bool, default False
        Also draw the projections read and not accepted, each with its reason.

    Returns
    -------
    matplotlib.figure.Figure
        The panels, on its own Agg canvas (one panel saying so when nothing was found).

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.factor.read import read_factors
    >>> from grokscan.figures import factor_evidence
    >>> q, rng = np.arange(20), np.random.default_rng(0)
    >>> u, v = rng.standard_normal((2, 64)) / 8
    >>> theta = 2 * np.pi * 4 * q / 20  # frequency 4 shares the factor 4 with P = 20
    >>> W = np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v
    >>> fig = factor_evidence(read_factors(W + 0.01 * rng.standard_normal(W.shape)))
    >>> fig.get_suptitle()
    'P = 20 = 2^2 · 5'
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
        factor_panel(e, ax=ax)
    fig.suptitle(report.summary())
    return fig


@panel(height=3.6, width=3.6)
def factor_panel(evidence: Evidence, *, ax=None) -> Axes | Figure:
    """One projection of the last layer's rows as read for factors of P.

    The P rows as points coloured by cluster; an accepted projection labels each cluster with
    its residue class beside it, a rejected one each point with its class q. The title gives the
    verdict (or the reason) and the quality.

    Parameters
    ----------
    evidence : grokscan.factor.read.Evidence
        One reading of a ``FactorReport`` (``report.evidence`` or ``report.rejected``):
        ``points`` of shape (P, 2), the rows' coordinates, with its clusters and verdict.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; None: a new Figure.

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
        ``ax``, drawn on; without ``ax``, a new Figure holding the panel.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from grokscan.factor.read import read_factors
    >>> from grokscan.figures import factor_panel
    >>> q, rng = np.arange(20), np.random.default_rng(0)
    >>> u, v = rng.standard_normal((2, 64)) / 8
    >>> theta = 2 * np.pi * 4 * q / 20  # frequency 4 shares the factor 4 with P = 20
    >>> W = np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v
    >>> report = read_factors(W + 0.01 * rng.standard_normal(W.shape))
    >>> ax = factor_panel(report.evidence[0], ax=Figure().subplots())
    >>> sorted(t.get_text() for t in ax.texts)  # five clusters: the classes mod 5
    ['0 mod 5', '1 mod 5', '2 mod 5', '3 mod 5', '4 mod 5']
    """
    e = evidence
    x, y = e.points[:, 0], e.points[:, 1]
    p = len(e.points)
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
    return ax


def _axis_names(projection: str) -> tuple[str, str]:
    """Axis labels of a projection named "PC0-PC1" or "freq k plane"."""
    if projection.startswith("PC") and "-" in projection:
        a, b = projection.split("-", 1)
        return a, b
    if projection.startswith("freq"):
        k = projection.split()[1]
        return f"cos {k} coordinate", f"sin {k} coordinate"
    return "coordinate 1", "coordinate 2"
