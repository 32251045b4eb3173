"""The forecast made at a checkpoint detector's flag: the step at which test accuracy will
reach 0.5. At the flag f of a run that memorised at step m it is f + r·(f − m), r the median of
(t50 − f) / (f − m) over the TUNING runs the detector flagged in time; its error, measured on
HELD-OUT runs flagged in time, is the median of |forecast − t50| / (t50 − m), the fraction of
the delay from memorisation. A detector ships a forecast only where that error is below the
error of the flag itself read as the forecast (r = 0), its null.

    grokscan onset evaluate out/onset3/tune_mlp out/onset3/tune_tf out/onset3/tune_multi \\
        -o out/t50/tune
    grokscan onset evaluate out/onset2/eval_{mlp,tf,multi} out/onset3/eval_{mlp,tf,multi} \\
        -o out/held_out
    python scripts/fit_t50.py out/t50/tune/onset.csv out/held_out/onset.csv [--write]

Prints, per checkpoint detector, r, the runs it was fitted and measured on, the error and its
null's; ``--write`` puts r (``t50_ratio``) and the error (``held_out.forecast_error``) into
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


def fit(tune: pd.DataFrame, held: pd.DataFrame, detector: str) -> dict | None:
    """The ratio, its error and its null's for one detector; None where no tuning run was
    flagged in time."""
    f, m, t = flagged_in_time(tune, detector)
    if not len(f):
        return None
    ratio = round(float(np.median((t - f) / (f - m))), 2)  # as it ships, and is measured
    f, m, t = flagged_in_time(held, detector)
    err = np.abs(f + ratio * (f - m) - t) / (t - m)
    null = np.abs(f - t) / (t - m)
    return {"ratio": ratio, "tuning_runs": int(len(flagged_in_time(tune, detector)[0])),
            "held_out_runs": int(len(f)),
            "error": float(np.median(err)) if len(f) else float("nan"),
            "null_error": float(np.median(null)) if len(f) else float("nan")}


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
        ships = r is not None and r["error"] < r["null_error"]
        if r is None:
            print(f"{det['name']}: no tuning run flagged in time; no forecast")
        else:
            print(f"{det['name']}: r = {r['ratio']:.2f} (over {r['tuning_runs']} tuning runs); "
                  f"on {r['held_out_runs']} held-out runs the median error is "
                  f"{r['error']:.2f} of the delay, the flag's own {r['null_error']:.2f}: "
                  + ("ships" if ships else "no forecast"))
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
