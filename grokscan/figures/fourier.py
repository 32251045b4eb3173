"""Fourier figures (Nanda et al., arXiv:2301.05217; Furuta et al., arXiv:2402.16726): the
spectrum of the embedding over training, the scalar measures of that spectrum, the neurons' 2-D
spectrum, and the restricted and excluded loss."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grokscan.figures._style import (
    SERIES,
    SPLIT,
    add_markers,
    marker_legend,
    new_figure,
    panel,
    series_grid,
    styled,
)

LEGEND_ROWS = 8  # entries a column in the legend beside a panel
HEATMAP_DECADES = 3  # the depth of the Fourier heatmap's logarithmic colour scale


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around (possibly unevenly spaced) centres x (n,): midpoints, ends mirrored."""
    x = np.asarray(x, dtype=float)
    if len(x) == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])


@panel(height=3.2)
def frequency_heatmap(steps, norms, *, title: str = "", markers=None, colorbar: bool = True,
                      ax=None) -> Axes | Figure:
    """The norm carried by each frequency over training, as one heatmap.

    Frequency in rows, checkpoint in columns (Nanda et al., arXiv:2301.05217: a few key
    frequencies take over the embedding). The colour scale is logarithmic, at most
    HEATMAP_DECADES decades deep (values below it drawn at its bottom): on a linear scale the
    large norms of the initialisation would leave the key frequencies' rise, and the fading
    of the rest, in one colour.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint (possibly unevenly spaced: each cell spans half way to its
        neighbours).
    norms : array_like of shape (n_checkpoints, K)
        Column k−1 the norm √(μ_k² + ν_k²) of frequency k (from
        ``grokscan.metrics.fourier.frequency_power``).
    title : str, optional
        The panel's title.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark, above the cells.
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
    >>> from grokscan.figures import frequency_heatmap
    >>> norms = np.zeros((6, 5))
    >>> norms[3:, 1] = 1.0  # frequency 2 appears at the fourth checkpoint
    >>> ax = frequency_heatmap(np.arange(6) * 100, norms, title="embedding",
    ...                        ax=Figure().subplots())
    >>> ax.collections[0].get_array().reshape(5, 6)[1].tolist()
    [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    """
    z = np.asarray(norms, dtype=float)
    k = np.arange(1, z.shape[1] + 1)
    norm = _power_norm(z, decades=HEATMAP_DECADES)
    norm.clip = True  # a norm below the scale (0 included) at its bottom colour
    mesh = ax.pcolormesh(_edges(steps), _edges(k), z.T, norm=norm, shading="flat",
                         rasterized=True)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="norm (log scale)", pad=0.01)
    add_markers(ax, markers, on_image=True)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_ylabel("frequency k")
    ax.grid(False)
    ax.set_xlabel("step")
    return ax


@styled
def fourier_heatmap(steps, norms: Mapping[str, np.ndarray], *, markers=None) -> Figure:
    """The norm carried by each frequency over training, one heatmap a row.

    One :func:`frequency_heatmap` per entry of ``norms``, stacked on one step axis.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    norms : mapping of str to array_like of shape (n_checkpoints, K)
        {panel title: norms}, column k−1 the norm of frequency k.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark, on every panel and in one
        legend above.

    Returns
    -------
    matplotlib.figure.Figure
        One row per entry of ``norms``, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import fourier_heatmap
    >>> rng = np.random.default_rng(0)
    >>> fig = fourier_heatmap(np.arange(8) * 10, {"embedding": rng.random((8, 5)),
    ...                                           "neurons": rng.random((8, 5))})
    >>> [ax.get_title() for ax in fig.axes if ax.get_label() != "<colorbar>"]
    ['embedding', 'neurons']
    """
    fig, axes = new_figure(len(norms), 1, height=3.2, sharex=True)
    for ax, (title, z) in zip(axes[:, 0], norms.items()):
        frequency_heatmap(steps, z, title=title, markers=markers, ax=ax)
    for ax in axes[:-1, 0]:  # one step axis, under the lowest panel
        ax.set_xlabel("")
    marker_legend(fig, markers)
    return fig


