"""The figures of `grokscan onset evaluate`: the ROC curves of the detectors, and the flag
against the step of test accuracy 0.5, run by run."""

from __future__ import annotations

import numpy as np

from grokscan.figures._style import EVENTS, PALETTE, SPLIT, new_figure, styled

FLAG = PALETTE[4]  # the colour of a detector's flag and score


@styled
def roc(curves: dict, aucs: dict):
    """curves: {detector: (fpr, tpr)}; aucs: {detector: AUC}. One panel, the diagonal."""
    fig, axes = new_figure(1, 1, height=4.2, width=5.6)
    ax = axes[0, 0]
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
    return fig


@styled
def flags(rows):
    """rows: the main detector's per-run table (grokking runs). The flag step and the
    memorisation step against the step of test accuracy 0.5; below the diagonal is early."""
    fig, axes = new_figure(1, 2, height=4.0)
    ax, hx = axes[0]
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
    lead = rows["lead_fraction"].to_numpy(float)
    lead = lead[np.isfinite(lead)]
    hx.hist(np.clip(lead, -1, 1), bins=np.linspace(-1, 1, 21), color=FLAG)
    hx.axvline(0.3, color="0.4", ls="--", lw=1, label="target 0.3")
    hx.axvline(0.0, color="0.7", lw=1)
    hx.set_xlabel("lead fraction (< 0: late; clipped at −1)")
    hx.set_ylabel("grokking runs")
    hx.yaxis.get_major_locator().set_params(integer=True)
    hx.legend(fontsize="small", loc="upper left")
    return fig


@styled
def forecast(steps, train_acc, test_acc, *, checkpoint=None, live=None, memorisation=None):
    """The forecast of one run: the score of each detector that ran, with its threshold and
    flag, above the accuracies (test accuracy: at the checkpoints, never seen by a detector).

    steps, train_acc, test_acc: (n,) every checkpoint of the run. checkpoint: {"name",
    "steps" (m,), "score" (m,), "threshold", "step" (flag or None)} of a checkpoint detector
    (``MetricsFile.onset()``); live: the same of the in-loop model over its every-step record
    (``MetricsFile.onset_live()``); either may be None. memorisation: the step train accuracy
    first reached 0.99, drawn on every panel.
    """
    from matplotlib.lines import Line2D

    shown = [d for d in (checkpoint, live) if d is not None]
    fig, axes = new_figure(len(shown) + 1, 1, height=2.3, sharex=True)
    flags = []
    for ax, d, colour in zip(axes[:, 0], shown, (FLAG, PALETTE[2])):
        ok = np.isfinite(d["score"])
        ax.plot(d["steps"][ok], d["score"][ok], color=colour, lw=1.3,
                marker="o" if ok.sum() < 40 else None, ms=2.5, label="score")
        ax.axhline(d["threshold"], color=colour, ls=(0, (5, 2, 1, 2)), lw=1, alpha=0.8,
                   label=f"threshold {d['threshold']:g}")
        ax.set_ylabel("score")
        ax.set_title(d["name"], loc="left")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0)
        if d["step"] is not None:
            flags.append((d["name"], d["step"], colour))
    acc = axes[-1, 0]
    acc.plot(steps, train_acc, color=SPLIT["train"], lw=1.3, label="train accuracy")
    acc.plot(steps, test_acc, color=SPLIT["test"], lw=1.3,
             label="test accuracy (no detector sees it)")
    acc.set_ylim(-0.03, 1.03)
    acc.set_ylabel("accuracy")
    acc.set_xlabel("step")
    acc.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    handles = []
    if memorisation is not None:
        handles.append(Line2D([], [], color=EVENTS["memorisation"][0], ls="--", lw=1.2,
                              label=f"{EVENTS['memorisation'][2]}: {memorisation}"))
    for name, step, colour in flags:
        handles.append(Line2D([], [], color=colour, ls=":", lw=1.6,
                              label=f"{name} flag: {step}"))
    for ax in axes[:, 0]:
        if memorisation is not None:
            ax.axvline(memorisation, color=EVENTS["memorisation"][0], ls="--", lw=1.2,
                       zorder=0.5)
        for _, step, colour in flags:
            ax.axvline(step, color=colour, ls=":", lw=1.6, zorder=0.6)
    if handles:
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 3))
    return fig
