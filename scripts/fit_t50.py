"""The forecast made at a checkpoint detector's flag: the step at which test accuracy will
reach 0.5. At the flag f of a run that memorised at step m it is f + r·(f − m), r the median of
(t50 − f) / (f − m) over the TUNING runs the detector flagged in time; its error, measured on
HELD-OUT runs flagged in time, is the median of |forecast − t50| / (t50 − m), the fraction of
the delay from memorisation. A detector ships a forecast only where, on the tuning runs, it
beats the flag itself read as the forecast (r = 0), its null: the median error of r fitted
on all the other tuning runs (leave one out) below the null's. The held-out runs only measure
it.

    grokscan onset evaluate out/onset3/tune_mlp out/onset3/tune_tf out/onset3/tune_multi \\
        -o out/t50/tune
    grokscan onset evaluate out/onset2/eval_{mlp,tf,multi} out/onset3/eval_{mlp,tf,multi} \\
        -o out/held_out
    python scripts/fit_t50.py out/t50/tune/onset.csv out/held_out/onset.csv [--write]

Prints, per checkpoint detector, r, the runs it was fitted and measured on, the errors and
their nulls'; ``--write`` puts r (``t50_ratio``) and the error (``held_out.forecast_error``) into
grokscan/onset/detectors.json (``--detectors``: another file), and takes them out of a detector
whose forecast does not beat its null.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def flagged_in_time(judged: pd.DataFrame, detector: str) -> tuple:
    """(f, m, t50) of the grokking runs of ``judged`` (an onset.csv of ``grokscan onset
    evaluate``) that ``detector`` flagged before test accuracy 0.5."""
    d = judged[(judged["detector"] == detector) & (judged["class"] == "grokking")
               & judged["in_time"].astype(bool)]
    return (d["flag"].to_numpy(float), d["step_memorised"].to_numpy(float),
            d["step_test_0.5"].to_numpy(float))


def error(f, m, t, ratio) -> np.ndarray:
    """|f + ratio·(f − m) − t50| / (t50 − m) per run: the forecast's error as a fraction of
    the delay from memorisation (ratio 0: the flag itself read as the forecast)."""
    return np.abs(f + ratio * (f - m) - t) / (t - m)


def fit(tune: pd.DataFrame, held: pd.DataFrame, detector: str) -> dict | None:
    """The ratio for one detector; on the tuning runs its leave-one-out error and its null's
    (which decide whether it ships), on the held-out runs its error and its null's; None
    where fewer than two tuning runs were flagged in time."""
    f, m, t = flagged_in_time(tune, detector)
    if len(f) < 2:
        return None
    x = (t - f) / (f - m)
    loo = np.array([np.median(np.delete(x, i)) for i in range(len(x))])
    ratio = round(float(np.median(x)), 2)  # as it ships, and is measured
    out = {"ratio": ratio, "tuning_runs": int(len(f)),
           "tuning_error": float(np.median(error(f, m, t, loo))),
           "tuning_null": float(np.median(error(f, m, t, 0.0)))}
    f, m, t = flagged_in_time(held, detector)
    some = len(f) > 0
    return {**out, "held_out_runs": int(len(f)),
            "error": float(np.median(error(f, m, t, ratio))) if some else float("nan"),
            "null_error": float(np.median(error(f, m, t, 0.0))) if some else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tuning", help="onset.csv of the tuning runs")
    ap.add_argument("held_out", help="onset.csv of the held-out runs")
    ap.add_argument("--write", action="store_true", help="update the detectors file")
    ap.add_argument("--detectors", default=os.path.join(ROOT, "grokscan", "onset",
                                                        "detectors.json"))
    args = ap.parse_args()
    tune, held = pd.read_csv(args.tuning), pd.read_csv(args.held_out)
    with open(args.detectors) as f:
        doc = json.load(f)
    for det in doc["detectors"]:
        r = fit(tune, held, det["name"])
        ships = r is not None and r["tuning_error"] < r["tuning_null"]
        if r is None:
            print(f"{det['name']}: fewer than two tuning runs flagged in time; no forecast")
        else:
            print(f"{det['name']}: r = {r['ratio']:.2f} over {r['tuning_runs']} tuning runs "
                  f"(left out, median error {r['tuning_error']:.2f} of the delay, the flag's "
                  f"own {r['tuning_null']:.2f}: {'ships' if ships else 'no forecast'}); on "
                  f"{r['held_out_runs']} held-out runs {r['error']:.2f}, the flag's own "
                  f"{r['null_error']:.2f}")
        det.pop("t50_ratio", None)
        det.get("held_out", {}).pop("forecast_error", None)
        if ships:
            det["t50_ratio"] = r["ratio"]
            det["held_out"]["forecast_error"] = round(r["error"], 2)
    if args.write:
        with open(args.detectors, "w") as f:
            f.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
