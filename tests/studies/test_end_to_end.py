"""The detector on real runs of the fast recipe (docs/tutorials/first-run.md): the flag comes before
test accuracy 0.5; with weight decay 0 (no grokking) there is no flag."""

import os

import pytest

from grokscan.analysis import Options, analyze
from grokscan.config import resolve
from grokscan.store.metrics import MetricsFile
from grokscan.studies.onset import DETECTORS, MAIN, RunInputs, judge
from grokscan.training import train

RECIPE = {"p": 41, "frac": 0.5, "d_embed": 32, "width": 128, "lr": 1e-2, "steps": 2000,
          "every": 20, "stop_when_grokked": 200, "seed": 0}


def _inputs(tmp_path, wd: float) -> RunInputs:
    path = os.path.join(tmp_path, f"wd{wd}.h5")
    train(resolve({**RECIPE, "wd": wd}), path, quiet=True)
    out = os.path.join(tmp_path, f"wd{wd}")
    analyze(path, out, Options(families=("fourier", "norms"), quiet=True))
    with MetricsFile(out) as m:
        series = {"train_acc": m.scalars["train_acc"],
                  **{f"fourier/{k}": m.get(f"metrics/fourier/{k}")
                     for k in ("gini_embed", "entropy_embed", "ffd_embed")}}
        return RunInputs(f"wd{wd}", m.steps, series, m.scalars["test_acc"])


@pytest.mark.slow
def test_flag_before_test_half_and_none_without_weight_decay(tmp_path):
    row = judge(_inputs(tmp_path, 1.0), DETECTORS[MAIN])
    assert row["class"] == "grokking" and row["in_time"], row
    assert row["step_memorised"] < row["flag"] < row["step_test_0.5"]
    row = judge(_inputs(tmp_path, 0.0), DETECTORS[MAIN])
    assert row["class"] == "control" and row["flag"] is None, row
