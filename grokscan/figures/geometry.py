"""Embedding geometry (arXiv:2507.11645; Nanda et al., arXiv:2301.05217): the constellation of
residue vectors, its animation, cosine-similarity matrices and the histogram of embedding
entries."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from grokscan.figures._style import (
    RC,
    new_figure,
    residue_colours,
    series_grid,
    styled,
)

LABEL_MAX = 50  # residues are numbered on the points up to this many points


def _square_limits(ax, xy: np.ndarray, pad: float = 1.12) -> None:
    r = float(np.abs(xy).max()) * pad if xy.size and np.abs(xy).max() > 0 else 1.0
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)


def _points(ax, xy: np.ndarray, residues: np.ndarray, colours, *, size: float = 22,
            numbers: bool = True, hue=None) -> None:
    """Scatter xy (m, 2) coloured by ``hue`` (default: the residue); numbered by residue when
    few (and ``numbers``)."""
    hue = residues if hue is None else hue
    ax.scatter(xy[:, 0], xy[:, 1], c=[colours[h % len(colours)] for h in hue], s=size,
               edgecolors="0.2", linewidths=0.3, zorder=3)
    if numbers and len(xy) <= LABEL_MAX:
        for (x, y), r in zip(xy, residues):
            ax.annotate(str(r), (x, y), xytext=(2.5, 2.5), textcoords="offset points",
                        fontsize=6, color="0.25")


@styled
def constellation(coords, *, steps: Sequence[int], projections: Sequence[str],
                  residues=None, hues=None) -> Figure:
    """The residues' embedding vectors projected on planes, at several moments.

    coords: (n_projections, n_moments, m, 2); row i of the grid is projection
    ``projections[i]`` (e.g. "PC 1–2", "plane of k = 14"), column j the checkpoint at
    ``steps[j]``. residues: (m,) the residue of each point (default 0..m−1), its number when
    m ≤ 50. hues: (n_projections, m) each point's place on the hue circle in each row (e.g.
    k·t mod P in the plane of frequency k, so that a learned circle shows as a colour wheel);
    default: the residue. Each panel is scaled to fit: the shape matters here, the scale is in
    the weight-norm figures.
    """
    coords = np.asarray(coords, dtype=float)
    n_proj, n_mom, m, _ = coords.shape
    residues = np.arange(m) if residues is None else np.asarray(residues)
    hues = np.broadcast_to(residues if hues is None else np.asarray(hues), (n_proj, m))
    colours = residue_colours(int(hues.max()) + 1)
    side = min(2.2, 10.0 / n_mom)
    fig, axes = new_figure(n_proj, n_mom, height=side, width=side * n_mom)
    for i in range(n_proj):
        for j in range(n_mom):
            ax = axes[i, j]
            _points(ax, coords[i, j], residues, colours, size=14 if m > LABEL_MAX else 18,
                    hue=hues[i])
            _square_limits(ax, coords[i, j])
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"step {steps[j]}", fontsize=10)
            if j == 0:
                ax.set_ylabel(projections[i], fontsize=9)
    return fig


@styled
def constellation_animation(frames, *, steps: Sequence[int], title: str, hue=None,
                            fps: int = 8) -> FuncAnimation:
    """The constellation over the whole run, one frame per checkpoint given.

    frames: (n_frames, m, 2), every frame projected on the same two directions (so that
    motion between frames is motion of the vectors, not of the axes); each frame is scaled to
    fit, its scale shown in the title. hue: (m,) integer position of each point on the hue
    circle (default 0..m−1; e.g. k·t mod P on the plane of frequency k, so that a learned
    circle shows as a colour wheel). Numbers would be unreadable at GIF size and are left out.
    Returns the animation; its Figure is ``anim._fig``.
    """
    frames = np.asarray(frames, dtype=float)
    m = frames.shape[1]
    hue = np.arange(m) if hue is None else np.asarray(hue)
    colours = residue_colours(int(hue.max()) + 1)
    fig, axes = new_figure(1, 1, height=4.2, width=4.2)
    ax = axes[0, 0]

    def draw(t):  # frames are drawn while the animation is saved: keep the theme there too
        with matplotlib.rc_context(RC):
            _draw(t)
        return []

    def _draw(t):
        ax.clear()
        _points(ax, frames[t], hue, colours, size=24, numbers=False)
        _square_limits(ax, frames[t])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        r = float(np.abs(frames[t]).max())
        ax.set_title(f"{title}\nstep {steps[t]}   (half-width {r:.3g})", fontsize=9)

    draw(0)
    return FuncAnimation(fig, draw, frames=len(frames), interval=1000 / fps, blit=False)


@styled
def cosine_matrices(matrices, *, steps: Sequence[int], axis_label: str = "residue") -> Figure:
    """Cosine-similarity matrices of the embedding vectors at several checkpoints.

    matrices: (n_moments, m, m), values in [−1, 1] (``embedding/cosine/matrix``); one panel
    per moment on one diverging colour scale.
    """
    mats = np.asarray(matrices, dtype=float)
    n = len(mats)
    fig, axes = new_figure(1, n, height=10.0 / n * 0.92 + 0.4, width=10.0)
    for ax, C, step in zip(axes[0], mats, steps):
        im = ax.imshow(C, cmap="vlag", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"step {step}", fontsize=10)
        ax.grid(False)
    axes[0, 0].set_ylabel(axis_label)
    fig.supxlabel(axis_label, fontsize="medium")  # one label for the row: long ones overlap
    fig.colorbar(im, ax=axes[0].tolist(), label="cosine similarity", shrink=0.8)
    return fig


@styled
def embedding_histograms(hist, edges, *, steps: Sequence[int]) -> Figure:
    """The histogram of embedding entries at several checkpoints, as densities.

    hist: (n_moments, n_bins) counts or densities; edges: (n_moments, n_bins + 1). Each is
    normalised to unit area, so checkpoints with different ranges compare.
    """
    hist, edges = np.asarray(hist, dtype=float), np.asarray(edges, dtype=float)
    n = len(hist)
    fig, axes = new_figure(1, n, height=2.8, width=10.0)
    for ax, h, e, step in zip(axes[0], hist, edges, steps):
        area = (h * np.diff(e)).sum()
        density = h / area if area > 0 else h
        ax.stairs(density, e, fill=True, color="C0", alpha=0.75)
        ax.set_title(f"step {step}", fontsize=10)
        ax.set_xlabel("entry value")
    axes[0, 0].set_ylabel("density")
    return fig


def embedding_structure(steps, panels, *, markers=None) -> Figure:
    """Scalar summaries of the embedding geometry against step (circulant share, band
    contrast, bimodality coefficient): ``series_grid`` with the report's titles."""
    return series_grid(steps, panels, markers=markers, ncols=2, height=2.7)
