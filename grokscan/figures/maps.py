"""Maps over the (a, b) input grid at a few moments (Nanda et al., arXiv:2301.05217): the
activations of single neurons and the attention of each head, one row per unit, one column per
moment, one colour scale per row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from grokscan.figures._style import DPI, panel, styled

ROW_HEIGHT = 2.35  # inches per unit
PANEL = 2.0  # inches: about the side of one map of a grid_maps figure
MAX_TICKS = 6


def row_norm(values: np.ndarray) -> tuple[str, Normalize]:
    """The colour map and scale of one row (all its moments): diverging, centred on 0, when
    any value is negative; else sequential from the row's least to its largest value."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    if lo < 0:
        top = max(abs(lo), abs(hi)) or 1.0
        return "vlag", Normalize(-top, top)
    return "rocket", Normalize(lo, hi if hi > lo else lo + 1e-12)


def _ticks(n: int, labels: Sequence | None) -> tuple[np.ndarray, list[str]]:
    step = max(1, int(np.ceil(n / MAX_TICKS)))
    at = np.arange(0, n, step)
    return at, [str(labels[i] if labels is not None else i) for i in at]


@panel(height=ROW_HEIGHT, width=3.4)
def grid_map(values, *, scale: tuple[str, Normalize] | None = None, title: str = "",
             axes_names: tuple[str, str] = ("a", "b"),
             tick_labels: Sequence | None = None, colour_label: str = "activation",
             colorbar: bool = True, ax=None) -> Axes | Figure:
    """One unit's value over the (a, b) input grid at one moment, as a heatmap.

    Nanda et al. (arXiv:2301.05217 §4–5): after grokking the map of a neuron of frequency k is a
    wave along each axis.

    Parameters
    ----------
    values : array_like of shape (n, n)
        The unit's value at a = i (row i) and b = j (column j) of the grid, in the order
        drawn.
    scale : tuple of (str, matplotlib.colors.Normalize), optional
        The colour map and scale, to share one between panels (e.g. ``row_norm`` of a whole
        row); None: ``grokscan.figures.maps.row_norm(values)``, diverging around 0 when a
        value is negative, else sequential.
    title : str, optional
        The panel's title.
    axes_names : tuple of (str, str), default ("a", "b")
        The names of the row and column inputs.
    tick_labels : sequence of length n, optional
        What position i stands for (default i), on at most six ticks.
    colour_label : str, default "activation"
        The colour bar's label.
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
    >>> from grokscan.figures import grid_map
    >>> a = np.arange(7)
    >>> values = np.cos(2 * np.pi * 2 * (a[:, None] + a[None, :]) / 7)
    >>> ax = grid_map(values, title="neuron 3, k = 2", ax=Figure().subplots())
    >>> np.array_equal(ax.images[0].get_array(), values)
    True
    """
    values = np.asarray(values, dtype=float)
    cmap, norm = row_norm(values) if scale is None else scale
    at, text = _ticks(len(values), tick_labels)
    im = ax.imshow(values, cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.grid(False)
    ax.set_yticks(at, text)
    ax.set_xticks(at, text)
    ax.set_ylabel(axes_names[0], fontsize=9)
    ax.set_xlabel(axes_names[1])
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=colour_label, shrink=0.9, pad=0.02)
    return ax


