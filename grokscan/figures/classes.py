"""Figures of a classification task's classes and of the weight norm: accuracy per class
against step, and test accuracy against the weight norm (Omnigrok's "LU mechanism")."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from grokscan.figures._style import EVENTS, SPLIT, panel, series_grid


def class_accuracy(steps, test, train=None, *, markers=None, class_names=None) -> Figure:
    """Accuracy per true class against step: which classes the network generalises to first.

    :func:`series_grid`, a panel of test accuracy and, with ``train``, one of train accuracy.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    test : array_like of shape (n_checkpoints, C)
        Test accuracy of each class (NaN: not computed, or no example of the class).
    train : array_like of shape (n_checkpoints, C), optional
        Train accuracy of each class.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark.
    class_names : sequence of str of length C, optional
        The name of each class (up to 10 classes are named; with more, the panels show the
        10 %, 50 % and 90 % quantiles over the classes).

    Returns
    -------
    matplotlib.figure.Figure
        One or two panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import class_accuracy
    >>> acc = np.random.default_rng(0).uniform(size=(8, 3))
    >>> fig = class_accuracy(np.arange(8), acc, class_names=["a", "b", "c"])
    >>> [line.get_label() for line in fig.axes[0].lines][:3]
    ['a', 'b', 'c']
    """
    panels = {}
    for title, acc in (("test accuracy per class", test), ("train accuracy per class", train)):
        if acc is None:
            continue
        a = np.asarray(acc, dtype=float)
        if a.shape[1] <= 10:
            names = class_names if class_names is not None and len(class_names) == a.shape[1] \
                else [f"class {c}" for c in range(a.shape[1])]
            panels[title] = {names[c]: a[:, c] for c in range(a.shape[1])}
        else:
            ok = np.isfinite(a).any(axis=1)
            q = np.full((3, len(a)), np.nan)
            if ok.any():
                q[:, ok] = np.nanquantile(a[ok], [0.1, 0.5, 0.9], axis=1)
            panels[f"{title} (quantiles over classes)"] = _merged(
                {"10 %": q[0], "median": q[1], "90 %": q[2]})
    return series_grid(steps, panels, markers=markers, ncols=2, height=3.0)


def _merged(series: dict) -> dict:
    """Series equal at every point drawn once, their names joined ("10 % = median"): one line
    under another would hide it."""
    out: dict = {}
    for name, values in series.items():
        same = next((k for k, v in out.items()
                     if np.array_equal(v, values, equal_nan=True)), None)
        if same is None:
            out[name] = values
        else:
            out[f"{same} = {name}"] = out.pop(same)
    return out


@panel(height=3.8, width=6.0)
def norm_accuracy(weight_norm, test_acc, *, train_acc=None, steps=None, markers=None,
                  ax=None) -> Axes | Figure:
    """Accuracy against the total weight norm ‖θ‖₂, one point per checkpoint, joined in
    order of step: Omnigrok's "LU mechanism" (Liu et al., arXiv:2210.01117 §2), where
    training accuracy holds over a wide range of norms while test accuracy rises only near
    a smaller "Goldilocks" norm, so that a large initialisation shrunk by weight decay
    crosses from memorisation to generalisation.

    Parameters
    ----------
    weight_norm : array_like of shape (n_checkpoints,)
        ‖θ‖₂ at each checkpoint.
    test_acc : array_like of shape (n_checkpoints,)
        Test accuracy at each checkpoint.
    train_acc : array_like of shape (n_checkpoints,), optional
        Train accuracy, drawn beside it.
    steps : array_like of shape (n_checkpoints,), optional
        The step of each checkpoint; with ``markers``, the events are marked on the curves.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark (with ``steps``).
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
    >>> from grokscan.figures import norm_accuracy
    >>> ax = norm_accuracy(np.linspace(90, 20, 6), np.linspace(0.1, 0.95, 6),
    ...                    ax=Figure().subplots())
    >>> ax.get_xlabel()
    'weight norm ‖θ‖₂'
    """
    w = np.asarray(weight_norm, dtype=float)
    curves = {"test": np.asarray(test_acc, dtype=float)}
    if train_acc is not None:
        curves["train"] = np.asarray(train_acc, dtype=float)
    for name in ("train", "test"):
        if name in curves:
            ok = np.isfinite(w) & np.isfinite(curves[name])
            ax.plot(w[ok], curves[name][ok], marker=".", markersize=3, lw=1.0,
                    color=SPLIT[name], label=f"{name} accuracy")
    if steps is not None and markers and len(w):  # each event at the norm of its checkpoint
        s = np.asarray(steps)
        for event, step in markers.items():
            if step is not None and event in EVENTS:
                colour, ls, _ = EVENTS[event]
                ax.axvline(w[int(np.argmin(np.abs(s - step)))], color=colour, ls=ls, lw=1.2,
                           zorder=0.5)
    ax.set_xlabel("weight norm ‖θ‖₂")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small", loc="best")
    return ax
