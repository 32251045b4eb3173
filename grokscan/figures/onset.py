"""The figures of `grokscan onset evaluate`: the ROC curves of the detectors, and the flag
against the step of test accuracy 0.5, run by run."""

from __future__ import annotations

import numpy as np

from grokscan.figures._style import EVENTS, PALETTE, new_figure, styled


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
    ax.scatter(t50, flag, s=18, color=EVENTS["onset"][0], label="flag")
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
    hx.hist(np.clip(lead, -1, 1), bins=np.linspace(-1, 1, 21), color=EVENTS["onset"][0])
    hx.axvline(0.3, color="0.4", ls="--", lw=1, label="target 0.3")
    hx.axvline(0.0, color="0.7", lw=1)
    hx.set_xlabel("lead fraction (< 0: late; clipped at −1)")
    hx.set_ylabel("grokking runs")
    hx.yaxis.get_major_locator().set_params(integer=True)
    hx.legend(fontsize="small", loc="upper left")
    return fig


@styled
def live(live: dict, steps, test_acc, *, markers=None):
    """The in-loop detector of one run (``MetricsFile.onset_live()``): its score at every
    observed step with the threshold, over the embedding's Fourier Gini it reads (every
    step) and the test accuracy at the checkpoints, which the detector never sees."""
    from grokscan.figures._style import add_markers, marker_legend

    fig, axes = new_figure(2, 1, height=2.6, sharex=True)
    ax, bx = axes[:, 0]
    s, score = live["steps"], live["score"]
    ok = np.isfinite(score)
    ax.plot(s[ok], score[ok], color=EVENTS["onset"][0], lw=1.3, label="score")
    ax.axhline(live["threshold"], color="0.4", ls="--", lw=1,
               label=f"threshold {live['threshold']:.2f}")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("score")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    gini = live["values"].get("gini_embed")
    if gini is not None and np.isfinite(gini).any():
        bx.plot(s, gini, color=PALETTE[0], lw=1.2, label="Gini of the embedding (every step)")
    twin = bx.twinx()
    twin.plot(steps, test_acc, color=PALETTE[1], lw=1.2, marker="o", ms=2,
              label="test accuracy (checkpoints; not seen)")
    twin.set_ylim(-0.03, 1.03)
    twin.grid(False)
    twin.set_ylabel("test accuracy")
    bx.set_ylabel("Gini")
    bx.set_xlabel("step")
    handles = bx.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    bx.legend(handles=handles, fontsize="small", loc="upper center",
              bbox_to_anchor=(0.5, -0.3), ncol=2)
    for a in (ax, bx):
        add_markers(a, markers)
    marker_legend(fig, markers)
    return fig
