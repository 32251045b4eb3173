"""The onset detectors judged once on the onset corpus's EVALUATION runs
(scripts/grids/onset3/eval_*.toml: seeds, operations and moduli that no tuning run uses): the
detector scripts/fit_onset3.py chose, with its threshold frozen, beside the detectors grokscan
shipped before it (the rows to beat), per model family and all together, with bootstrap 95 %
intervals; and, at the chosen detector's flag, a forecast of the step of test accuracy 0.5
(its ratio fitted on the tuning runs) with its measured error.

    python scripts/evaluate_onset3.py data/onset_corpus.parquet out/onset3/fit/chosen.json \\
        --out out/onset3/eval [--doc docs/results/onset3_evaluation.md]

OUT/evaluation.csv (one row per detector and family), OUT/forecast.json; ``--doc`` writes the
documentation's table of them (Markdown), ``--figure`` a picture of the runs (PNG): each
evaluation run's largest score before test accuracy 0.5 (a control's: over its whole run)
under the third design and the default, beside its threshold.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pandas as pd

from grokscan.onset import default as default_detector
from grokscan.onset import detectors
from grokscan.studies import (
    Candidate,
    Runs,
    auc_matched,
    bootstrap,
    flag_step,
    from_dict,
    judge,
    judge_flags,
    scores,
)

# the targets, per evaluation family (docs/results/onset3.md)
TARGETS = {"coverage": 0.90, "false_alarms": 0.05, "lead_median": 0.30, "auc": 0.93}
# the detectors shipped before, read on the table's signals: the entropy, Gini and FFD of the
# embedding in the task's own basis (the analysis's "auto"), the weight norm, the train loss
TASK_BASIS = {"fourier/entropy_embed": "entropy", "fourier/gini_embed": "gini",
              "fourier/ffd_embed": "ffd", "weight_norm": "weight_norm",
              "train_loss": "train_loss"}


def with_task_basis(table: pd.DataFrame) -> pd.DataFrame:
    """Columns ``entropy_task``, ``gini_task``, ``ffd_task``: the multiplicative basis's
    where every operation of the run is mul or div (P prime), else the additive one's."""
    mult = table["op"].map(lambda op: all(o in ("mul", "div") for o in op.split(",")))
    mult &= table["entropy_mul"].notna()
    out = table.copy()
    for tag in ("entropy", "gini", "ffd"):
        out[f"{tag}_task"] = np.where(mult, table[f"{tag}_mul"], table[f"{tag}_add"])
    return out


def shipped_candidates() -> dict:
    """The checkpoint detectors grokscan shipped, as (Candidate, their own threshold)."""
    out = {}
    for name, d in detectors().items():
        if d.settings is None:
            continue
        tag = TASK_BASIS[d.settings.signal]
        signal = f"{tag}_task" if tag in ("entropy", "gini", "ffd") else tag
        out[name] = (Candidate(signal, d.settings.direction, "relative"), d.settings.threshold)
    return out