def residue_pixels(n: int, *, dpi: int = DPI) -> int:
    """The pixels per residue of a map over an n × n grid drawn at ``dpi``: a whole number, so
    that each residue is one square block of pixels (no resampling, so no aliasing however
    short the wavelength), chosen for a panel of about PANEL inches (each residue at least one
    pixel: a panel of n pixels past that)."""
    return max(1, int(PANEL * dpi) // n)


def _layout(R: int, M: int, side: int, *, title: int, dpi: int):
    """The figure's size in inches and the [left, bottom, width, height] of every panel and of
    each row's colour bar, in figure fractions, on whole pixels at ``dpi``; ``title``: the
    lines of the figure's title."""
    px = lambda inches: int(round(inches * dpi))  # noqa: E731
    left, gap, bar_gap, bar, bar_text = px(1.0), px(0.12), px(0.12), px(0.14), px(0.8)
    head, row_gap, foot, top = px(0.42), px(0.12), px(0.55), px(0.1 + 0.2 * title)
    W = left + M * side + (M - 1) * gap + bar_gap + bar + bar_text
    H = top + R * (head + side) + (R - 1) * row_gap + foot
    panels = np.empty((R, M, 4))
    bars = np.empty((R, 4))
    for r in range(R):
        y = H - top - head - side - r * (head + side + row_gap)  # the panel's bottom, in px
        for m in range(M):
            panels[r, m] = (left + m * (side + gap), y, side, side)
        bars[r] = (left + M * side + (M - 1) * gap + bar_gap, y + side // 10, bar,
                   side - 2 * (side // 10))
    scale = np.array([W, H, W, H], dtype=float)
    return (W / dpi, H / dpi), panels / scale, bars / scale


@styled
def grid_maps(values, *, rows: Sequence[str], moments: Sequence[str], titles=None,
              axes_names: tuple[str, str] = ("a", "b"), tick_labels: Sequence | None = None,
              colour_label: str = "activation", title: str = "") -> Figure:
    """Unit maps over the (a, b) input grid, one row per unit, one column per moment.

    One :func:`grid_map` per panel, one colour scale per row (``row_norm``) with its colour
    bar; the outer panels carry the ticks and labels (Nanda et al., arXiv:2301.05217). Each
    residue is a square block of ``residue_pixels(n)`` pixels at the figure's dpi (DPI, the
    report's PNG resolution, and what ``savefig`` uses by default): the grid is drawn as it
    is, never resampled, so a wave of wavelength 2 still reads as one (saved at another dpi
    the blocks are resampled).

    Parameters
    ----------
    values : array_like of shape (R, M, n, n)
        Entry [r, m, i, j]: the value of unit r at moment m, a = i (row) and b = j (column)
        of the grid in the order drawn.
    rows : sequence of str of length R
        The unit of each row (e.g. 'neuron 17, k = 5').
    moments : sequence of str of length M
        The name of each column, with its step ('memorisation, step 380').
    titles : sequence of sequence of str of shape (R, M), optional
        Extra text per panel, under the moment's name.
    axes_names : tuple of (str, str), default ("a", "b")
        The names of the row and column inputs.
    tick_labels : sequence of length n, optional
        What position i stands for (default i).
    colour_label : str, default "activation"
        The colour bars' label.
    title : str, optional
        The figure's title, above the rows (e.g. which of the units are shown).

    Returns
    -------
    matplotlib.figure.Figure
        The grid, on its own Agg canvas, at dpi DPI.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import grid_maps
    >>> values = np.random.default_rng(0).normal(size=(2, 3, 7, 7))
    >>> fig = grid_maps(values, rows=["neuron 1", "neuron 2"],
    ...                 moments=["start", "middle", "end"])
    >>> sum(1 for ax in fig.axes if ax.images)
    6
    """
    values = np.asarray(values, dtype=float)
    R, M, n, _ = values.shape
    side = n * residue_pixels(n)
    size, boxes, bars = _layout(R, M, side, title=title.count("\n") + 1 if title else 0,
                                dpi=DPI)
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)  # its own canvas: saving needs no pyplot backend
    at, _ = _ticks(n, tick_labels)
    axes = [[fig.add_axes(boxes[r, m]) for m in range(M)] for r in range(R)]  # panels first
    for r in range(R):
        scale = row_norm(values[r])
        for m in range(M):
            ax = axes[r][m]
            extra = f"\n{titles[r][m]}" if titles is not None else ""
            grid_map(values[r, m], scale=scale, title=f"{moments[m]}{extra}",
                     axes_names=axes_names, tick_labels=tick_labels, colorbar=False, ax=ax)
            if m == 0:
                ax.set_ylabel(f"{rows[r]}\n{axes_names[0]}", fontsize=9)
            else:  # the left column carries the a axis, the bottom row the b axis
                ax.set_yticks(at, [])
                ax.set_ylabel("")
            if r < R - 1:
                ax.set_xticks(at, [])
                ax.set_xlabel("")
        fig.colorbar(ax.images[0], cax=fig.add_axes(bars[r]), label=colour_label)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.06 / size[1], va="top")
    return fig
