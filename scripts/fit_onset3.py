"""The onset detector's third design, chosen by how it transfers: every candidate of the onset
corpus's TUNING runs (scripts/grids/onset3/tune_*.toml; the evaluation runs are never read
here) — each signal alone, each as a rule with the softmax-collapse veto, and a small logistic
model over eleven signals — scored by leave-one-group-out (grokscan/studies/transfer.py), the
best by its worst group kept, its threshold set on all the tuning runs, and written beside the
tables:

    python scripts/fit_onset3.py data/onset_corpus.parquet --out out/onset3/fit \\
        [--doc docs/results/onset3_tables.md]

OUT/signals.csv: per candidate and model family, the run-level ROC AUC and the coverage and
median lead at the threshold of 5 % false alarms (on the tuning runs; the model fitted on all
of them, so its row is in-sample but for its threshold, read off out-of-fold scores);
OUT/transfer.csv: per candidate and group left out, the threshold chosen (and the model fitted)
on the others and what it did on that group; OUT/chosen.json: the chosen candidate, its
threshold and its tuning numbers (scripts/evaluate_onset3.py judges it once on the evaluation
runs). ``--doc`` writes the documentation's tables (the corpus's make-up, the signals, the
transfer) as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings

import pandas as pd

from grokscan.studies import (
    SIGNALS,
    Logistic,
    Runs,
    candidates,
    choose,
    judge,
    leave_one_group_out,
    to_dict,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table", help="the corpus table (data/onset_corpus.parquet)")
    ap.add_argument("--out", default="out/onset3/fit")
    ap.add_argument("--doc", help="write the documentation's tables (Markdown) here")
    args = ap.parse_args()
    # a series' windows that hold no finite value (before memorisation, a vetoed stretch)
    warnings.filterwarnings("ignore", message="(All-NaN slice|Mean of empty slice)",
                            category=RuntimeWarning)
    table = pd.read_parquet(args.table)
    tune = table[table["sweep"].str.startswith("tune_")]  # the evaluation runs stay unread
    runs = Runs.of(tune)
    os.makedirs(args.out, exist_ok=True)
    makeup = runs.meta.groupby(["family", "class"]).size().unstack(fill_value=0)
    print(makeup)
    cands = candidates(SIGNALS, rules=True) + [Logistic()]
    per_signal, per_group, worst = [], [], {}
    judged = runs.judged()
    for c in cands:
        pooled = choose(runs, list(judged["key"]), c)
        for fam, part in [("all", judged)] + list(judged.groupby("family")):
            keys = list(part["key"])
            try:
                fitted, theta = choose(runs, keys, c)
            except ValueError:  # a family without both classes: the model fitted on all
                fitted, theta = pooled
            res = judge(runs, keys, fitted, theta)
            per_signal.append({"candidate": c.name, "family": fam, **res})
        t = leave_one_group_out(runs, c)
        worst[c.name] = t["worst"]
        per_group += [{"candidate": c.name, **g} for g in t["groups"]]
    signals = pd.DataFrame(per_signal)
    signals.to_csv(os.path.join(args.out, "signals.csv"), index=False)
    groups = pd.DataFrame(per_group)
    groups.to_csv(os.path.join(args.out, "transfer.csv"), index=False)
    best = max(cands, key=lambda c: worst[c.name])
    keys = list(judged["key"])
    fitted, theta = choose(runs, keys, best)
    chosen = {"name": best.name, **to_dict(fitted), "threshold": theta,
              "worst_group": worst[best.name], "tuning": judge(runs, keys, fitted, theta),
              "tuning_runs": runs.meta["class"].value_counts().to_dict()}
    with open(os.path.join(args.out, "chosen.json"), "w") as f:
        json.dump(chosen, f, indent=1, default=float)
    ranked = sorted(worst.items(), key=lambda kv: -kv[1])[:10]
    print("\nworst-group coverage − false alarms, the best ten:")
    for name, w in ranked:
        print(f"  {name:40s} {w:+.2f}")
    print(f"\nchosen: {best.name}, threshold {theta:.4g}; on all tuning runs: "
          f"{json.dumps(chosen['tuning'], default=float)}")
    if args.doc:
        with open(args.doc, "w") as f:
            f.write(markdown(makeup, signals, groups, worst, chosen))


def pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.0f} %"


def num(x: float) -> str:
    return "–" if x != x else f"{x:.2f}"


def markdown(makeup, signals, groups, worst: dict, chosen: dict) -> str:
    """The tables of docs/results/onset.md's third design, from the fit's numbers."""
    out = ["<!-- written by scripts/fit_onset3.py --doc; do not edit by hand -->", "",
           "**The tuning runs** (family × label, grokscan/onset/labels.py):", "",
           "| family | " + " | ".join(makeup.columns) + " |",
           "|---|" + "---|" * len(makeup.columns)]
    out += [f"| {fam} | " + " | ".join(str(int(v)) for v in row) + " |"
            for fam, row in makeup.iterrows()]
    ranked = sorted(worst, key=lambda k: -worst[k])
    out += ["", "**Transfer** (the fifteen candidates with the best worst group; leave one "
            "group out: the threshold set, and the model fitted, on the other groups; a "
            "group is a model family, an operation family or a range of moduli, judged when "
            "it and the other groups together each hold at least 3 grokking runs and 3 "
            "controls):", "",
            "| candidate | worst group: coverage − false alarms | that group | its coverage "
            "| its false alarms |", "|---|---|---|---|---|"]
    for name in ranked[:15]:
        g = groups[groups["candidate"] == name]
        if not len(g):
            continue
        w = g.assign(d=g["coverage"] - g["false_alarms"]).sort_values("d").iloc[0]
        out.append(f"| {name} | {worst[name]:+.2f} | {w['grouping']}: {w['group']} | "
                   f"{pct(w['coverage'])} | {pct(w['false_alarms'])} |")
    fams = [f for f in signals["family"].unique()]
    pooled = signals[signals["family"] == "all"].set_index("candidate")
    alone = [n for n in pooled.index if "unless" not in n and not n.startswith("logistic")]
    by_signal: dict = {}
    for n in alone:  # each signal in its direction of the higher ROC AUC
        sig = n.split(" ")[0]
        if sig not in by_signal or pooled.loc[n, "auc"] > pooled.loc[by_signal[sig], "auc"]:
            by_signal[sig] = n
    rows = sorted(by_signal.values(), key=lambda n: -pooled.loc[n, "auc"])
    rows += [n for n in pooled.index if n.startswith("logistic")]
    out += ["", "**Each signal on all the tuning runs** (in its direction of the higher ROC "
            "AUC; ROC AUC from each run's highest score before test accuracy 0.5; coverage "
            "and median lead at the threshold of 5 % false alarms; the model's row is "
            "in-sample, its threshold out of fold):", "",
            "| candidate | " + " | ".join(f"{f}: AUC, coverage, lead" for f in fams) + " |",
            "|---|" + "---|" * len(fams)]
    for name in rows:
        cells = []
        for f in fams:
            r = signals[(signals["candidate"] == name) & (signals["family"] == f)]
            r = r.iloc[0] if len(r) else None
            cells.append("–" if r is None else
                         f"{num(r['auc'])}, {pct(r['coverage'])}, {num(r['lead_median'])}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    t = chosen["tuning"]
    out += ["", f"**Chosen** (the best worst group): {chosen['name']}, threshold "
            f"{chosen['threshold']:.4g}: on all the tuning runs it flags "
            f"{t['flagged']}/{t['grokking']} grokking runs in time ({pct(t['coverage'])}) and "
            f"{t['alarms']}/{t['controls']} controls ({pct(t['false_alarms'])}), median lead "
            f"{t['lead_median']:.2f}, ROC AUC {t['auc']:.2f}.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    main()
