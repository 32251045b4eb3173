"""`grokscan onset evaluate`: SWEEP/onset.csv (one row per run and detector),
SWEEP/onset_summary.csv (one row per detector) and SWEEP/onset.html, self-contained (the
numbers: grokscan/studies/onset.py; the figures: grokscan/figures/onset.py)."""

from __future__ import annotations

import base64
import html
import os

import pandas as pd

from grokscan.files import write_atomic
from grokscan.reporting import figure_bytes
from grokscan.reporting.page import CSS
from grokscan.studies.onset import LIVE, MAIN

SHOWN = ("detector", "inputs", "runs", "grokking", "controls", "undecided", "coverage",
         "lead_q1", "lead_median", "lead_q3", "false_alarms", "auc", "coverage_at_fa_0.05",
         "coverage_at_fa_0.1", "threshold")


def headline(per_run: pd.DataFrame) -> str:
    """The detector the page leads with: the in-loop model where the runs have its record,
    else the checkpoint detector."""
    return LIVE if (per_run["detector"] == LIVE).any() else MAIN


def which(per_run: pd.DataFrame) -> str:
    """A line on which detectors were judged, for the command's output."""
    runs = per_run["run"].nunique()
    live = int((per_run["detector"] == LIVE).sum())
    if not live:
        return (f"the in-loop detector: none of the {runs} runs has its record (trained "
                "before it, or with --no-onset); judged: the checkpoint detectors")
    return (f"the in-loop detector: replayed on the {live} of {runs} runs that have its "
            "record; the checkpoint detectors on all of them")


def table_text(summary: pd.DataFrame) -> str:
    """The summary as the text table the command prints."""
    return summary[list(SHOWN)].to_string(index=False, float_format=lambda v: f"{v:.3g}")


def write(out_dir, per_run: pd.DataFrame, summary: pd.DataFrame, curves: dict,
          sources=None) -> list[str]:
    """Write the three files into OUT/ (the runs came from the sweep folders ``sources``,
    OUT/ itself by default); their paths."""
    from grokscan.figures import onset as fig_onset

    out_dir = os.fspath(out_dir)
    sources = [out_dir] if sources is None else [os.fspath(s) for s in sources]
    paths = [os.path.join(out_dir, n) for n in ("onset.csv", "onset_summary.csv",
                                                  "onset.html")]
    write_atomic(paths[0], per_run.to_csv(index=False).encode())
    write_atomic(paths[1], summary.drop(columns=[], errors="ignore").to_csv(index=False)
                 .encode())
    every = summary[summary["runs"] == "all"]
    aucs = dict(zip(every["detector"], every["auc"]))
    lead = headline(per_run)
    main = per_run[(per_run["detector"] == lead) & (per_run["class"] == "grokking")]
    over = "all the runs of the sweeps" if len(sources) > 1 else "the sweep's runs"
    items = [("ROC", "ROC of the largest score before test accuracy 0.5 (controls: over the "
              f"whole run), grokking runs against controls, over {over}",
              fig_onset.roc(curves, aucs))]
    if len(main):
        items.append(("Flags", f"{lead}: memorisation and flag steps against the step of test "
                      "accuracy 0.5 (below the diagonal: before it), and the lead fractions of "
                      "the flagged runs (the dashed line: the target, 0.3)",
                      fig_onset.flags(main)))
    images = [(t, c, base64.b64encode(figure_bytes(f, "png")).decode()) for t, c, f in items]
    write_atomic(paths[2], _page(sources, per_run, summary, images).encode())
    return paths


def _page(sources, per_run, summary, images) -> str:
    from grokscan._version import __version__

    esc = html.escape
    name = esc(" + ".join(os.path.basename(os.path.abspath(s)) for s in sources))
    figures = "".join(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(t)}">'
                      f"<figcaption><b>{esc(t)}.</b> {esc(c)}</figcaption></figure>"
                      for t, c, data in images)
    fmt = dict(index=False, na_rep="—", float_format=lambda v: f"{v:.3g}", border=0)
    lead = headline(per_run)
    runs = per_run[per_run["detector"] == lead].drop(columns=["detector"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>grokscan onset — {name}</title>
<style>{CSS}.scroll{{overflow-x:auto}}.scroll table{{font-size:.85em}}</style></head>
<body><main>
<h1>grokscan onset — {name}</h1>
<p class="run">Coverage: grokking runs flagged before test accuracy 0.5. Lead: (step of
test accuracy 0.5 − flag) / (step of test accuracy 0.5 − memorisation), 0 for a run not
flagged in time. False alarms: controls flagged at any step. A control never reaches test
accuracy 0.5 and is not rising at the end (grokscan/onset/labels.py); a run still rising is
undecided, counted apart, as is a run with no delay.</p>
<div class="scroll">{summary[list(SHOWN)].to_html(**fmt)}</div>
{figures}
<h2>Runs ({esc(lead)})</h2>
<div class="scroll">{runs.to_html(**fmt)}</div>
<div class="foot"><p>grokscan {esc(__version__)} · from the runs in
{esc(", ".join(os.path.abspath(s) for s in sources))} · all detectors' rows in onset.csv</p>
</div>
</main></body></html>"""
