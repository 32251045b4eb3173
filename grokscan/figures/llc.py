"""The local learning coefficient (the llc family; Lau et al., arXiv:2308.12108): its estimate
against step, and the SGLD chains' diagnostics."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from grokscan.figures._style import (
    PALETTE,
    SERIES,
    WIDTH,
    add_markers,
    marker_legend,
    panel,
    styled,
)


@panel(height=3.4)
def llc_curve(steps, mean, std, *, markers=None, ax=None) -> Axes | Figure:
    """The local learning coefficient λ̂ against step.

    Lau et al. (arXiv:2308.12108, Eq. 9): the mean over chains with bars of ± one standard
    deviation over chains, at the checkpoints where it was computed (finite values); a log y
    axis when it spans more than a factor 20.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    mean, std : array_like of shape (n_checkpoints,)
        The mean and the standard deviation of λ̂ over chains, NaN where not computed.
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
    >>> from grokscan.figures import llc_curve
    >>> mean = np.array([np.nan, 40.0, 25.0, 20.0])
    >>> ax = llc_curve([0, 10, 20, 30], mean, np.ones(4), ax=Figure().subplots())
    >>> ax.lines[0].get_ydata().tolist()
    [40.0, 25.0, 20.0]
    """
    steps = np.asarray(steps)
    mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    ok = np.isfinite(mean)
    ax.errorbar(steps[ok], mean[ok], yerr=np.nan_to_num(std[ok]), color=PALETTE[0], lw=1.6,
                marker="o", ms=4, capsize=0, elinewidth=1.2, label="λ̂ (mean ± std over chains)")
    add_markers(ax, markers)
    ax.set_xlabel("step")
    ax.set_ylabel("local learning coefficient λ̂")
    if ok.any() and np.nanmin(mean[ok]) > 0 and np.nanmax(mean[ok]) > 20 * np.nanmin(mean[ok]):
        ax.set_yscale("log")
    return ax


def _chain_colours(n_chains: int) -> list:
    """The colour of each chain: seven distinct ones, then the same again (dashed)."""
    return SERIES[:n_chains] if n_chains <= 7 else [SERIES[i % 7] for i in range(n_chains)]


@panel(height=2.8, width=4.0)
def llc_chains(trace, *, init_loss: float, nbeta: float, step: int | None = None,
               ax=None) -> Axes | Figure:
    """Each SGLD chain's sampled loss at one checkpoint, against the draw.

    As nβ (L_t − L(w*)); the black line is the chains' mean over the draws, that checkpoint's λ̂
    (Lau et al., arXiv:2308.12108). A converged chain wanders about a level.

    Parameters
    ----------
    trace : array_like of shape (n_chains, n_draws)
        The loss L_t of each chain at each draw.
    init_loss : float
        L(w*), the loss at the checkpoint itself.
    nbeta : float
        The inverse temperature times the number of samples, nβ.
    step : int, optional
        The checkpoint's step, as the title.
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
    >>> from grokscan.figures import llc_chains
    >>> trace = 0.1 + np.random.default_rng(0).uniform(0, 0.02, size=(3, 50))
    >>> ax = llc_chains(trace, init_loss=0.1, nbeta=100.0, step=1000, ax=Figure().subplots())
    >>> len(ax.lines), ax.get_title()
    (4, 'step 1000')
    """
    y = nbeta * (np.asarray(trace, dtype=float) - float(init_loss))
    colours = _chain_colours(len(y))
    for c in range(len(y)):
        ax.plot(np.arange(y.shape[1]), y[c], color=colours[c], lw=0.8, ls="-" if c < 7 else "--")
    ax.axhline(float(y.mean()), color="black", lw=1.8)
    if step is not None:
        ax.set_title(f"step {int(step)}")
    ax.set_xlabel("draw")
    ax.set_ylabel("nβ (L − L(w*))")
    return ax


@panel(height=2.8)
def acceptance_rates(steps, accept, *, markers=None, ax=None) -> Axes | Figure:
    """The MALA acceptance rate of each SGLD chain against step.

    devinterp's MalaAcceptanceRate: near 1 for a small step, low when the step is too large for
    the curvature; at the checkpoints where every chain has one.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of each checkpoint.
    accept : array_like of shape (n_checkpoints, n_chains)
        The acceptance rate of each chain, NaN where not computed.
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
    >>> from grokscan.figures import acceptance_rates
    >>> accept = np.array([[0.9, 0.8], [np.nan, np.nan], [0.95, 0.9]])
    >>> ax = acceptance_rates([0, 10, 20], accept, ax=Figure().subplots())
    >>> [line.get_xdata().tolist() for line in ax.lines]
    [[0, 20], [0, 20]]
    """
    steps, accept = np.asarray(steps), np.asarray(accept, dtype=float)
    ok = np.isfinite(accept).all(axis=1) if accept.ndim == 2 else np.isfinite(accept)
    n_chains = accept.shape[1] if accept.ndim == 2 else 0
    colours = _chain_colours(n_chains)
    for c in range(n_chains):
        ax.plot(steps[ok], accept[ok, c], color=colours[c], lw=1.2, marker="o", ms=3,
                ls="-" if c < 7 else "--")
    add_markers(ax, markers)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel("MALA acceptance rate")
    return ax


@styled
def llc_diagnostics(steps_shown, traces, init_loss, nbeta: float, steps, accept, *,
                    markers=None) -> Figure:
    """The SGLD chains behind λ̂, and their acceptance rates against step.

    Above, one :func:`llc_chains` panel per checkpoint shown; below, :func:`acceptance_rates`;
    one legend of the chains and the event markers above.

    Parameters
    ----------
    steps_shown : array_like of int of shape (k,)
        The steps of the checkpoints whose chains are shown.
    traces : array_like of shape (k, n_chains, n_draws)
        The loss of each chain at each draw, at those checkpoints.
    init_loss : array_like of shape (k,)
        L(w*) at those checkpoints.
    nbeta : float
        The inverse temperature times the number of samples, nβ.
    steps : array_like of shape (n_checkpoints,)
        The step of every checkpoint.
    accept : array_like of shape (n_checkpoints, n_chains)
        The acceptance rate of each chain, NaN where not computed.
    markers : mapping of str to int or None, optional
        {event: step} of the events of :data:`EVENTS` to mark on the lower panel.

    Returns
    -------
    matplotlib.figure.Figure
        Two rows of panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import llc_diagnostics
    >>> rng = np.random.default_rng(0)
    >>> fig = llc_diagnostics([0, 1000], 0.1 + rng.uniform(0, 0.02, size=(2, 3, 50)),
    ...                       [0.1, 0.1], 100.0, np.arange(0, 1100, 100),
    ...                       rng.uniform(0.8, 1.0, size=(11, 3)))
    >>> [ax.get_title() for ax in fig.axes]
    ['step 0', 'step 1000', '']
    """
    traces = np.asarray(traces, dtype=float)
    k, n_chains, _ = traces.shape
    fig = Figure(figsize=(WIDTH, 5.6), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, max(k, 1))
    for j in range(k):
        ax = fig.add_subplot(grid[0, j])
        llc_chains(traces[j], init_loss=init_loss[j], nbeta=nbeta, step=steps_shown[j], ax=ax)
        if j > 0:
            ax.set_ylabel("")
    acceptance_rates(steps, accept, markers=markers, ax=fig.add_subplot(grid[1, :]))
    colours = _chain_colours(n_chains)
    handles = [Line2D([], [], color=colours[c], lw=1.2, label=f"chain {c}")
               for c in range(n_chains)]
    handles.append(Line2D([], [], color="black", lw=1.8, label="mean over draws (λ̂)"))
    marker_legend(fig, markers, extra=handles)
    return fig
