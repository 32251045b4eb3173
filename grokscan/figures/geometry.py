"""Embedding geometry (arXiv:2507.11645; Nanda et al., arXiv:2301.05217): the constellation of
residue vectors, its animation, cosine-similarity matrices and the histogram of embedding
entries."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from grokscan.figures._style import (
    RC,
    new_figure,
    panel,
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


@panel(height=3.0, width=3.0)
def constellation_panel(xy, *, residues=None, hue=None, n_colours: int | None = None,
                        size: float | None = None, numbers: bool = True, title: str = "",
                        ax=None) -> Axes | Figure:
    """The residues' embedding vectors projected on one plane.

    arXiv:2507.11645; Nanda et al. (arXiv:2301.05217): a learned frequency k places the residues
    on a circle.

    The panel is scaled to fit, square, without ticks: the shape matters here, not the scale.

    Parameters
    ----------
    xy : array_like of shape (m, 2)
        The projection of each residue's vector on the plane.
    residues : array_like of int of shape (m,), optional
        The residue of each point (default 0..m−1), written beside it when m ≤ 50.
    hue : array_like of int of shape (m,), optional
        Each point's place on the hue circle (e.g. k·t mod P in the plane of frequency k, so
        that a learned circle shows as a colour wheel); default: the residue.
    n_colours : int, optional
        The number of places on the hue circle (default ``max(hue) + 1``).
    size : float, optional
        The area of a point in points² (default 18, or 14 past 50 points).
    numbers : bool, default True
        Write each residue beside its point (when m ≤ 50).
    title : str, optional
        The panel's title.
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
    >>> from grokscan.figures import constellation_panel
    >>> theta = 2 * np.pi * 3 * np.arange(11) / 11  # frequency 3 mod 11
    >>> xy = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    >>> ax = constellation_panel(xy, title="plane of k = 3", ax=Figure().subplots())
    >>> np.allclose(ax.collections[0].get_offsets(), xy), len(ax.texts)
    (True, 11)
    """
    xy = np.asarray(xy, dtype=float)
    m = len(xy)
    residues = np.arange(m) if residues is None else np.asarray(residues)
    hue = residues if hue is None else np.asarray(hue)
    colours = residue_colours(int(hue.max()) + 1 if n_colours is None else n_colours)
    size = (14 if m > LABEL_MAX else 18) if size is None else size
    _points(ax, xy, residues, colours, size=size, numbers=numbers, hue=hue)
    _square_limits(ax, xy)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


@styled
def constellation(coords, *, steps: Sequence[int], projections: Sequence[str],
                  residues=None, hues=None) -> Figure:
    """The residues' embedding vectors projected on planes, at several moments.

    A grid of :func:`constellation_panel`, one row per projection, one column per checkpoint
    (arXiv:2507.11645; Nanda et al., arXiv:2301.05217).

    Each panel is scaled to fit: the shape matters here, the scale is in the weight-norm
    figures.

    Parameters
    ----------
    coords : array_like of shape (n_projections, n_moments, m, 2)
        Row i of the grid is projection ``projections[i]``, column j the checkpoint at
        ``steps[j]``.
    steps : sequence of int of length n_moments
        The step of each column.
    projections : sequence of str of length n_projections
        The name of each row's plane (e.g. "PC 1–2", "plane of k = 14").
    residues : array_like of int of shape (m,), optional
        The residue of each point (default 0..m−1), its number when m ≤ 50.
    hues : array_like of int of shape (n_projections, m) or (m,), optional
        Each point's place on the hue circle in each row (e.g. k·t mod P in the plane of
        frequency k, so that a learned circle shows as a colour wheel); default: the residue.
        One hue circle for the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
        The grid, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import constellation
    >>> coords = np.random.default_rng(0).normal(size=(2, 3, 11, 2))
    >>> fig = constellation(coords, steps=[0, 500, 1000], projections=["PC 1–2", "k = 3"])
    >>> len(fig.axes), fig.axes[2].get_title()
    (6, 'step 1000')
    """
    coords = np.asarray(coords, dtype=float)
    n_proj, n_mom, m, _ = coords.shape
    residues = np.arange(m) if residues is None else np.asarray(residues)
    hues = np.broadcast_to(residues if hues is None else np.asarray(hues), (n_proj, m))
    side = min(2.2, 10.0 / n_mom)
    fig, axes = new_figure(n_proj, n_mom, height=side, width=side * n_mom)
    for i in range(n_proj):
        for j in range(n_mom):
            ax = axes[i, j]
            constellation_panel(coords[i, j], residues=residues, hue=hues[i],
                                n_colours=int(hues.max()) + 1,
                                title=f"step {steps[j]}" if i == 0 else "", ax=ax)
            if j == 0:
                ax.set_ylabel(projections[i], fontsize=9)
    return fig


@styled
def constellation_animation(frames, *, steps: Sequence[int], title: str, hue=None,
                            fps: int = 8) -> FuncAnimation:
    """The constellation over the whole run, one frame per checkpoint given.

    Each frame a :func:`constellation_panel` without numbers (unreadable at GIF size).

    Every frame is projected on the same two directions, so that motion between frames is
    motion of the vectors, not of the axes; each frame is scaled to fit, its scale shown in
    the title. An animation owns its Figure, so this function takes no ``ax``.

    Parameters
    ----------
    frames : array_like of shape (n_frames, m, 2)
        The residues' vectors on the plane at each checkpoint shown.
    steps : sequence of int of length n_frames
        The step of each frame.
    title : str
        The plane's name, above the step in each frame's title.
    hue : array_like of int of shape (m,), optional
        Each point's place on the hue circle (default 0..m−1; e.g. k·t mod P on the plane of
        frequency k, so that a learned circle shows as a colour wheel).
    fps : int, default 8
        Frames per second.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        The animation; its Figure is ``anim._fig``. Save it with a writer (e.g.
        ``PillowWriter`` for a GIF).

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import constellation_animation
    >>> frames = np.random.default_rng(0).normal(size=(4, 11, 2))
    >>> anim = constellation_animation(frames, steps=[0, 10, 20, 30], title="PC 1–2")
    >>> anim._fig.axes[0].get_title().splitlines()[0]
    'PC 1–2'

    Saved as a GIF:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from matplotlib.animation import PillowWriter
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     anim.save(Path(tmp) / "constellation.gif", writer=PillowWriter(fps=8), dpi=30)
    """
    frames = np.asarray(frames, dtype=float)
    m = frames.shape[1]
    hue = np.arange(m) if hue is None else np.asarray(hue)
    fig, axes = new_figure(1, 1, height=4.2, width=4.2)
    ax = axes[0, 0]

    def draw(t):  # frames are drawn while the animation is saved: keep the theme there too
        with matplotlib.rc_context(RC):
            ax.clear()
            constellation_panel(frames[t], residues=hue, hue=hue, size=24, numbers=False, ax=ax)
            r = float(np.abs(frames[t]).max())
            ax.set_title(f"{title}\nstep {steps[t]}   (half-width {r:.3g})", fontsize=9)
        return []

    draw(0)
    return FuncAnimation(fig, draw, frames=len(frames), interval=1000 / fps, blit=False)


@panel(height=3.0, width=3.6)
def cosine_matrix(matrix, *, title: str = "", axis_label: str = "residue",
                  colorbar: bool = True, ax=None) -> Axes | Figure:
    """The cosine similarity of every pair of embedding vectors at one checkpoint.

    On a diverging colour scale from −1 to 1 (Salah & Yevick, arXiv:2507.11645, Eq. 2: random at
    initialisation, co-diagonal bands at memorisation, a circulant matrix for a+b after
    grokking).

    Parameters
    ----------
    matrix : array_like of shape (m, m)
        Values in [−1, 1] (a row of ``embedding/cosine/matrix``).
    title : str, optional
        The panel's title.
    axis_label : str, default "residue"
        What the rows and columns are.
    colorbar : bool, default True
        A colour bar beside the panel.
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
    >>> from grokscan.figures import cosine_matrix
    >>> ax = cosine_matrix(np.eye(5), title="step 0", ax=Figure().subplots())
    >>> np.array_equal(ax.images[0].get_array(), np.eye(5)), ax.images[0].get_clim()
    (True, (-1.0, 1.0))
    """
    im = ax.imshow(np.asarray(matrix, dtype=float), cmap="vlag", vmin=-1, vmax=1,
                   interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.grid(False)
    ax.set_xlabel(axis_label)
    ax.set_ylabel(axis_label)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="cosine similarity", shrink=0.8)
    return ax


@styled
def cosine_matrices(matrices, *, steps: Sequence[int], axis_label: str = "residue") -> Figure:
    """Cosine-similarity matrices of the embedding vectors at several checkpoints.

    One :func:`cosine_matrix` per moment, in a row, on one colour scale.

    Parameters
    ----------
    matrices : array_like of shape (n_moments, m, m)
        Values in [−1, 1] (``embedding/cosine/matrix``).
    steps : sequence of int of length n_moments
        The step of each panel.
    axis_label : str, default "residue"
        What the rows and columns are (one label for the row of panels).

    Returns
    -------
    matplotlib.figure.Figure
        The row of panels and one colour bar, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import cosine_matrices
    >>> fig = cosine_matrices(np.stack([np.eye(5), -np.eye(5)]), steps=[0, 1000])
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['step 0', 'step 1000']
    """
    mats = np.asarray(matrices, dtype=float)
    n = len(mats)
    fig, axes = new_figure(1, n, height=10.0 / n * 0.92 + 0.4, width=10.0)
    for j, (ax, C, step) in enumerate(zip(axes[0], mats, steps)):
        cosine_matrix(C, title=f"step {step}", axis_label=axis_label, colorbar=False, ax=ax)
        ax.set_xlabel("")  # one label for the row, below: long ones overlap
        if j > 0:
            ax.set_ylabel("")
    fig.supxlabel(axis_label, fontsize="medium")
    fig.colorbar(axes[0, -1].images[0], ax=axes[0].tolist(), label="cosine similarity",
                 shrink=0.8)
    return fig


@panel(height=2.8, width=3.6)
def embedding_histogram(hist, edges, *, title: str = "", ax=None) -> Axes | Figure:
    """The histogram of embedding entries at one checkpoint, as a density.

    Of unit area (arXiv:2507.11645: one Gaussian at initialisation, two symmetric peaks by the
    end of grokking).

    Parameters
    ----------
    hist : array_like of shape (n_bins,)
        Counts or densities.
    edges : array_like of shape (n_bins + 1,)
        The bin edges.
    title : str, optional
        The panel's title.
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
    >>> from grokscan.figures import embedding_histogram
    >>> ax = embedding_histogram([1.0, 3.0], [0.0, 1.0, 2.0], ax=Figure().subplots())
    >>> ax.patches[0].get_data().values.tolist()  # unit area
    [0.25, 0.75]
    """
    h, e = np.asarray(hist, dtype=float), np.asarray(edges, dtype=float)
    area = (h * np.diff(e)).sum()
    ax.stairs(h / area if area > 0 else h, e, fill=True, color="C0", alpha=0.75)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("entry value")
    ax.set_ylabel("density")
    return ax


@styled
def embedding_histograms(hist, edges, *, steps: Sequence[int]) -> Figure:
    """The histogram of embedding entries at several checkpoints.

    One :func:`embedding_histogram` per checkpoint, in a row, on one shared x range (the
    union of the checkpoints' bins), said in the axis label. Each is normalised to unit area,
    so checkpoints with different ranges compare.

    Parameters
    ----------
    hist : array_like of shape (n_moments, n_bins)
        Counts or densities.
    edges : array_like of shape (n_moments, n_bins + 1)
        The bin edges of each checkpoint.
    steps : sequence of int of length n_moments
        The step of each panel.

    Returns
    -------
    matplotlib.figure.Figure
        The row of panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import embedding_histograms
    >>> fig = embedding_histograms([[1.0, 3.0], [2.0, 2.0]], [[0, 1, 2], [0, 0.5, 1]],
    ...                            steps=[0, 1000])
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['density', '']
    """
    hist, edges = np.asarray(hist, dtype=float), np.asarray(edges, dtype=float)
    fig, axes = new_figure(1, len(hist), height=2.8, width=10.0, sharex=True)
    for j, (ax, h, e, step) in enumerate(zip(axes[0], hist, edges, steps)):
        embedding_histogram(h, e, title=f"step {step}", ax=ax)
        ax.set_xlabel("")
        if j > 0:
            ax.set_ylabel("")
    finite = edges[np.isfinite(edges)]
    if finite.size and finite.max() > finite.min():
        axes[0, 0].set_xlim(finite.min(), finite.max())  # shared: every panel, one range
    fig.supxlabel("embedding entry value (one x range for every panel)", fontsize="medium")
    return fig


def embedding_structure(steps, panels, *, markers=None) -> Figure:
    """Scalar summaries of the embedding geometry against step.

    Circulant share, band contrast, bimodality coefficient (arXiv:2507.11645):
    :func:`series_grid` with the report's titles.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    panels : mapping of str to mapping of str to array_like of shape (n_checkpoints,)
        {title: {label: values}}, one panel per title.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels a row, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import embedding_structure
    >>> t = np.linspace(0, 1, 10)
    >>> fig = embedding_structure(np.arange(10), {"circulant share": {"embedding": t}})
    >>> fig.axes[0].get_title()
    'circulant share'
    """
    return series_grid(steps, panels, markers=markers, ncols=2, height=2.7)
