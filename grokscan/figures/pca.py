"""PCA figures (Hutchison & Yevick, arXiv:2510.25966; Salah & Yevick, arXiv:2411.05353): layer
activations coloured by class, per-sample gradients (correct against misclassified), their
90 %-variance dimension, and the last layer's principal-component planes ("even against odd"
for an even P)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from grokscan.figures._style import (
    SERIES,
    new_figure,
    panel,
    residue_colours,
    series_panel,
    styled,
)
from grokscan.figures.geometry import LABEL_MAX

CATEGORICAL_MAX = 10  # up to this many classes: a categorical palette and a legend
# correct / misclassified in greys, so that no class colour means either
OUTCOME = {1: "0.62", 0: "0.05"}
PLANE_LABEL = "PC 2 against PC 1\n(asinh scale)"
CORE = 0.9  # the share of the points drawn on the near-linear part of the asinh scale


def asinh_plane(xy: np.ndarray) -> np.ndarray:
    """Points (n, 2) on a scale that shows the bulk and far outliers at once: per axis
    asinh((x − median) / w), w the distance from the median within which CORE of the points
    lie (else the standard deviation, else 1); near-linear for those, logarithmic beyond, so
    no point is off the axes and the bulk is not a dot."""
    xy = np.asarray(xy, dtype=float)
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        return xy
    centre = np.median(xy[ok], axis=0)
    w = np.quantile(np.abs(xy[ok] - centre), CORE, axis=0)
    sd = xy[ok].std(axis=0)
    w = np.where(w > 0, w, np.where(sd > 0, sd, 1.0))
    return np.arcsinh((xy - centre) / w)


def class_colours(n_classes: int):
    """A categorical palette for few classes (the Ising energy bins), a hue circle for many
    (the residues of a modular task, whose classes are cyclic)."""
    if n_classes <= CATEGORICAL_MAX:
        return SERIES[:n_classes]
    return residue_colours(n_classes)


@panel(height=2.6, width=2.6)
def activation_pca_panel(xy, labels, *, n_classes: int | None = None, title: str = "",
                         ax=None) -> Axes | Figure:
    """One layer's activations on their top-2 principal components, by class.

    Each sample's hidden activation vector at one checkpoint, coloured by its class (Hutchison &
    Yevick, arXiv:2510.25966, Figs. 16-18: classes overlap while the network memorises and
    separate as it generalises).

    Parameters
    ----------
    xy : array_like of shape (S, 2)
        PC 1 and PC 2 of each sample; a sample with a NaN coordinate is not drawn.
    labels : array_like of int of shape (S,)
        The class of each sample.
    n_classes : int, optional
        The number of classes (default ``max(labels) + 1``): up to 10, a categorical palette;
        more, a hue circle (the residues of a modular task are cyclic).
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
    >>> from grokscan.figures import activation_pca_panel
    >>> xy = np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, 2.0]])
    >>> ax = activation_pca_panel(xy, [0, 1, 1], ax=Figure().subplots())
    >>> ax.collections[0].get_offsets().tolist()  # the NaN sample is not drawn
    [[0.0, 0.0], [1.0, 1.0]]
    """
    xy = np.asarray(xy, dtype=float)
    labels = np.asarray(labels).astype(int)
    colours = class_colours(int(labels.max()) + 1 if n_classes is None else n_classes)
    ok = np.isfinite(xy).all(axis=1)
    ax.scatter(xy[ok, 0], xy[ok, 1], c=[colours[k] for k in labels[ok]], s=7, linewidths=0,
               alpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_ylabel("PC 2 against PC 1", fontsize=9)
    return ax


@styled
def activation_pca(coords, labels, *, steps: Sequence[int], layers: Sequence[str],
                   class_names: Sequence[str] | None = None) -> Figure:
    """Hidden activations on their top-2 principal components, coloured by class.

    Hutchison & Yevick (arXiv:2510.25966, Figs. 16-18): a grid of :func:`activation_pca_panel`,
    one row per layer, one column per checkpoint, with a legend of the classes (a colour bar of
    the hue circle past 10 classes).

    Parameters
    ----------
    coords : array_like of shape (n_layers, n_moments, S, 2)
        Row i is hidden layer ``layers[i]``, column j the checkpoint at ``steps[j]``. Points
        with a NaN coordinate are not drawn.
    labels : array_like of int of shape (S,)
        The class of each sample.
    steps : sequence of int of length n_moments
        The step of each column.
    layers : sequence of str of length n_layers
        The name of each row's layer.
    class_names : sequence of str, optional
        The name of each class in the legend (up to 10 classes; default its number).

    Returns
    -------
    matplotlib.figure.Figure
        The grid, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import activation_pca
    >>> coords = np.random.default_rng(0).normal(size=(2, 3, 30, 2))
    >>> fig = activation_pca(coords, np.arange(30) % 4, steps=[0, 500, 1000],
    ...                      layers=["hidden layer 0", "hidden layer 1"])
    >>> len(fig.axes), len(fig.legends[0].get_texts())
    (6, 4)
    """
    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels).astype(int)
    n_layers, n_mom = coords.shape[:2]
    classes = np.unique(labels)
    n_classes = int(labels.max()) + 1
    colours = class_colours(n_classes)
    side = min(2.6, 10.0 / n_mom)
    fig, axes = new_figure(n_layers, n_mom, height=side, width=side * n_mom)
    for i in range(n_layers):
        for j in range(n_mom):
            ax = axes[i, j]
            activation_pca_panel(coords[i, j], labels, n_classes=n_classes,
                                 title=f"step {steps[j]}" if i == 0 else "", ax=ax)
            ax.set_ylabel(f"{layers[i]}\nPC 2 against PC 1" if j == 0 else "", fontsize=9)
    if n_classes <= CATEGORICAL_MAX:
        names = class_names or [str(k) for k in range(n_classes)]
        handles = [Line2D([], [], marker="o", ls="", color=colours[k], label=names[k])
                   for k in classes]
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles),
                   title="class")
    else:  # many cyclic classes (residues): a colour bar of the hue circle
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import BoundaryNorm, ListedColormap

        norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
        bar = fig.colorbar(ScalarMappable(norm, ListedColormap(colours)), ax=axes,
                           location="right", shrink=0.8, aspect=30)
        bar.set_ticks([0, n_classes // 4, n_classes // 2, 3 * n_classes // 4, n_classes - 1])
        bar.set_label("class (residue)")
        bar.minorticks_off()
    return fig


def _in_range(xy: np.ndarray, correct: np.ndarray):
    """(lims, points, drawn): the points of xy (G, 2) on ``asinh_plane``, limits that hold
    every one of them, and the samples drawn (finite coordinates and a correct/misclassified
    flag)."""
    xy = asinh_plane(xy)
    ok = np.isfinite(xy).all(axis=1) & np.isfinite(correct)
    lo, hi = (xy[ok].min(axis=0), xy[ok].max(axis=0)) if ok.any() else (-np.ones(2),
                                                                          np.ones(2))
    pad = 0.06 * np.where(hi > lo, hi - lo, 1.0)
    return ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])), xy, ok


def _plane(ax, lims, title: str, ylabel: str) -> None:
    ax.set_xlim(*lims[0])
    ax.set_ylim(*lims[1])
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel(ylabel)


@panel(height=2.8, width=2.8)
def gradient_pca_panel(xy, correct, *, is_train=None, title: str = "",
                       ax=None) -> Axes | Figure:
    """Per-sample gradients on their top-2 principal components, at one checkpoint.

    Correct against misclassified samples (Hutchison & Yevick, arXiv:2510.25966, Fig. 14:
    misclassified samples form lines away from the centre, correct ones gather near it).

    Correct samples are light grey, misclassified ones black (drawn on top); train samples
    dots, test samples crosses. The axes are on an asinh scale around the median
    (``asinh_plane``): linear in the core, logarithmic for the far points, so every point
    is drawn where it lies on that scale and the core is not a dot.

    Parameters
    ----------
    xy : array_like of shape (G, 2)
        PC 1 and PC 2 of each sample's gradient.
    correct : array_like of shape (G,)
        1 correct, 0 misclassified, NaN not computed (not drawn).
    is_train : array_like of shape (G,), optional
        > 0.5 for a train sample; None: all drawn as dots.
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
    >>> from grokscan.figures import gradient_pca_panel
    >>> xy = np.random.default_rng(0).normal(size=(20, 2))
    >>> correct = (np.arange(20) >= 5).astype(float)  # five misclassified
    >>> ax = gradient_pca_panel(xy, correct, ax=Figure().subplots())
    >>> sum(len(c.get_offsets()) for c in ax.collections)
    20
    """
    xy, correct = np.asarray(xy, dtype=float), np.asarray(correct, dtype=float)
    lims, xy, ok = _in_range(xy, correct)
    train = (np.asarray(is_train) > 0.5) if is_train is not None else np.ones(len(xy), bool)
    for flag in (1, 0):  # misclassified drawn last, on top
        for tr, mk in ((True, "o"), (False, "x")):
            sel = ok & (correct == flag) & (train == tr)
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], s=9, marker=mk, color=OUTCOME[flag],
                           linewidths=0.8 if mk == "x" else 0, alpha=0.8)
    _plane(ax, lims, title, PLANE_LABEL)
    return ax


@panel(height=2.8, width=2.8)
def gradient_class_panel(xy, correct, labels, *, title: str = "", ax=None) -> Axes | Figure:
    """The points of :func:`gradient_pca_panel`, coloured by their class.

    For a few classes, such as the Ising energy bins (Hutchison & Yevick, arXiv:2510.25966).

    Parameters
    ----------
    xy : array_like of shape (G, 2)
        PC 1 and PC 2 of each sample's gradient, drawn on an asinh scale around the
        median: linear in its core, logarithmic beyond.
    correct : array_like of shape (G,)
        1 correct, 0 misclassified, NaN not computed (not drawn).
    labels : array_like of int of shape (G,)
        The class of each sample.
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
    >>> from grokscan.figures import gradient_class_panel
    >>> xy = np.random.default_rng(0).normal(size=(20, 2))
    >>> ax = gradient_class_panel(xy, np.ones(20), np.arange(20) % 4, ax=Figure().subplots())
    >>> len({tuple(c) for c in ax.collections[0].get_facecolors()})  # four classes
    4
    """
    labels = np.asarray(labels).astype(int)
    colours = class_colours(int(labels.max()) + 1)
    lims, xy, ok = _in_range(np.asarray(xy, dtype=float), np.asarray(correct, dtype=float))
    ax.scatter(xy[ok, 0], xy[ok, 1], s=9, linewidths=0, alpha=0.8,
               c=[colours[k] for k in labels[ok]])
    _plane(ax, lims, title, f"by class\n{PLANE_LABEL}")
    return ax


@styled
def gradient_pca(coords, correct, *, steps: Sequence[int], is_train=None,
                 labels=None) -> Figure:
    """Per-sample gradients on their top-2 principal components, at several moments.

    Correct against misclassified samples (Hutchison & Yevick, arXiv:2510.25966, Fig. 14): one
    :func:`gradient_pca_panel` per checkpoint, and for a few classes a second row of
    :func:`gradient_class_panel`; one legend above.

    Parameters
    ----------
    coords : array_like of shape (n_moments, G, 2)
        PC 1 and PC 2 of each sample's gradient at each checkpoint.
    correct : array_like of shape (n_moments, G)
        1 correct, 0 misclassified, NaN not computed (not drawn).
    steps : sequence of int of length n_moments
        The step of each column.
    is_train : array_like of shape (n_moments, G), optional
        > 0.5 for a train sample (dots; test samples crosses); None: all dots.
    labels : array_like of int of shape (G,), optional
        The class of each sample; with at most 10 classes a second row colours the points by
        class.

    Returns
    -------
    matplotlib.figure.Figure
        One or two rows of panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import gradient_pca
    >>> coords = np.random.default_rng(0).normal(size=(2, 20, 2))
    >>> correct = np.ones((2, 20))
    >>> correct[0, :5] = 0
    >>> fig = gradient_pca(coords, correct, steps=[0, 1000], labels=np.arange(20) % 3)
    >>> len(fig.axes)
    4
    """
    coords, correct = np.asarray(coords, dtype=float), np.asarray(correct, dtype=float)
    n_mom = len(coords)
    by_class = labels is not None and int(np.max(labels)) + 1 <= CATEGORICAL_MAX
    side = min(2.8, 10.0 / n_mom)
    fig, axes = new_figure(2 if by_class else 1, n_mom, height=side, width=side * n_mom)
    for j, ax in enumerate(axes[0]):
        gradient_pca_panel(coords[j], correct[j],
                           is_train=None if is_train is None else is_train[j],
                           title=f"step {steps[j]}", ax=ax)
        if j > 0:
            ax.set_ylabel("")
    if by_class:
        labels = np.asarray(labels).astype(int)
        colours = class_colours(int(labels.max()) + 1)
        for j, ax in enumerate(axes[1]):
            gradient_class_panel(coords[j], correct[j], labels, ax=ax)
            if j > 0:
                ax.set_ylabel("")
    colour = OUTCOME
    handles = [Line2D([], [], marker="o", ls="", color=colour[1], label="correct"),
               Line2D([], [], marker="o", ls="", color=colour[0], label="misclassified")]
    if is_train is not None:
        handles += [Line2D([], [], marker="o", ls="", color="0.4", label="train"),
                    Line2D([], [], marker="x", ls="", color="0.4", label="test")]
    if by_class:
        handles += [Line2D([], [], marker="o", ls="", color=colours[k], label=f"class {k}")
                    for k in np.unique(labels)]
    fig.legend(handles=handles, loc="outside upper center",
               ncols=min(len(handles), 2 if n_mom < 3 else 4))
    return fig


@panel(height=3.2)
def gradient_dimension(steps, dims, *, markers=None, ax=None) -> Axes | Figure:
    """The dimension of the per-sample gradients against step.

    The number of principal components that explain 90 % of their variance (Hutchison & Yevick,
    arXiv:2510.25966, Fig. 15): a :func:`series_panel`.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    dims : mapping of str to array_like of shape (n_checkpoints,)
        {"train": values, "test": values}, NaN where not computed.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark (None: not drawn).
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; None: a new Figure, with the legend of the markers above.

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
        ``ax``, drawn on; without ``ax``, a new Figure holding the panel.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from grokscan.figures import gradient_dimension
    >>> dims = {"train": np.array([5.0, np.nan, 3.0]), "test": np.array([6.0, np.nan, 2.0])}
    >>> ax = gradient_dimension([0, 10, 20], dims, ax=Figure().subplots())
    >>> ax.lines[0].get_xdata().tolist()  # the NaN row is left out
    [0, 20]
    """
    return series_panel(steps, dims, title="components for 90 % of the gradient variance",
                        markers=markers, ax=ax)


@panel(height=3.3, width=3.3)
def last_layer_plane(xy, *, title: str = "", hue=None, ax=None) -> Axes | Figure:
    """The last layer's rows, one point per class, on one plane.

    Salah & Yevick (arXiv:2411.05353 §3.3-3.4): P/d clusters of d points on a plane say that its
    frequency shares the factor d with P.

    Points are coloured around the hue circle by ``hue`` (the paper's k·t mod C in the plane
    of frequency k: a learned circle then reads as a colour wheel) and numbered by class when
    there are at most 50.

    Parameters
    ----------
    xy : array_like of shape (C, 2)
        The projection of each class's row; rows with a NaN coordinate are not drawn.
    title : str, optional
        The panel's title (e.g. "PC0 (30%) – PC1 (20%)", "plane of k = 5").
    hue : array_like of int of shape (C,), optional
        The place of each class on the hue circle, in 0..C−1 (e.g. k·t mod C); None: the
        class t itself.
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
    >>> from grokscan.figures import last_layer_plane
    >>> theta = 2 * np.pi * 5 * np.arange(10) / 10  # k = 5 shares 5 with P = 10
    >>> xy = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    >>> ax = last_layer_plane(xy, title="plane of k = 5", ax=Figure().subplots())
    >>> len(np.unique(ax.collections[0].get_offsets().round(6), axis=0))  # two clusters
    2
    """
    xy = np.asarray(xy, dtype=float)
    C = len(xy)
    colours = residue_colours(C)
    hue = np.arange(C) if hue is None else np.asarray(hue).astype(int) % C
    ok = np.isfinite(xy).all(axis=1)
    ax.scatter(xy[ok, 0], xy[ok, 1], c=[colours[hue[q]] for q in np.flatnonzero(ok)], s=20,
               edgecolors="0.2", linewidths=0.3, zorder=3)
    if C <= LABEL_MAX:
        for q in np.flatnonzero(ok):
            ax.annotate(str(q), xy[q], xytext=(2.5, 2.5), textcoords="offset points",
                        fontsize=6, color="0.25")
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


@styled
def last_layer_pca(pairs, evr, *, step: int, planes=None, plane_freqs=None,
                   pair_freqs=None) -> Figure:
    """The last layer's rows on its principal planes and frequency planes.

    One point per class on PC0–PC1, PC2–PC3, PC4–PC5, and on the plane of each learned frequency
    (Salah & Yevick, arXiv:2411.05353 §3.3-3.4): one :func:`last_layer_plane` per plane. Class t
    is coloured by k·t mod C on the plane of frequency k (and on a PC plane whose frequency
    ``pair_freqs`` gives), by t elsewhere; each title says which.

    Parameters
    ----------
    pairs : array_like of shape (3, C, 2)
        Each class's row on PC0–PC1, PC2–PC3 and PC4–PC5.
    evr : array_like of shape (6,)
        The explained-variance ratios of PC0..PC5, in the titles.
    step : int
        The checkpoint's step, in the figure's title.
    planes : array_like of shape (K, C, 2), optional
        Each class's row on the plane of each of ``plane_freqs``.
    plane_freqs : sequence of int of length K, optional
        The frequency of each plane.
    pair_freqs : sequence of int or None of length 3, optional
        The frequency k at which the classes turn on each PC pair (the report finds it as the
        largest Fourier component of the points over t), for its colours k·t; None (or an
        entry None): t.

    Returns
    -------
    matplotlib.figure.Figure
        Three or four panels a row, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import last_layer_pca
    >>> pairs = np.random.default_rng(0).normal(size=(3, 11, 2))
    >>> fig = last_layer_pca(pairs, [0.3, 0.2, 0.1, 0.1, 0.05, 0.05], step=1000)
    >>> fig.axes[0].get_title()
    'PC0 (30%) – PC1 (20%)'
    """
    pairs = np.asarray(pairs, dtype=float)
    evr = np.asarray(evr, dtype=float)
    t = np.arange(pairs.shape[1])

    def colour(k) -> tuple:
        return (t, "colour t") if k is None else ((k * t) % len(t), f"colour {k}·t")

    ks = list(pair_freqs) if pair_freqs is not None else [None] * len(pairs)
    panels = [(pairs[j], f"PC{2 * j} ({evr[2 * j]:.0%}) – PC{2 * j + 1} ({evr[2 * j + 1]:.0%})",
               *colour(ks[j])) for j in range(len(pairs))]
    if planes is not None:
        panels += [(np.asarray(planes[i], float), f"plane of k = {k}", *colour(int(k)))
                   for i, k in enumerate(plane_freqs)]
    n = len(panels)  # three or four a row, whichever leaves fewer empty slots
    ncols = min(min((3, 4), key=lambda c: (-n % c, -c)), n)
    nrows = -(-len(panels) // ncols)
    side = min(3.3, 10.0 / ncols, 7.5 / nrows)  # at most 7.5 inches tall
    fig, axes = new_figure(nrows, ncols, height=side, width=side * ncols)
    for ax, (xy, title, hue, words) in zip(axes.flat, panels):
        last_layer_plane(xy, title=title, hue=hue, ax=ax)
        ax.set_xlabel(words, fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"last layer at step {step}", fontsize=11)
    return fig
