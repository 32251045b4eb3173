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
from matplotlib.axes import Axes
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
DPI = 130  # the report's PNG resolution: a full-width figure is 1300 px wide

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


def marker_legend(fig: Figure, markers: Markers | None, extra: list | None = None, *,
                  ncols: int | None = None) -> None:
    """Name the event markers of a figure in one legend above it.

    The panels draw each event as a vertical line without a label; this legend says which
    line is which event and its step, once for the whole figure.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (the legend goes above its Axes, with constrained layout; in a figure
        without it, at its top centre).
    markers : mapping of str to int or None
        {event: step} of the events of :data:`EVENTS`; an event whose step is None, or not
        in EVENTS, is left out.
    extra : list of matplotlib.artist.Artist, optional
        Handles to list before the events (e.g. the chains of a panel).
    ncols : int, optional
        The legend's columns (default: one per entry, at most four); fewer where the legend
        would be wider than the figure.

    Returns
    -------
    None
        No legend is made when there is nothing to name.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from grokscan.figures import accuracy_curves, marker_legend
    >>> fig = Figure(layout="constrained")
    >>> markers = {"memorisation": 300, "grokking": 1500}
    >>> ax = accuracy_curves(np.arange(0, 2000, 100), {"test_acc": np.linspace(0, 1, 20)},
    ...                      markers=markers, ax=fig.subplots())
    >>> marker_legend(fig, markers)
    >>> [text.get_text() for text in fig.legends[0].get_texts()]
    ['memorisation (train acc ≥ 0.99): 300', 'grokking (test acc ≥ 0.99): 1500']
    """
    handles = list(extra or [])
    for name, step in (markers or {}).items():
        if step is not None and name in EVENTS:
            colour, ls, text = EVENTS[name]
            handles.append(Line2D([], [], color=colour, ls=ls, lw=1.2, label=f"{text}: {step}"))
    if handles:
        ncols = ncols or min(len(handles), 4)
        while True:  # fewer columns while the legend is wider than the figure (it would be cut)
            legend = fig.legend(handles=handles, loc="outside upper center", ncols=ncols)
            renderer = getattr(fig.canvas, "get_renderer", None)  # an Agg canvas: measured
            if ncols == 1 or renderer is None or (
                    legend.get_window_extent(renderer()).width <= fig.bbox.width):
                break
            legend.remove()
            ncols -= 1