def fourier_measures(steps, measures: Mapping[str, Mapping[str, np.ndarray]], *,
                     markers=None) -> Figure:
    """FFD, FCR, Gini coefficient and spectral entropy against step.

    The measures of Furuta et al. (arXiv:2402.16726, Eq. 5-6): :func:`series_grid`, one panel
    per measure.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    measures : mapping of str to mapping of str to array_like of shape (n_checkpoints,)
        {title: {"embedding": values, "neuron-logit map": values}}.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels a row, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import fourier_measures
    >>> t = np.linspace(0, 1, 10)
    >>> fig = fourier_measures(np.arange(10), {"Gini coefficient": {"embedding": t},
    ...                                        "spectral entropy": {"embedding": 1 - t}})
    >>> len(fig.axes)
    2
    """
    return series_grid(steps, measures, markers=markers, ncols=2)


def _power_norm(*powers: np.ndarray, decades: float = 6) -> LogNorm:
    """A logarithmic colour scale over the positive values of ``powers``, at most ``decades``
    deep."""
    pos = np.concatenate([np.asarray(p, float)[np.asarray(p, float) > 0].ravel()
                          for p in powers])
    pos = pos[np.isfinite(pos)]
    vmax = pos.max() if pos.size else 1.0
    vmin = max(pos.min() if pos.size else 1e-12, vmax * 10.0 ** -decades)
    return LogNorm(vmin=vmin, vmax=vmax)


def _tick_freqs(K: int) -> list[int]:
    step = max(1, int(np.ceil(K / 8)))
    return list(range(step, K + 1, step))


