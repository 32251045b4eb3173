"""scripts/fit_t50.py on constructed judgements whose forecasts are known exactly."""

import json
import os
import subprocess
import sys

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def judged(rows) -> pd.DataFrame:
    """An onset.csv of ``grokscan onset evaluate``: (detector, class, m, t50, flag, in time)."""
    return pd.DataFrame([{"detector": d, "class": c, "step_memorised": m, "step_test_0.5": t,
                          "flag": f, "in_time": i} for d, c, m, t, f, i in rows])


def test_the_ratio_its_error_and_the_null_it_must_beat(tmp_path):
    # "exact": t50 = f + 2 (f − m) in every run, tuning and held out: r = 2, error 0, while
    # the flag itself as the forecast is off by 2/3 of the delay
    # "late": the same tuning runs, but on the held-out runs t50 = f + 1: it ships (the tuning
    # runs decide), and its error is the held-out one, large
    # "noisy": (t50 − f)/(f − m) is 0 in three tuning runs and 10 in two: r = 0 fitted on all,
    # but left out each of the three gets r = 5 (error 5) — worse than the flag alone
    # "never": no tuning run flagged in time (one flagged late, one control)
    tune, held = [], []
    for m, f in ((100, 200), (50, 80), (300, 310)):
        tune.append(("exact", "grokking", m, f + 2 * (f - m), f, True))
        tune.append(("late", "grokking", m, f + 2 * (f - m), f, True))
        tune.append(("noisy", "grokking", m, f, f, True))
        held.append(("exact", "grokking", m + 7, f + 7 + 2 * (f - m), f + 7, True))
        held.append(("late", "grokking", m, f + 1, f, True))
        held.append(("noisy", "grokking", m, f + 10, f, True))
    tune += [("noisy", "grokking", 0, 110, 10, True), ("noisy", "grokking", 0, 220, 20, True)]
    tune += [("never", "grokking", 100, 150, 200, False), ("never", "control", 100, None, 120,
                                                           False)]
    held += [("exact", "control", 100, None, 130, False),  # a false alarm: not a forecast
             ("exact", "grokking", 100, 400, None, False)]  # missed: not a forecast
    judged(tune).to_csv(tmp_path / "tune.csv", index=False)
    judged(held).to_csv(tmp_path / "held.csv", index=False)
    dets = {"format": "grokscan-onset-detectors", "version": 1, "detectors": [
        {"name": n, "held_out": {"auc": 0.5, "forecast_error": 0.1}, "t50_ratio": 9.0}
        for n in ("exact", "late", "noisy", "never")]}
    path = tmp_path / "detectors.json"
    path.write_text(json.dumps(dets))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "fit_t50.py"),
                          str(tmp_path / "tune.csv"), str(tmp_path / "held.csv"), "--write",
                          "--detectors", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    got = {d["name"]: d for d in json.loads(path.read_text())["detectors"]}
    assert got["exact"]["t50_ratio"] == 2.0 and got["exact"]["held_out"]["forecast_error"] == 0
    assert "the flag's own 0.67: ships" in out.stdout
    # held out: |2 (f − m) − 1| / (f − m + 1) = 1.97, 1.90, 1.73
    assert got["late"]["t50_ratio"] == 2.0 and got["late"]["held_out"]["forecast_error"] == 1.9
    for name in ("noisy", "never"):  # no forecast: worse than the flag alone, or no fit
        assert "t50_ratio" not in got[name] and "forecast_error" not in got[name]["held_out"]
    assert "median error 5.00 of the delay, the flag's own 0.00: no forecast" in out.stdout
    assert got["noisy"]["held_out"]["auc"] == 0.5  # the rest of the record is kept