def panel(*, height: float, width: float = WIDTH):
    """Make a function that draws one panel on the Axes ``ax`` (a keyword) usable alone.

    Given ``ax``, the function draws on it in the report's theme (:data:`RC`) and returns it.
    Without one, it draws on a new Figure of ``width`` × ``height`` inches (its own Agg canvas,
    no pyplot) with the legend of its event ``markers`` above (the events one under the other
    in a figure narrower than 6 inches), as the report shows it, and returns that Figure.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, ax=None, **kwargs):
            with matplotlib.rc_context(RC):
                if ax is not None:
                    return fn(*args, ax=ax, **kwargs)
                fig, axes = new_figure(1, 1, height=height, width=width)
                fn(*args, ax=axes[0, 0], **kwargs)
                marker_legend(fig, kwargs.get("markers"), ncols=None if width >= 6 else 1)
                return fig

        return wrapper

    return decorate


def _series_colours(labels, colours: Mapping[str, object] | None = None) -> dict:
    """{label: colour} for the curves of some panels, in order of appearance: the colour given
    in ``colours``, else train and test their own (SPLIT), else the palette's seven most
    distinct colours (SERIES) in turn."""
    named = {**SPLIT, **(colours or {})}
    cycle = iter(SERIES[:7] * 8)
    for label in labels:
        if not named.get(label):
            named[label] = next(cycle)
    return named


@panel(height=2.8, width=WIDTH / 2)
def series_panel(steps, curves: Mapping[str, np.ndarray], *, title: str = "", markers=None,
                 logy: bool = False, ylim: tuple | None = None,
                 colours: Mapping[str, object] | None = None, ax=None) -> Axes | Figure:
    """Draw some quantities against step on one Axes.

    Each curve is drawn on its finite points, with a dot at each when it has fewer than 40;
    past seven curves the colours repeat, dashed. With more than one curve, a legend sits
    beside the panel, off the curves.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    curves : mapping of str to array_like of shape (n_checkpoints,)
        {label: values}; NaN (and, with ``logy``, values ≤ 0) are left out.
    title : str, optional
        The panel's title.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark (None: not drawn).
    logy : bool, default False
        A logarithmic y axis.
    ylim : tuple of (float, float), optional
        The y axis limits.
    colours : mapping of str to colour, optional
        {label: colour} for labels that need their own; otherwise train and test take
        theirs and the other labels the palette's seven most distinct colours in turn.
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
    >>> from grokscan.figures import series_panel
    >>> steps = np.arange(0, 100, 10)
    >>> ax = series_panel(steps, {"train": np.linspace(0, 1, 10)}, title="accuracy",
    ...                   ax=Figure().subplots())
    >>> float(ax.lines[0].get_ydata()[-1])
    1.0
    """
    steps = np.asarray(steps)
    named = _series_colours(curves, colours)
    for i, (label, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(y) & ((y > 0) if logy else True)
        dots = dict(marker="o", ms=3) if ok.sum() < 40 else {}
        ls = "-" if i < 7 else "--"  # past seven distinct colours, dashed
        ax.plot(steps[ok], y[ok], color=named[label], lw=1.5, ls=ls, label=label, **dots)
    if logy:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    add_markers(ax, markers)
    ax.set_title(title)
    if len(curves) > 1:
        ax.legend(fontsize="small", ncols=1 if len(curves) < 8 else 2, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_xlabel("step")
    return ax


@styled
def series_grid(steps, panels: Mapping[str, Mapping[str, np.ndarray]], *, markers=None,
                ncols: int = 2, logy=(), ylims: Mapping[str, tuple] | None = None,
                height: float = 2.8,
                colours: Mapping[str, object] | None = None) -> Figure:
    """Small multiples of quantities against step, one panel per entry.

    One :func:`series_panel` per entry of ``panels``; a label has one colour in every panel.
    The last panel spans the rest of its row, so no slot is left empty. Event markers appear on
    every panel and in one legend above; each column's lowest panel carries the step axis.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    panels : mapping of str to mapping of str to array_like of shape (n_checkpoints,)
        {title: {label: values}}, one panel per title, in order.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark.
    ncols : int, default 2
        Panels per row.
    logy : collection of str, optional
        The titles of the panels whose y axis is logarithmic.
    ylims : mapping of str to tuple of (float, float), optional
        {title: (bottom, top)} y limits of some panels.
    height : float, default 2.8
        Inches per row of panels.
    colours : mapping of str to colour, optional
        {label: colour} for labels that need their own; otherwise train and test take
        theirs and the other labels the palette's seven most distinct colours in turn.

    Returns
    -------
    matplotlib.figure.Figure
        The grid, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import series_grid
    >>> steps = np.arange(0, 100, 10)
    >>> fig = series_grid(steps, {"loss": {"train": np.exp(-steps / 50)},
    ...                           "accuracy": {"train": np.linspace(0, 1, 10)}},
    ...                   logy=("loss",), markers={"memorisation": 40})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss', 'accuracy']
    """
    titles = list(panels)
    n = len(titles)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(WIDTH, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(nrows, ncols)
    named = _series_colours((label for curves in panels.values() for label in curves), colours)
    axes = []
    for i, title in enumerate(titles):
        r, c = divmod(i, ncols)
        # the last panel spans the rest of its row: no empty slot
        ax = fig.add_subplot(grid[r, c:] if i == n - 1 else grid[r, c],
                             sharex=axes[0] if axes else None)
        axes.append(ax)
        series_panel(steps, panels[title], title=title, markers=markers, logy=title in logy,
                     ylim=(ylims or {}).get(title), colours=named, ax=ax)
        if i + ncols < n or (n - 1) // ncols == r + 1:  # a panel below carries the step axis
            ax.tick_params(labelbottom=False)
            ax.set_xlabel("")
    marker_legend(fig, markers)
    return fig


def residue_colours(n: int):
    """n colours around a hue circle: neighbouring residues get neighbouring hues, and n−1
    wraps to 0 as the group does."""
    return sns.husl_palette(n, s=0.85, l=0.55)
