"""Weight statistics, dropout and output figures (arXiv:2411.05353, 2507.11645, 2510.25966):
weight entropy,
norm, inactive units and sparsity against step; variance under dropout; the Dropout
Robustness Curve; the softmax gap of the Ising paper."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from grokscan.figures._style import (
    PALETTE,
    SERIES,
    marker_legend,
    panel,
    series_grid,
    styled,
)


@styled
def weight_statistics(steps, panels: Mapping[str, Mapping[str, np.ndarray]], *,
                      markers=None) -> Figure:
    """Per-layer weight statistics against step, one panel per statistic.

    Weight entropy (Salah & Yevick, arXiv:2411.05353 §3.6), inactive units (arXiv:2507.11645),
    small weights (Hutchison & Yevick, arXiv:2510.25966), norms: :func:`series_grid`.

    A panel titled "... norm ..." has a log y axis, one titled "... (share)" a y axis from 0
    (to at least 0.05); a share that is 0 at every checkpoint in every layer is not drawn as a
    flat panel but said in the legend above ("no inactive units at any checkpoint"). A
    layer has one colour in every panel: a hidden layer's units ("hidden 2") take the colour
    of its weights ("hidden.2.W").

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    panels : mapping of str to mapping of str to array_like of shape (n_checkpoints,)
        {title: {layer: values}}, one panel per title.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels a row, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import weight_statistics
    >>> t = np.linspace(0, 1, 10)
    >>> fig = weight_statistics(np.arange(10), {"weight norm (L2)": {"hidden.0.W": 10 - t},
    ...                                         "inactive units (share)": {"hidden 0": t}})
    >>> fig.axes[0].get_yscale(), fig.axes[1].get_yscale()
    ('log', 'linear')
    """
    colours = layer_colours(panels)
    zero = zero_shares(panels)  # a share that is 0 throughout is said, not drawn flat
    panels = {t: c for t, c in panels.items() if t not in zero}
    logy = [t for t in panels if "norm" in t]
    ylims = {}
    for t, curves in panels.items():
        if "(share)" in t:
            top = max((np.nanmax(v) for v in map(np.asarray, curves.values())
                       if np.isfinite(v).any()), default=0.0)
            ylims[t] = (-0.02 * max(top, 0.05), 1.1 * max(top, 0.05))
    fig = series_grid(steps, panels, markers=markers, ncols=2, logy=logy, ylims=ylims,
                      colours=colours)
    if zero:  # said in the legend above, beside the events
        note = "; ".join(f"no {t.replace(' (share)', '')} at any checkpoint" for t in zero)
        for legend in list(fig.legends):
            legend.remove()
        marker_legend(fig, markers, [Line2D([], [], ls="", label=f"{note} (not drawn)")])
    return fig


def zero_shares(panels: Mapping[str, Mapping[str, np.ndarray]]) -> list[str]:
    """The share panels ("(share)" in the title) that :func:`weight_statistics` states in its
    legend instead of drawing: 0 at every checkpoint in every curve, while another panel is
    drawn."""
    zero = [t for t, curves in panels.items() if "(share)" in t and _all_zero(curves)]
    return zero if len(zero) < len(panels) else []


def _all_zero(curves: Mapping[str, np.ndarray]) -> bool:
    """Whether every finite value of every curve is 0 (and there is one)."""
    values = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in curves.values()]
                            or [np.zeros(0)])
    values = values[np.isfinite(values)]
    return bool(values.size) and not values.any()


def layer_colours(panels: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """One colour per layer in every panel: a hidden layer's units ("hidden 2") take the
    colour of its weights ("hidden.2.W"); any other label its own, in order of appearance."""
    def key(label: str) -> str:
        m = re.fullmatch(r"hidden[ .](\d+)(\.W)?", label)
        return f"hidden {m.group(1)}" if m else label

    keys = list(dict.fromkeys(key(label) for curves in panels.values() for label in curves))
    cycle = SERIES[:7] * (len(keys) // 7 + 1)
    return {label: cycle[keys.index(key(label))]
            for curves in panels.values() for label in curves}


def dropout_variance(steps, variance, mean, *, markers=None, binomial=None,
                     ratio=None) -> Figure:
    """Variance and mean of test accuracy under dropout, against step, with its null.

    Over stochastic dropout passes at frozen weights (Salah & Yevick, arXiv:2507.11645: the
    variance is near zero while the network memorises and peaks at the onset of generalisation):
    :func:`series_grid`, two panels; with ``binomial`` the binomial variance p(1 − p)/n (its
    ceiling for independent per-example masks) is drawn beside the variance, and with
    ``ratio`` the second panel draws the variance over it with its interval and the ceiling's
    line at 1, in place of the mean.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    variance, mean : array_like of shape (n_checkpoints,)
        The variance and the mean of test accuracy over the passes, NaN where not computed.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark.
    binomial : array_like of shape (n_checkpoints,), optional
        The binomial variance p(1 − p)/n of the same accuracy (grokscan.metrics.nulls).
    ratio : tuple of three array_like of shape (n_checkpoints,), optional
        (ratio, low, high): the variance over the binomial and its interval.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import dropout_variance
    >>> variance = np.array([np.nan, 0.0, 0.02, 0.001])
    >>> fig = dropout_variance([0, 10, 20, 30], variance, 1 - variance)
    >>> fig.axes[0].lines[0].get_xdata().tolist()
    [10, 20, 30]
    """
    var = {"variance": variance}
    if binomial is not None:
        var["binomial p(1 − p)/n"] = binomial
    title = "variance / binomial, 95 % interval"
    panels = {"variance of test accuracy under dropout": var}
    if ratio is None:
        panels["mean test accuracy under dropout"] = {"mean": mean}
    else:  # the mean is p of the binomial: the ratio takes its place
        panels[title] = {"variance / binomial": ratio[0]}
    fig = series_grid(steps, panels, markers=markers, ncols=2, height=3.0)
    if ratio is not None:
        ax = next(a for a in fig.axes if a.get_title() == title)
        x = np.asarray(steps)
        ok = np.isfinite(np.asarray(ratio[1], dtype=float))
        ax.fill_between(x[ok], np.asarray(ratio[1])[ok], np.asarray(ratio[2])[ok],
                        color=PALETTE[0], alpha=0.2, linewidth=0)
        ax.axhline(1.0, color="0.2", linewidth=0.8)  # the ceiling: examples alike
        ax.set_ylim(bottom=0)
    return fig


@panel(height=3.8, width=7.0)
def dropout_robustness(rates, accuracy, *, steps: Sequence[int], ax=None) -> Axes | Figure:
    """The Dropout Robustness Curve, one curve per checkpoint.

    Test accuracy against the dropout rate applied at inference (Salah & Yevick,
    arXiv:2507.11645), coloured from early (light) to late (dark).

    Parameters
    ----------
    rates : array_like of shape (R,)
        The dropout rates.
    accuracy : array_like of shape (m, R)
        Test accuracy of each of ``m`` checkpoints at each rate; NaN points are left out.
    steps : sequence of int of length m
        The step of each checkpoint, in the legend.
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
    >>> from grokscan.figures import dropout_robustness
    >>> rates = np.arange(10) / 10
    >>> accuracy = np.stack([np.full(10, 0.1), np.clip(1.5 - 2 * rates, 0, 1)])
    >>> ax = dropout_robustness(rates, accuracy, steps=[0, 1000], ax=Figure().subplots())
    >>> [line.get_label() for line in ax.lines]
    ['step 0', 'step 1000']
    """
    rates, acc = np.asarray(rates, dtype=float), np.asarray(accuracy, dtype=float)
    colours = sns.color_palette("crest", len(acc))
    for a, step, colour in zip(acc, steps, colours):
        ok = np.isfinite(a)
        ax.plot(rates[ok], a[ok], marker="o", ms=3.5, lw=1.6, color=colour, label=f"step {step}")
    ax.set_xlabel("dropout rate at inference")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small", loc="upper right")
    return ax


def softmax_gap(steps, gap, gap_class=None, *, markers=None, class_names=None) -> Figure:
    """The mean gap P_max − P_second of the softmax outputs, against step.

    Over all samples, and how it varies over the classes (Hutchison & Yevick, arXiv:2510.25966:
    the gap dips during grokking). With up to 10 classes a second panel draws each class's gap;
    with more, one panel: the gap over all samples inside the band of the classes' 10 % to
    90 % quantiles (a second panel of quantiles would repeat the first, their median being
    near the mean).

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    gap : array_like of shape (n_checkpoints,)
        The gap over all samples.
    gap_class : array_like of shape (n_checkpoints, C), optional
        The gap of each class.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark.
    class_names : sequence of str of length C, optional
        The name of each class (up to 10 classes; default "class c").

    Returns
    -------
    matplotlib.figure.Figure
        One or two panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import softmax_gap
    >>> gap_class = np.random.default_rng(0).uniform(size=(10, 13))
    >>> fig = softmax_gap(np.arange(10), gap_class.mean(axis=1), gap_class)
    >>> len(fig.axes), [c.get_label() for c in fig.axes[0].collections]
    (1, ['10–90 % of the 13 classes'])
    """
    title = "softmax gap P_max − P_second"
    panels = {title: {"all samples": gap}}
    g = None if gap_class is None else np.asarray(gap_class, dtype=float)
    if g is not None and g.shape[1] <= 10:
        names = class_names or [f"class {c}" for c in range(g.shape[1])]
        panels["per class"] = {names[c]: g[:, c] for c in range(g.shape[1])}
    fig = series_grid(steps, panels, markers=markers, ncols=2, height=3.0,
                      colours={"all samples": PALETTE[0]})
    if g is not None and g.shape[1] > 10:
        with warnings.catch_warnings():  # rows not computed are all NaN: NaN quantiles
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanquantile(np.where(np.isfinite(g), g, np.nan), [0.1, 0.9], axis=1)
        ok = np.isfinite(q).all(axis=0)
        ax = fig.axes[0]
        ax.fill_between(np.asarray(steps)[ok], q[0, ok], q[1, ok], color=PALETTE[0],
                        alpha=0.2, linewidth=0, label=f"10–90 % of the {g.shape[1]} classes")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0)
    return fig