@panel(height=4.4, width=4.8)
def neuron_power(power, *, title: str = "", norm: LogNorm | None = None,
                 colorbar: bool = True, ax=None) -> Axes | Figure:
    """The neuron-mean 2-D power over (a, b) in the Fourier basis, at one checkpoint.

    Nanda et al. (arXiv:2301.05217): after grokking a few (k, k) cells hold it.

    Parameters
    ----------
    power : array_like of shape (B, B)
        Rows (a) and columns (b) in basis order (constant, cos 1, sin 1, cos 2, ...): one row
        of ``neurons/mean_power``. Ticks name the frequency of each cos/sin pair.
    title : str, optional
        The panel's title.
    norm : matplotlib.colors.LogNorm, optional
        The colour scale (to share one between panels); None: a logarithmic scale over the
        positive values of ``power``, at most six decades deep. Values below it are drawn at
        its bottom.
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
    >>> from grokscan.figures import neuron_power
    >>> power = np.full((11, 11), 0.01)
    >>> power[5, 5] = 10.0  # sin 2 × sin 2
    >>> ax = neuron_power(power, title="after grokking", ax=Figure().subplots())
    >>> float(ax.collections[0].get_array().max())
    10.0
    """
    z = np.asarray(power, float)
    norm = _power_norm(z) if norm is None else norm
    ticks = np.asarray([2 * k - 1 for k in _tick_freqs(z.shape[0] // 2)])
    labels = [str((t + 1) // 2) for t in ticks]
    mesh = ax.pcolormesh(np.clip(z, norm.vmin, None), norm=norm, rasterized=True)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.set_xticks(ticks + 0.5, labels)
    ax.set_yticks(ticks + 0.5, labels)
    ax.set_xlabel("frequency of b")
    ax.set_ylabel("frequency of a")
    ax.grid(False)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="mean power", shrink=0.85)
    return ax


@styled
def neuron_spectrum(before: np.ndarray, after: np.ndarray, *, steps: tuple[int, int],
                    labels: tuple[str, str] = ("before grokking", "after grokking")) -> Figure:
    """The neurons' 2-D power spectrum over (a, b) at two checkpoints.

    Two :func:`neuron_power` panels on one logarithmic colour scale.

    Parameters
    ----------
    before, after : array_like of shape (B, B)
        The ``neurons/mean_power`` of two checkpoints, rows and columns in basis order
        (constant, cos 1, sin 1, ...).
    steps : tuple of (int, int)
        The steps of the two checkpoints.
    labels : tuple of (str, str), optional
        What each checkpoint is, in the titles.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels and their shared colour bar, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import neuron_spectrum
    >>> before, after = np.full((11, 11), 0.01), np.full((11, 11), 0.01)
    >>> after[5, 5] = 10.0
    >>> fig = neuron_spectrum(before, after, steps=(100, 2000))
    >>> fig.axes[1].get_title()
    'after grokking (step 2000)'
    """
    before, after = np.asarray(before, float), np.asarray(after, float)
    norm = _power_norm(before, after)
    fig, axes = new_figure(1, 2, height=4.4, width=9.0)
    for ax, z, label, step in zip(axes[0], (before, after), labels, steps):
        neuron_power(z, title=f"{label} (step {step})", norm=norm, colorbar=False, ax=ax)
    fig.colorbar(axes[0, -1].collections[0], ax=axes[0].tolist(), label="mean power",
                 shrink=0.85)
    return fig


@panel(height=3.8, width=9.0)
def frequency_loss(steps, losses: Mapping[str, np.ndarray], *, markers=None,
                   ax=None) -> Axes | Figure:
    """Train and test loss with the restricted and excluded loss, against step.

    On a logarithmic y axis (Nanda et al., arXiv:2301.05217: the excluded loss rises before test
    loss falls).

    Colour is the split; line style the kind (solid: the plain loss, dashed: restricted to
    the key frequencies, dotted: with them excluded).

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    losses : mapping of str to array_like of shape (n_checkpoints,)
        {name: values}, names among ``loss_train``, ``loss_test``, ``restricted_train``,
        ``restricted_test``, ``excluded_train``, ``excluded_test``; each drawn on its finite
        positive points.
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
    >>> from grokscan.figures import frequency_loss
    >>> steps = np.arange(10) * 100
    >>> losses = {"loss_test": np.linspace(3, 0.1, 10), "excluded_test": np.full(10, 3.0)}
    >>> ax = frequency_loss(steps, losses, ax=Figure().subplots())
    >>> [(line.get_label(), line.get_linestyle()) for line in ax.lines]
    [('loss (test)', '-'), ('excluded (test)', ':')]
    """
    steps = np.asarray(steps)
    style = {"loss": "-", "restricted": "--", "excluded": ":"}
    for name, y in losses.items():
        kind, split = name.rsplit("_", 1)
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(y) & (y > 0)
        ax.plot(steps[ok], y[ok], color=SPLIT.get(split, "0.3"), ls=style.get(kind, "-"),
                lw=1.6, label=f"{kind} ({split})")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    add_markers(ax, markers)
    return ax


@panel(height=3.6, width=9.0)
def trig_coefficients(steps, coefficients: Mapping[int, np.ndarray], *, markers=None,
                      ax=None) -> Axes | Figure:
    """The coefficient of cos(w_k(a+b−c)) in the logits, against step.

    The coefficient of that unit direction, one line per key frequency k (Nanda et al.,
    arXiv:2301.05217, the "trig components").

    Seven distinct colours, then the same again dashed.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    coefficients : mapping of int to array_like of shape (n_checkpoints,)
        {k: coefficient}; each line drawn on its finite points, in order of k.
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
    >>> from grokscan.figures import trig_coefficients
    >>> steps = np.arange(10) * 100
    >>> ax = trig_coefficients(steps, {5: np.linspace(0, 1, 10), 2: np.full(10, 0.5)},
    ...                        ax=Figure().subplots())
    >>> [line.get_label() for line in ax.lines if line.get_label().startswith("k")]
    ['k = 2', 'k = 5']
    """
    steps = np.asarray(steps)
    for i, (k, y) in enumerate(sorted(coefficients.items())):
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(y)
        # seven distinct colours (SERIES), then the same again dashed
        ax.plot(steps[ok], y[ok], lw=1.6, color=SERIES[i % 7], ls="-" if i < 7 else "--",
                label=f"k = {k}")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("coefficient of cos(w_k(a+b−c))")
    # at most LEGEND_ROWS a column, so that the legend of many frequencies fits the figure
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5),
              ncols=-(-len(coefficients) // LEGEND_ROWS))
    add_markers(ax, markers)
    return ax
