"""The figures of `grokscan onset evaluate` and the forecast of one run: the ROC curves of the
onset detectors, the flag against the step of test accuracy 0.5 run by run, and a run's
detector scores above its accuracies."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from grokscan.figures._style import EVENTS, PALETTE, SPLIT, WIDTH, new_figure, panel, styled

FLAG = PALETTE[4]  # the colour of a detector's flag and score
THRESHOLD = "0.1"  # the colour of a detector's threshold
LOGIT_CLIP = 1e-5  # a probability drawn on the logit scale is kept within [c, 1 − c]
LOGIT_TICKS = (1e-5, 1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)


def probability_like(score: np.ndarray, threshold: float) -> bool:
    """Whether a score reads best on the logit scale: every value and the threshold within
    [0, 1], some of them within 0.02 of either end (a probability that saturates)."""
    v = np.append(np.asarray(score, dtype=float), threshold)
    v = v[np.isfinite(v)]
    return bool(v.size) and v.min() >= 0 and v.max() <= 1 and bool(
        ((v > 0.98) | (v < 0.02)).any())


@panel(height=4.2, width=5.6)
def roc(curves: dict, aucs: dict, *, ax=None) -> Axes | Figure:
    """The ROC curve of each onset detector.

    Coverage of the grokking runs against the false-alarm rate on the controls, with the
    diagonal of chance and guides at 5 % and 10 % false alarms.

    Parameters
    ----------
    curves : mapping of str to tuple of (array_like, array_like)
        {detector: (fpr, tpr)}, each of shape (n_thresholds,), drawn as steps.
    aucs : mapping of str to float
        {detector: area under its curve}, in the legend (NaN where absent).
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; None: a new Figure.

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
        ``ax``, drawn on; without ``ax``, a new Figure holding the panel.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from grokscan.figures import roc
    >>> ax = roc({"detector": ([0, 0.1, 1], [0, 0.8, 1])}, {"detector": 0.85},
    ...          ax=Figure().subplots())
    >>> ax.get_legend().get_texts()[0].get_text()
    'detector (AUC 0.85)'
    """
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
    for colour, (name, (fpr, tpr)) in zip(PALETTE, curves.items()):
        ax.step(fpr, tpr, where="post", color=colour, lw=1.6,
                label=f"{name} (AUC {aucs.get(name, np.nan):.2f})")
    for fa in (0.05, 0.10):
        ax.axvline(fa, color="0.8", lw=0.8)
    ax.set_xlabel("false-alarm rate (controls)")
    ax.set_ylabel("coverage (grokking runs)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small", loc="lower right")
    return ax


@panel(height=4.0, width=WIDTH / 2)
def flag_steps(rows, *, ax=None) -> Axes | Figure:
    """The flag and memorisation steps of each run against its test accuracy 0.5.

    Below the diagonal is early. A run not flagged is a cross at the top.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per run, with the columns ``step_test_0.5``, ``flag`` and
        ``step_memorised`` (NaN or NA where absent): the main detector's per-run table.
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; None: a new Figure.

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
        ``ax``, drawn on; without ``ax``, a new Figure holding the panel.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from grokscan.figures import flag_steps
    >>> rows = pd.DataFrame({"step_test_0.5": [100.0, 200.0], "flag": [60.0, np.nan],
    ...                      "step_memorised": [20.0, 40.0]})
    >>> ax = flag_steps(rows, ax=Figure().subplots())
    >>> [c.get_label() for c in ax.collections]
    ['memorisation', 'flag', 'not flagged']
    """
    t50 = rows["step_test_0.5"].to_numpy(float)
    flag = rows["flag"].to_numpy(float, na_value=np.nan)
    mem = rows["step_memorised"].to_numpy(float, na_value=np.nan)
    top = np.nanmax(np.r_[t50, flag, 1.0]) * 1.05
    ax.plot([0, top], [0, top], color="0.7", lw=1, ls="--")
    ax.scatter(t50, mem, s=14, color=EVENTS["memorisation"][0], label="memorisation")
    ax.scatter(t50, flag, s=18, color=FLAG, label="flag")
    missed = ~np.isfinite(flag)
    if missed.any():
        ax.scatter(t50[missed], np.full(missed.sum(), top), marker="x", color=PALETTE[3],
                   label="not flagged")
    ax.set_xlabel("step of test accuracy 0.5")
    ax.set_ylabel("step")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3,
              frameon=False)
    return ax


@panel(height=4.0, width=WIDTH / 2)
def lead_fractions(rows, *, ax=None) -> Axes | Figure:
    """The histogram of the lead fractions of the flagged runs.

    (t_0.5 − flag) / (t_0.5 − memorisation): the flag's lead on test accuracy 0.5 as a share of
    the delay from memorisation (< 0: late, clipped at −1), with the target 0.3.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per run, with the column ``lead_fraction`` (NaN: not flagged, left out).
    ax : matplotlib.axes.Axes, optional
        The Axes to draw on; None: a new Figure.

    Returns
    -------
    matplotlib.axes.Axes or matplotlib.figure.Figure
        ``ax``, drawn on; without ``ax``, a new Figure holding the panel.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from matplotlib.figure import Figure
    >>> from grokscan.figures import lead_fractions
    >>> rows = pd.DataFrame({"lead_fraction": [0.5, 0.35, np.nan, -2.0]})
    >>> ax = lead_fractions(rows, ax=Figure().subplots())
    >>> int(sum(bar.get_height() for bar in ax.patches))  # three flagged runs
    3
    """
    lead = rows["lead_fraction"].to_numpy(float)
    lead = lead[np.isfinite(lead)]
    ax.hist(np.clip(lead, -1, 1), bins=np.linspace(-1, 1, 21), color=FLAG)
    ax.axvline(0.3, color="0.4", ls="--", lw=1, label="target 0.3")
    ax.axvline(0.0, color="0.7", lw=1)
    ax.set_xlabel("lead fraction (< 0: late; clipped at −1)")
    ax.set_ylabel("grokking runs")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="small", loc="upper left")
    return ax


@styled
def flags(rows) -> Figure:
    """The main onset detector's flags over the grokking runs.

    :func:`flag_steps` beside :func:`lead_fractions`.

    Parameters
    ----------
    rows : pandas.DataFrame
        The main detector's per-run table of the grokking runs, with the columns
        ``step_test_0.5``, ``flag``, ``step_memorised`` and ``lead_fraction``.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from grokscan.figures import flags
    >>> rows = pd.DataFrame({"step_test_0.5": [100.0, 200.0], "flag": [60.0, np.nan],
    ...                      "step_memorised": [20.0, 40.0], "lead_fraction": [0.5, np.nan]})
    >>> len(flags(rows).axes)
    2
    """
    fig, axes = new_figure(1, 2, height=4.0)
    flag_steps(rows, ax=axes[0, 0])
    lead_fractions(rows, ax=axes[0, 1])
    return fig


@panel(height=2.3)
def forecast_score(record: dict, *, colour=FLAG, ax=None) -> Axes | Figure:
    """One onset detector's score against step with its threshold, in one run.

    Parameters
    ----------
    record : dict
        {"name": str, "steps": array_like of shape (m,), "score": array_like of shape (m,),
        "threshold": float, "probability": bool (optional), ...}: a detector's record
        (``MetricsFile.onset()`` for a checkpoint detector, ``MetricsFile.onset_live()`` for
        the in-loop model). The score is drawn on its finite points.
    colour : colour, optional
        The score's colour. The threshold is a thin solid black line, named on the panel; a
        score that is a probability (``record["probability"]`` true, the in-loop model's)
        near 0 or 1 is drawn on the logit scale, clipped to [LOGIT_CLIP, 1 − LOGIT_CLIP].
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
    >>> from grokscan.figures import forecast_score
    >>> record = {"name": "a detector", "steps": np.arange(0, 100, 10),
    ...           "score": np.linspace(0, 1, 10), "threshold": 0.5}
    >>> ax = forecast_score(record, ax=Figure().subplots())
    >>> [line.get_label() for line in ax.lines]
    ['score', 'threshold 0.5']
    """
    steps, score = np.asarray(record["steps"]), np.asarray(record["score"], dtype=float)
    ok = np.isfinite(score)
    threshold = float(record["threshold"])
    logit = bool(record.get("probability")) and probability_like(score[ok], threshold)
    clipped = ""
    if logit:  # a probability near 0 or 1: the logit scale spreads 0.9, 0.99, 0.999 apart
        top, bottom = 1 - LOGIT_CLIP, LOGIT_CLIP
        ends = [f"{end} at {at:g}" for end, at, out in
                ((1, top, score[ok] > top), (0, bottom, score[ok] < bottom)) if out.any()]
        clipped = f"\n({', '.join(ends)})" if ends else ""
        score = np.clip(score, LOGIT_CLIP, 1 - LOGIT_CLIP)
        ax.set_yscale("logit")
    ax.plot(steps[ok], score[ok], color=colour, lw=1.3, marker="o" if ok.sum() < 40 else None,
            ms=2.5, label="score")
    # the threshold: a thin solid black line, named on it, unlike every event (vertical,
    # dashed or dotted)
    ax.axhline(threshold, color=THRESHOLD, ls="-", lw=0.9, label=f"threshold {threshold:g}")
    if logit:  # probabilities as such (0.9, 0.99), not as 1 − 10^-k; no crowded minor labels
        ax.yaxis.set_major_locator(FixedLocator(LOGIT_TICKS))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.get_ylim()  # the limits settled, the name goes on the side of the line with room
    where = ax.transAxes.inverted().transform(ax.transData.transform((0, threshold)))[1]
    above = where < 0.75
    ax.annotate(f"threshold {threshold:g}", (1.0, threshold), xytext=(-3, 2 if above else -2),
                xycoords=("axes fraction", "data"), textcoords="offset points",
                fontsize="x-small", color=THRESHOLD, va="bottom" if above else "top",
                ha="right")
    ax.set_xlabel("step")
    ax.set_ylabel(f"score (logit scale){clipped}" if logit else "score")
    ax.set_title(record["name"], loc="left")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax


@panel(height=2.3)
def forecast_accuracy(steps, train_acc, test_acc, *, ax=None) -> Axes | Figure:
    """Train and test accuracy of one run against step, under its forecast.

    Test accuracy at the checkpoints, never seen by a detector.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of every checkpoint of the run.
    train_acc, test_acc : array_like of shape (n_checkpoints,)
        The accuracies there.
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
    >>> from grokscan.figures import forecast_accuracy
    >>> t = np.linspace(0, 1, 10)
    >>> ax = forecast_accuracy(np.arange(10), t, t ** 4, ax=Figure().subplots())
    >>> np.array_equal(ax.lines[1].get_ydata(), t ** 4)
    True
    """
    ax.plot(steps, train_acc, color=SPLIT["train"], lw=1.3, label="train accuracy")
    ax.plot(steps, test_acc, color=SPLIT["test"], lw=1.3,
            label="test accuracy (no detector sees it)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("accuracy")
    ax.set_xlabel("step")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax


@styled
def forecast(steps, train_acc, test_acc, *, checkpoint=None, live=None,
             memorisation=None) -> Figure:
    """The forecast of one run: its detectors' scores above its accuracies.

    A :func:`forecast_score` panel for each detector that ran, above :func:`forecast_accuracy`;
    each flag (dotted) and the memorisation step (dashed) on every panel, named in one legend
    above.

    Parameters
    ----------
    steps : array_like of shape (n_checkpoints,)
        The step of every checkpoint of the run.
    train_acc, test_acc : array_like of shape (n_checkpoints,)
        The accuracies there.
    checkpoint : dict, optional
        {"name", "steps" (m,), "score" (m,), "threshold", "step" (the flag, or None)} of a
        checkpoint detector (``MetricsFile.onset()``); None: not shown.
    live : dict, optional
        The same of the in-loop model over its every-step record
        (``MetricsFile.onset_live()``); None: not shown.
    memorisation : int, optional
        The step train accuracy first reached 0.99.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per detector and the accuracies, on one step axis, on its own Agg canvas.

    Examples
    --------
    >>> import numpy as np
    >>> from grokscan.figures import forecast
    >>> steps = np.arange(0, 100, 10)
    >>> t = np.linspace(0, 1, 10)
    >>> record = {"name": "a detector", "steps": steps, "score": t, "threshold": 0.5,
    ...           "step": 50}
    >>> fig = forecast(steps, t, t ** 4, checkpoint=record, memorisation=30)
    >>> [text.get_text() for text in fig.legends[0].get_texts()]
    ['memorisation (train acc ≥ 0.99): 30', 'a detector flag: 50']
    """
    shown = [d for d in (checkpoint, live) if d is not None]
    fig, axes = new_figure(len(shown) + 1, 1, height=2.3, sharex=True)
    flagged = []
    for ax, d, colour in zip(axes[:, 0], shown, (FLAG, PALETTE[2])):
        forecast_score(d, colour=colour, ax=ax)
        ax.set_xlabel("")  # one step axis, under the accuracies
        if d["step"] is not None:
            flagged.append((d["name"], d["step"], colour))
    forecast_accuracy(steps, train_acc, test_acc, ax=axes[-1, 0])
    handles = []
    if memorisation is not None:
        handles.append(Line2D([], [], color=EVENTS["memorisation"][0], ls="--", lw=1.2,
                              label=f"{EVENTS['memorisation'][2]}: {memorisation}"))
    for name, step, colour in flagged:
        handles.append(Line2D([], [], color=colour, ls=":", lw=1.6,
                              label=f"{name} flag: {step}"))
    for ax in axes[:, 0]:
        if memorisation is not None:
            ax.axvline(memorisation, color=EVENTS["memorisation"][0], ls="--", lw=1.2,
                       zorder=0.5)
        for _, step, colour in flagged:
            ax.axvline(step, color=colour, ls=":", lw=1.6, zorder=0.6)
    if handles:
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 3))
    return fig