def rows(runs: Runs, name: str, c: Candidate, theta: float) -> list[dict]:
    out = []
    judged = runs.judged()
    for fam, part in [("all", judged)] + list(judged.groupby("family")):
        keys = list(part["key"])
        s = scores(runs, keys, c)  # read once for the numbers and the matched AUC
        res = judge(runs, keys, c, theta, s)
        ci = bootstrap(runs, keys, c, theta, n=400) if res["grokking"] and res["controls"] \
            else {}
        out.append({"detector": name, "family": fam, **res,
                    "auc_matched": auc_matched(runs, keys, c, s),
                    **{f"{k}_ci": f"{lo:.2f}-{hi:.2f}" for k, (lo, hi) in ci.items()}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table")
    ap.add_argument("chosen", help="OUT/chosen.json of scripts/fit_onset3.py")
    ap.add_argument("--out", default="out/onset3/eval")
    ap.add_argument("--doc", help="write the documentation's table (Markdown) here")
    ap.add_argument("--figure", help="draw the evaluation runs' scores (PNG) here")
    args = ap.parse_args()
    table = with_task_basis(pd.read_parquet(args.table))
    with open(args.chosen) as f:
        chosen = json.load(f)
    new = from_dict(chosen)
    ev = Runs.of(table[table["sweep"].str.startswith("eval_")])
    tune = Runs.of(table[table["sweep"].str.startswith("tune_")])
    os.makedirs(args.out, exist_ok=True)
    out = rows(ev, f"{chosen['name']} (third design)", new, chosen["threshold"])
    for name, (c, theta) in shipped_candidates().items():
        out += rows(ev, name, c, theta)
    judged = ev.judged()
    for fam, part in [("all", judged)] + list(judged.groupby("family")):
        out.append({"detector": "in-loop model", "family": fam,
                    **judge_flags(ev, list(part["key"]), "live_flag", "live_score")})
    pd.DataFrame(out).to_csv(os.path.join(args.out, "evaluation.csv"), index=False)
    fc = forecast(tune, ev, new, chosen["threshold"])
    with open(os.path.join(args.out, "forecast.json"), "w") as f:
        json.dump(fc, f, indent=1, default=float)
    print(pd.DataFrame(out)[["detector", "family", "grokking", "controls", "coverage",
                             "false_alarms", "lead_median", "auc",
                             "auc_matched"]].to_string(index=False))
    print(json.dumps(fc, indent=1, default=float))
    if args.doc:
        with open(args.doc, "w") as f:
            f.write(markdown(pd.DataFrame(out), fc, ev))
    if args.figure:
        default = default_detector().name
        shown = {f"{chosen['name']} (third design)": (new, chosen["threshold"]),
                 f"{default} (the default)": shipped_candidates()[default]}
        picture(ev, shown).savefig(args.figure, dpi=110)


def markdown(table: pd.DataFrame, fc: dict, ev: Runs) -> str:
    """The evaluation's table and the forecast's error, from their numbers."""
    def pct(x) -> str:
        return "–" if x != x else f"{100 * x:.0f} %"

    def num(x) -> str:
        return "–" if x != x else f"{x:.2f}"

    def ci(r, k) -> str:
        v = r.get(f"{k}_ci")
        return "" if not isinstance(v, str) else " (" + "–".join(
            pct(float(x)) if k in ("coverage", "false_alarms") else x for x in v.split("-")) + ")"

    makeup = ev.meta.groupby(["family", "class"]).size().unstack(fill_value=0)
    out = ["<!-- written by scripts/evaluate_onset3.py --doc; do not edit by hand -->", "",
           "**The evaluation runs** (family × label):", "",
           "| family | " + " | ".join(makeup.columns) + " |",
           "|---|" + "---|" * len(makeup.columns)]
    out += [f"| {fam} | " + " | ".join(str(int(v)) for v in row) + " |"
            for fam, row in makeup.iterrows()]
    out += ["", "**Each detector, judged once** (bootstrap 95 % intervals in brackets, runs "
            "resampled within the grokking runs and within the controls; the matched AUC reads "
            "each control from memorisation over the grokking runs' median delay only, as a "
            "grokking run is read up to test accuracy 0.5; not computed for the in-loop "
            "model, whose flags come from its own record):", "",
            "| detector | family | grokking flagged in time | controls flagged | median lead "
            "| ROC AUC | matched AUC |",
            "|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        out.append(f"| {r['detector']} | {r['family']} | {r['flagged']}/{r['grokking']} = "
                   f"{pct(r['coverage'])}{ci(r, 'coverage')} | {r['alarms']}/{r['controls']} = "
                   f"{pct(r['false_alarms'])}{ci(r, 'false_alarms')} | "
                   f"{num(r['lead_median'])}{ci(r, 'lead_median')} | "
                   f"{num(r['auc'])}{ci(r, 'auc')} | {num(r.get('auc_matched', np.nan))} |")
    new = table[table["detector"].str.endswith("(third design)")]
    out += ["", "**Against the targets** (per family: ≥ 90 % of grokking runs flagged in "
            "time, ≤ 5 % of controls flagged, median lead ≥ 0.30, ROC AUC above 0.93), the "
            "third design:", ""]
    for _, r in new.iterrows():
        if not r["grokking"]:
            out.append(f"- {r['family']}: not judged (no grokking run); false alarms "
                       f"{pct(r['false_alarms'])}")
            continue
        checks = {"coverage": r["coverage"] >= TARGETS["coverage"],
                  "false alarms": r["false_alarms"] <= TARGETS["false_alarms"],
                  "lead": r["lead_median"] >= TARGETS["lead_median"],
                  "AUC": r["auc"] > TARGETS["auc"]}
        met = [k for k, v in checks.items() if v]
        missed = [k for k, v in checks.items() if not v]
        out.append(f"- {r['family']}: " + ("every target met" if not missed else
                   f"met: {', '.join(met) or 'none'}; missed: {', '.join(missed)}"))
    if fc["evaluation_runs"]:
        q1, q3 = fc["error_q1_q3"]
        out += ["", f"**The forecast of the step of test accuracy 0.5**, at the chosen "
                f"detector's flag f (memorisation m): f + {fc['ratio']:.2f}·(f − m), the ratio "
                f"the median over {fc['tuning_runs']} tuning runs flagged in time. On the "
                f"{fc['evaluation_runs']} evaluation runs flagged in time its error "
                f"|predicted − actual| / delay has median {fc['median_error']:.2f} "
                f"(quartiles {q1:.2f}–{q3:.2f})."]
    return "\n".join(out) + "\n"


def picture(ev: Runs, shown: dict):
    """One panel per detector: each judged evaluation run's largest held score before test
    accuracy 0.5 (a control's: over its whole run), by family and label, and the threshold:
    a grokking run right of it is flagged in time, a control right of it is a false alarm."""
    import matplotlib
    import seaborn as sns
    from matplotlib.figure import Figure

    from grokscan.figures import RC

    judged = ev.judged()
    colours = sns.color_palette("colorblind")
    np.random.seed(0)  # the strips' jitter: the same picture from the same table
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(11, 3.6))
        axes = fig.subplots(1, len(shown), sharey=True, squeeze=False)[0]
        for ax, (name, (c, theta)) in zip(axes, shown.items()):
            best = scores(ev, list(judged["key"]), c).best_before
            finite = best[np.isfinite(best)]
            hi = max(3 * theta, 1.1 * float(finite.max()) if finite.size else 0.0)
            lo = -hi / 5  # a run with no score before test accuracy 0.5: at the left edge
            data = judged.assign(score=np.clip(np.where(np.isfinite(best), best, lo), lo, hi))
            sns.stripplot(data, x="score", y="family", hue="class", ax=ax, dodge=True, size=4,
                          jitter=0.25, palette={"grokking": colours[2], "control": colours[3]},
                          hue_order=["grokking", "control"], legend=ax is axes[0])
            ax.axvline(theta, color="0.2", ls="--", lw=1)
            ax.set(xlim=(lo - 0.04 * hi, hi * 1.02), ylabel="",
                   xlabel="largest score before test acc 0.5 (left edge: none)",
                   title=f"{name}: threshold {theta:.3g}")
        axes[0].legend(title="", loc="lower right")
        fig.tight_layout()
    return fig


def forecast(tune: Runs, ev: Runs, c: Candidate, theta: float) -> dict:
    """At the flag f (memorisation m), t50 forecast as f + r·(f − m), r the median over the
    tuning runs flagged in time of (t50 − f) / (f − m); its error on the evaluation runs
    flagged in time: |predicted − actual| / (actual − m)."""
    def pairs(runs: Runs):
        g = runs.judged()
        g = g[g["class"] == "grokking"]
        s = scores(runs, list(g["key"]), c)
        out = []
        for (_, r), f in zip(g.iterrows(), s.flags):
            step = flag_step(f, theta)
            if step is not None and step < r["t50"] and step > r["memorised"]:
                out.append((step, r["memorised"], r["t50"]))
        return out

    tr = pairs(tune)
    ratio = float(np.median([(t - f) / (f - m) for f, m, t in tr])) if tr else np.nan
    err = [abs(f + ratio * (f - m) - t) / (t - m) for f, m, t in pairs(ev)]
    return {"ratio": ratio, "tuning_runs": len(tr), "evaluation_runs": len(err),
            "median_error": float(np.median(err)) if err else np.nan,
            "error_q1_q3": [float(np.percentile(err, q)) for q in (25, 75)] if err else []}


if __name__ == "__main__":
    main()
