"""`grokscan analyze` records the onset detector's result in metrics.h5, and the report's
event markers read it."""

import numpy as np

from grokscan.analysis import Options, analyze
from grokscan.onset import OnsetSettings, detect
from grokscan.report.base import event_markers
from grokscan.store.metrics import MetricsFile
from grokscan.summary import first_crossing


def test_analyze_records_the_onset_and_the_report_marks_it(fast_run, tmp_path):
    res = analyze(fast_run, tmp_path, Options(families=("fourier", "norms"), quiet=True))
    with MetricsFile(tmp_path) as m:
        score = m.get("metrics/onset/score")
        step = m.attr("metrics/onset", "step")
        assert m.attr("metrics/onset", "settings") == OnsetSettings().__dict__
        assert "gini_embed rise" in m.attr("metrics/onset", "reason")
        # the same as the detector run on the file's own series (an independent path)
        want = detect(m.steps, {"train_acc": m.scalars["train_acc"],
                                "fourier/gini_embed": m.get("metrics/fourier/gini_embed")})
        np.testing.assert_array_equal(score, want.score)
        assert step == want.step == res["onset"]
        # the fast recipe groks: the flag is after memorisation, before test accuracy 0.5
        mem = first_crossing(m.steps, m.scalars["train_acc"], 0.99)
        assert mem < step < first_crossing(m.steps, m.scalars["test_acc"], 0.5)
        assert event_markers(m)["onset"] == step


def test_no_fourier_family_no_onset(fast_run, tmp_path):
    res = analyze(fast_run, tmp_path, Options(families=("norms",), quiet=True))
    assert res["onset"] is None
    with MetricsFile(tmp_path) as m:
        assert m.get("metrics/onset/score") is None and event_markers(m)["onset"] is None
