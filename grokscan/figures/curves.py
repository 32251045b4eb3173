"""Training curves: loss and accuracy against step, with the event markers (the plateau of
test accuracy after training accuracy saturates: Power et al., arXiv:2201.02177)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from grokscan.figures._style import (
    PALETTE,
    SPLIT,
    WIDTH,
    add_markers,
    marker_legend,
    new_figure,
    panel,
    styled,
)


def _split_colours(scalars: Mapping[str, np.ndarray]) -> dict:
    """{split: colour} of every split with a ``<split>_loss`` or ``<split>_acc``: train and test
    their own, the others the palette after them, in name order."""
    splits = [k[: -len("_loss")] for k in scalars if k.endswith("_loss")]
    splits += [k[: -len("_acc")] for k in scalars if k.endswith("_acc")]
    splits = sorted(set(splits), key=lambda s: (s not in SPLIT, s != "train", s))
    extra = iter(PALETTE[2:])
    return {s: SPLIT.get(s) or next(extra) for s in splits}


def _split_curves(ax, steps, scalars, suffix: str, title: str, markers) -> None:
    """One curve per split of ``scalars`` with a ``<split><suffix>``, on its finite points
    (positive ones for a loss)."""
    steps = np.asarray(steps)
    for s, colour in _split_colours(scalars).items():
        y = scalars.get(s + suffix)
        if y is None:
            continue
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(y) & ((y > 0) if suffix == "_loss" else True)
        ax.plot(steps[ok], y[ok], color=colour, lw=1.6, label=s)
    add_markers(ax, markers)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.legend(fontsize="small")


@panel(height=3.4, width=WIDTH / 2)
def loss_curves(steps, scalars: Mapping[str, np.ndarray], *, markers=None,
                ax=None) -> Axes | Figure:
    """The loss of every split recorded against step, on a logarithmic y axis.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    scalars : mapping of str to array_like of shape (n_checkpoints,)
        {name: values}; each ``<split>_loss`` (``train_loss``, ``test_loss``, any extra split
        such as the Ising ``inverted_loss``) is a curve, drawn on its finite positive points.
        Other names are ignored, except that a ``<split>_acc`` takes part in choosing the
        colours, so that a split has the same colour as in :func:`accuracy_curves`.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark (None: not drawn).
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
    >>> from grokscan.figures import loss_curves
    >>> steps = np.arange(0, 500, 50)
    >>> scalars = {"train_loss": np.exp(-steps / 100), "test_loss": np.full(10, 2.0)}
    >>> ax = loss_curves(steps, scalars, ax=Figure().subplots())
    >>> [line.get_label() for line in ax.lines], ax.get_yscale()
    (['train', 'test'], 'log')
    """
    _split_curves(ax, steps, scalars, "_loss", "loss", markers)
    ax.set_yscale("log")
    return ax


@panel(height=3.4, width=WIDTH / 2)
def accuracy_curves(steps, scalars: Mapping[str, np.ndarray], *, markers=None,
                    ax=None) -> Axes | Figure:
    """The accuracy of every split recorded against step, on a y axis from 0 to 1.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    scalars : mapping of str to array_like of shape (n_checkpoints,)
        {name: values}; each ``<split>_acc`` (``train_acc``, ``test_acc``, any extra split) is
        a curve, drawn on its finite points. A ``<split>_loss`` takes part in choosing the
        colours, as in :func:`loss_curves`.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark (None: not drawn).
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
    >>> from grokscan.figures import accuracy_curves
    >>> steps = np.arange(0, 500, 50)
    >>> scalars = {"train_acc": np.linspace(0, 1, 10), "test_acc": np.linspace(0, 1, 10) ** 4}
    >>> ax = accuracy_curves(steps, scalars, markers={"memorisation": 450},
    ...                      ax=Figure().subplots())
    >>> [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
    ['train', 'test']
    """
    _split_curves(ax, steps, scalars, "_acc", "accuracy", markers)
    ax.set_ylim(-0.02, 1.02)
    return ax


@styled
def training_curves(steps, scalars: Mapping[str, np.ndarray], *, markers=None) -> Figure:
    """Loss (log scale) and accuracy of every split recorded, against step.

    The :func:`loss_curves` and :func:`accuracy_curves` panels side by side, with the legend of
    the event markers above (grokking, Power et al., arXiv:2201.02177: the long plateau of test
    accuracy after training accuracy has saturated).

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    scalars : mapping of str to array_like of shape (n_checkpoints,)
        {name: values} with ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc`` and any
        ``<extra>_loss`` / ``<extra>_acc`` (e.g. the Ising ``inverted`` set).
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark (None: not drawn).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, loss and accuracy, on their own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import training_curves
    >>> steps = np.arange(0, 500, 50)
    >>> t = np.linspace(0, 1, 10)
    >>> scalars = {"train_loss": np.exp(-5 * t), "test_loss": 2 - t,
    ...            "train_acc": t, "test_acc": t ** 4}
    >>> fig = training_curves(steps, scalars, markers={"memorisation": 450, "grokking": None})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss', 'accuracy']
    """
    fig, axes = new_figure(1, 2, height=3.4)
    loss_curves(steps, scalars, markers=markers, ax=axes[0, 0])
    accuracy_curves(steps, scalars, markers=markers, ax=axes[0, 1])
    marker_legend(fig, markers)
    return fig
