"""The onset detector's third design, chosen by how it transfers: every candidate signal of the
onset corpus's TUNING runs (scripts/grids/onset3/tune_*.toml; the evaluation runs are never
read here) scored by leave-one-group-out (grokscan/studies/transfer.py), the best by its worst
group kept, its threshold set on all the tuning runs, and written beside the tables:

    python scripts/fit_onset3.py data/onset_corpus.parquet --out out/onset3/fit

OUT/signals.csv: per candidate and model family, the run-level ROC AUC and the coverage and
median lead at the threshold of 5 % false alarms (pooled over the tuning runs);
OUT/transfer.csv: per candidate and group left out, the threshold chosen on the others and what
it did on that group; OUT/chosen.json: the chosen candidate, its threshold and its tuning
numbers (scripts/evaluate_onset3.py judges it once on the evaluation runs).
"""

from __future__ import annotations

import argparse
import json
import os

import pandas as pd

from grokscan.studies import SIGNALS, Runs, candidates, judge, leave_one_group_out, threshold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table", help="the corpus table (data/onset_corpus.parquet)")
    ap.add_argument("--out", default="out/onset3/fit")
    args = ap.parse_args()
    table = pd.read_parquet(args.table)
    tune = table[table["sweep"].str.startswith("tune_")]  # the evaluation runs stay unread
    runs = Runs.of(tune)
    os.makedirs(args.out, exist_ok=True)
    print(runs.meta.groupby(["family", "class"]).size().unstack(fill_value=0))
    cands = candidates(SIGNALS)
    per_signal, per_group, worst = [], [], {}
    for c in cands:
        for fam, part in [("all", runs.judged())] + list(runs.judged().groupby("family")):
            keys = list(part["key"])
            res = judge(runs, keys, c, threshold(runs, keys, c))
            per_signal.append({"candidate": c.name, "family": fam, **res})
        t = leave_one_group_out(runs, c)
        worst[c.name] = t["worst"]
        per_group += [{"candidate": c.name, **g} for g in t["groups"]]
    pd.DataFrame(per_signal).to_csv(os.path.join(args.out, "signals.csv"), index=False)
    groups = pd.DataFrame(per_group)
    groups.to_csv(os.path.join(args.out, "transfer.csv"), index=False)
    best = max(cands, key=lambda c: worst[c.name])
    keys = list(runs.judged()["key"])
    theta = threshold(runs, keys, best)
    chosen = {"signal": best.signal, "direction": best.direction, "change": best.change,
              "threshold": theta, "name": best.name, "worst_group": worst[best.name],
              "tuning": judge(runs, keys, best, theta),
              "tuning_runs": runs.meta["class"].value_counts().to_dict()}
    with open(os.path.join(args.out, "chosen.json"), "w") as f:
        json.dump(chosen, f, indent=1, default=float)
    ranked = sorted(worst.items(), key=lambda kv: -kv[1])[:10]
    print("\nworst-group coverage − false alarms, the best ten:")
    for name, w in ranked:
        print(f"  {name:28s} {w:+.2f}")
    print(f"\nchosen: {best.name}, threshold {theta:.4g}; on all tuning runs: "
          f"{json.dumps(chosen['tuning'], default=float)}")


if __name__ == "__main__":
    main()
