"""Figures of a population of runs: phase diagrams (after Liu et al., arXiv:2205.10343 §5), a
value against one axis, overlaid training curves, a distribution over seeds. They take the
numbers of grokscan/sweep/stats.py."""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from grokscan.figures._style import PALETTE, SPLIT, WIDTH, new_figure, panel, styled
from grokscan.sweep.stats import word as _word

PHASE_COLOURS = {"comprehension": PALETTE[2], "grokking": PALETTE[1],
                 "memorisation": PALETTE[0], "confusion": "0.6"}
PHASE_LETTER = {"comprehension": "C", "grokking": "G", "memorisation": "M", "confusion": "X"}


def _cells(ax, xs, ys, x, y) -> None:
    ax.set_xticks(range(len(xs)), [_word(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_word(v) for v in ys] if y else [""])
    ax.set_xlabel(x)
    if y:
        ax.set_ylabel(y)
    ax.grid(False)


@panel(height=3.2, width=WIDTH / 2)
def phase_map(d, *, ax=None) -> Axes | Figure:
    """The learning phase of each cell of a sweep.

    Liu et al. (arXiv:2205.10343 §5): comprehension, grokking, memorisation, confusion; as
    colour and a letter, with the runs that have it / the cell's finished runs.

    Parameters
    ----------
    d : grokscan.sweep.stats.Diagram
        The cells: ``d.phase`` of shape (len(d.ys), len(d.xs)), the commonest phase of each
        cell (None: no finished run), ``d.count`` and ``d.runs`` of the same shape, the axes
        ``d.x``, ``d.y`` (None: one row) and their values ``d.xs``, ``d.ys``.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; None: a new Figure.

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
        ``ax``, drawn on; without ``ax``, a new Figure holding the panel.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.sweep.stats import Diagram
    >>> d = Diagram(x="lr", y="wd", xs=[0.001, 0.01], ys=[0.1, 1.0],
    ...             values={"delay": np.array([[np.nan, 2000.0], [800.0, 300.0]])},
    ...             phase=np.array([["memorisation", "grokking"],
    ...                             ["grokking", "comprehension"]], dtype=object),
    ...             count=np.array([[2, 2], [1, 2]]), runs=np.array([[2, 2], [2, 2]]))
    >>> from matplotlib.figure import Figure
    >>> from grokscan.figures import phase_map
    >>> ax = phase_map(d, ax=Figure().subplots())
    >>> sorted(t.get_text() for t in ax.texts)
    ['C 2/2', 'G 1/2', 'G 2/2', 'M 2/2']
    """
    phases = list(PHASE_COLOURS)
    codes = np.array([[phases.index(p) if p else -1 for p in row] for row in d.phase], float)
    codes[codes < 0] = np.nan
    ax.imshow(codes, cmap=ListedColormap([PHASE_COLOURS[p] for p in phases]), vmin=-0.5,
              vmax=len(phases) - 0.5, aspect="auto", interpolation="nearest", origin="lower")
    for (i, j), p in np.ndenumerate(d.phase):
        text = f"{PHASE_LETTER[p]} {d.count[i, j]}/{d.runs[i, j]}" if p else "no run"
        ax.text(j, i, text, ha="center", va="center", fontsize="small",
                color="white" if p in ("grokking", "memorisation") else "black")
    _cells(ax, d.xs, d.ys, d.x, d.y)
    ax.set_title("phase")
    ax.legend(handles=[Patch(color=PHASE_COLOURS[p], label=f"{PHASE_LETTER[p]} {p}")
                       for p in phases], loc="upper left", bbox_to_anchor=(1.01, 1),
              fontsize="small")
    return ax


@panel(height=3.2, width=WIDTH / 2)
def value_map(d, name: str, *, title: str | None = None, ax=None) -> Axes | Figure:
    """One value over the cells of a sweep, as a heatmap.

    The mean over each cell's runs, printed in the cell (blank: no run reached it), with a
    colour bar; where no cell has a value, the panel says so and has no colour bar.

    Parameters
    ----------
    d : grokscan.sweep.stats.Diagram
        The cells; ``d.values[name]`` of shape (len(d.ys), len(d.xs)) is drawn, NaN blank.
    name : str
        The key of ``d.values`` to draw.
    title : str, optional
        The panel's title (default ``name``).
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; None: a new Figure.

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
        ``ax``, drawn on; without ``ax``, a new Figure holding the panel.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.sweep.stats import Diagram
    >>> d = Diagram(x="lr", y="wd", xs=[0.001, 0.01], ys=[0.1, 1.0],
    ...             values={"delay": np.array([[np.nan, 2000.0], [800.0, 300.0]])},
    ...             phase=np.array([["memorisation", "grokking"],
    ...                             ["grokking", "comprehension"]], dtype=object),
    ...             count=np.array([[2, 2], [1, 2]]), runs=np.array([[2, 2], [2, 2]]))
    >>> from matplotlib.figure import Figure
    >>> from grokscan.figures import value_map
    >>> ax = value_map(d, "delay", title="delay (steps)", ax=Figure().subplots())
    >>> [t.get_text() for t in ax.texts]
    ['2000', '800', '300']
    """
    v = d.values[name]
    im = ax.imshow(v, cmap="viridis", aspect="auto", interpolation="nearest", origin="lower")
    finite = v[np.isfinite(v)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for (i, j), val in np.ndenumerate(v):
        if np.isfinite(val):
            ax.text(j, i, f"{val:.2f}" if abs(val) < 10 else f"{val:.0f}", ha="center",
                    va="center", fontsize="small", color="black" if val > mid else "white")
    _cells(ax, d.xs, d.ys, d.x, d.y)
    ax.set_title(name if title is None else title, fontsize="medium")
    if finite.size:
        ax.figure.colorbar(im, ax=ax, shrink=0.9)
    else:  # nothing to colour: say so rather than draw an empty map with a scale
        ax.text(0.5, 0.5, "no run reached it", transform=ax.transAxes, ha="center",
                va="center", fontsize="small", color="0.3")
    return ax


@styled
def phase_diagram(d, labels: dict) -> Figure:
    """The phase diagram of a sweep and its values, cell by cell.

    :func:`phase_map` and one :func:`value_map` per value of ``d.values``, two panels a row.

    Parameters
    ----------
    d : grokscan.sweep.stats.Diagram
        The cells of the sweep (``grokscan.sweep.stats.diagram``).
    labels : mapping of str to str
        {value name: panel title}; a value without one is titled by its name.

    Returns
    -------
    matplotlib.figure.Figure
        The panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.sweep.stats import Diagram
    >>> d = Diagram(x="lr", y="wd", xs=[0.001, 0.01], ys=[0.1, 1.0],
    ...             values={"delay": np.array([[np.nan, 2000.0], [800.0, 300.0]])},
    ...             phase=np.array([["memorisation", "grokking"],
    ...                             ["grokking", "comprehension"]], dtype=object),
    ...             count=np.array([[2, 2], [1, 2]]), runs=np.array([[2, 2], [2, 2]]))
    >>> from grokscan.figures import phase_diagram
    >>> fig = phase_diagram(d, {"delay": "delay (steps)"})
    >>> [ax.get_title() for ax in fig.axes if ax.get_label() != "<colorbar>"]
    ['phase', 'delay (steps)']
    """
    names = list(d.values)
    n = len(names) + 1
    ncols = 2 if n > 2 else n
    nrows = -(-n // ncols)
    cell_h = 0.45 * len(d.ys) + 1.6
    fig, axes = new_figure(nrows, ncols, height=max(2.4, cell_h))
    phase_map(d, ax=axes.flat[0])
    for ax, name in zip(list(axes.flat)[1:], names):
        value_map(d, name, title=labels.get(name, name), ax=ax)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig



@panel(height=3.6, width=7.5)
def along_axis(a, *, ylabel: str, ax=None) -> Axes | Figure:
    """A value of the runs of a sweep against one of its axes.

    The axis values evenly spaced in order: every run as a dot (jittered sideways), the mean as
    a line with its bootstrap 95 % interval as a band; under each value, the runs that reached
    it / the runs.

    Parameters
    ----------
    a : grokscan.sweep.stats.AlongAxis
        ``a.xs`` the axis values (n,), ``a.per_run`` one array of the runs' values per axis
        value (NaN: never reached), ``a.mean``, ``a.low``, ``a.high`` of shape (n,), and the
        axis's name ``a.axis``.
    ylabel : str
        What the value is.
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
    >>> from grokscan.figures import along_axis
    >>> from grokscan.sweep.stats import AlongAxis
    >>> a = AlongAxis(axis="wd", value="step_test_0.9", xs=[0.1, 1.0],
    ...               per_run=[np.array([900.0, np.nan]), np.array([400.0, 500.0])],
    ...               mean=np.array([900.0, 450.0]), low=np.array([900.0, 400.0]),
    ...               high=np.array([900.0, 500.0]))
    >>> ax = along_axis(a, ylabel="step of test accuracy ≥ 0.9", ax=Figure().subplots())
    >>> [t.get_text().splitlines() for t in ax.get_xticklabels()]  # the runs that reached it
    [['0.1', '1/2'], ['1', '2/2']]
    """
    pos = np.arange(len(a.xs), dtype=float)
    rng = np.random.default_rng(0)
    for x0, vals in zip(pos, a.per_run):
        ok = np.isfinite(vals)
        ax.plot(x0 + rng.uniform(-0.08, 0.08, ok.sum()), vals[ok], "o", color=PALETTE[0],
                ms=4, alpha=0.6)
    ok = np.isfinite(a.mean)
    ax.plot(pos[ok], a.mean[ok], "-o", color=PALETTE[1], lw=2, ms=5)
    ax.fill_between(pos[ok], a.low[ok], a.high[ok], color=PALETTE[1], alpha=0.2, lw=0)
    ax.set_xticks(pos, [f"{_word(v)}\n{np.isfinite(r).sum()}/{len(r)}" for v, r in
                        zip(a.xs, a.per_run)])
    ax.set_xlim(-0.5, len(pos) - 0.5)
    ax.set_xlabel(f"{a.axis}   (runs that reached it / runs)")
    ax.set_ylabel(ylabel)
    ax.legend(handles=[Line2D([], [], ls="", marker="o", color=PALETTE[0], label="one run"),
                       Line2D([], [], color=PALETTE[1], lw=2, marker="o",
                              label="mean, 95 % bootstrap interval")],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return ax


def _value_colours(runs: list[dict]) -> dict:
    """{value: colour} of the runs' values along viridis, in order."""
    values = sorted({r["value"] for r in runs}, key=lambda v: (str(type(v)), v))
    return dict(zip(values, sns.color_palette("viridis", len(values))))


@panel(height=3.4, width=WIDTH / 2)
def overlaid_accuracy(runs: list[dict], *, split: str = "test", axis: str = "value",
                      logx: bool = True, legend: bool = True, ax=None) -> Axes | Figure:
    """The accuracy of one split of every run of a sweep, against step.

    Coloured by the run's value of a sweep axis (viridis, in the values' order).

    Parameters
    ----------
    runs : list of dict
        [{"steps": (n,), "train_acc": (n,), "test_acc": (n,), "value": v}], one per run
        (n may differ between runs).
    split : {"train", "test"}, default "test"
        The accuracy drawn.
    axis : str, default "value"
        The name of the axis the values are of, as the legend's title.
    logx : bool, default True
        A logarithmic step axis (step 0 left out).
    legend : bool, default True
        A legend of the values beside the panel.
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
    >>> from grokscan.figures import overlaid_accuracy
    >>> steps, t = np.arange(0, 1000, 100), np.linspace(0, 1, 10)
    >>> runs = [{"steps": steps, "train_acc": t, "test_acc": t ** k, "value": float(k)}
    ...         for k in (1, 4)]
    >>> ax = overlaid_accuracy(runs, axis="exponent", ax=Figure().subplots())
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['1', '4']
    """
    colours = _value_colours(runs)
    for r in runs:
        steps = np.asarray(r["steps"])
        keep = steps > 0 if logx else np.ones(len(steps), bool)
        ax.plot(steps[keep], np.asarray(r[f"{split}_acc"])[keep], color=colours[r["value"]],
                lw=1, alpha=0.7)
    if logx:
        ax.set_xscale("log")
    ax.set_title(f"{split} accuracy")
    ax.set_xlabel("step")
    ax.set_ylim(-0.02, 1.02)
    ax.title.set_color(SPLIT[split])
    if legend:
        ax.legend(handles=[Line2D([], [], color=c, lw=2, label=_word(v))
                           for v, c in colours.items()], title=axis, loc="upper left",
                  bbox_to_anchor=(1.01, 1), fontsize="small")
    return ax


@styled
def overlaid_curves(runs: list[dict], *, axis: str, logx: bool = True) -> Figure:
    """Train and test accuracy of every run of a sweep, against step.

    Coloured by the run's value of ``axis``: two :func:`overlaid_accuracy` panels on one y axis,
    the legend beside the second.

    Parameters
    ----------
    runs : list of dict
        [{"steps": (n,), "train_acc": (n,), "test_acc": (n,), "value": v}], one per run.
    axis : str
        The name of the axis the values are of.
    logx : bool, default True
        A logarithmic step axis (step 0 left out).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import overlaid_curves
    >>> steps, t = np.arange(0, 1000, 100), np.linspace(0, 1, 10)
    >>> runs = [{"steps": steps, "train_acc": t, "test_acc": t ** k, "value": float(k)}
    ...         for k in (1, 4)]
    >>> [ax.get_title() for ax in overlaid_curves(runs, axis="exponent").axes]
    ['train accuracy', 'test accuracy']
    """
    fig, axes = new_figure(1, 2, height=3.4, sharey=True)
    for ax, split in zip(axes[0], ("train", "test")):
        overlaid_accuracy(runs, split=split, axis=axis, logx=logx, legend=split == "test",
                          ax=ax)
    return fig


@panel(height=3.0, width=7.5)
def distribution(values, *, xlabel: str, ax=None) -> Axes | Figure:
    """A histogram of a value over runs, each run a tick below it.

    Of its finite values, with the median.

    Parameters
    ----------
    values : array_like of shape (n_runs,)
        The value of each run; NaN left out.
    xlabel : str
        What the value is.
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
    >>> from grokscan.figures import distribution
    >>> delays = np.array([800.0, 900.0, 1000.0, np.nan])
    >>> ax = distribution(delays, xlabel="delay (steps)", ax=Figure().subplots())
    >>> ax.get_legend().get_texts()[0].get_text()
    'median 900'
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    bins = min(20, max(3, v.size // 2)) if v.size > 1 else 1
    ax.hist(v, bins=bins, color=PALETTE[0], alpha=0.8)
    ax.plot(v, np.zeros_like(v), "|", color="black", ms=12)
    if v.size:
        ax.axvline(np.median(v), color=PALETTE[1], lw=2, label=f"median {np.median(v):.0f}")
        ax.legend(fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("runs")
    return ax
