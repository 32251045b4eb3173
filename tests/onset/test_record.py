"""`grokscan analyze` records the onset detector's result in metrics.h5, and the report's
event markers read it."""

import h5py
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
        # the report marks the in-loop detector's flag where the run has its record
        live = m.onset_live()
        assert live is not None and event_markers(m)["onset"] == live["step"]
    with h5py.File(fast_run, "r") as f:  # analyze copied it from the run, as it was
        assert live["step"] == (None if f["onset/state"][1] < 0 else f["onset/state"][1])
        np.testing.assert_array_equal(live["score"], f["onset/score"][: len(live["score"])])


def test_no_fourier_family_no_onset(fast_run, tmp_path):
    res = analyze(fast_run, tmp_path, Options(families=("norms",), quiet=True))
    assert res["onset"] is None
    with MetricsFile(tmp_path) as m:
        assert m.get("metrics/onset/score") is None
        # the in-loop detector's flag, which needs no analysis family, is still marked
        assert event_markers(m)["onset"] == m.onset_live()["step"]


def test_info_shows_the_onset_of_the_analysis(fast_run, tmp_path):
    """`grokscan info` reads the flag analyze recorded (from --metrics, or a metrics.h5 beside
    the run), with the lead computed from the run's own test accuracy."""
    import shutil

    from click.testing import CliRunner

    from grokscan.cli import main
    from grokscan.info import describe

    run = tmp_path / "run.h5"
    shutil.copy(fast_run, run)
    assert describe(run)["onset"] is None  # not analysed yet
    analyze(run, tmp_path / "out", Options(families=("fourier", "norms"), quiet=True))
    with MetricsFile(tmp_path / "out") as m:
        step, mem = m.attr("metrics/onset", "step"), m.attr("metrics/onset", "memorisation")
        t50 = first_crossing(m.run_steps, m.run_scalars["test_acc"], 0.5)
    o = describe(run, tmp_path / "out" / "metrics.h5")["onset"]
    assert (o["step"], o["memorisation"], o["test_0_5"]) == (step, mem, t50)
    assert o["lead_steps"] == t50 - step and o["lead_fraction"] == (t50 - step) / (t50 - mem)
    shutil.copy(tmp_path / "out" / "metrics.h5", tmp_path / "metrics.h5")  # beside the run
    out = CliRunner().invoke(main, ["info", str(run)])
    assert out.exit_code == 0
    assert f"onset    flagged at step {step}" in out.output
    assert f"test accuracy 0.5 at step {t50}, {t50 - step} steps later" in out.output


def test_info_refuses_the_analysis_of_another_run(fast_run, tmp_path):
    from click.testing import CliRunner
    from conftest import fast_config

    from grokscan.cli import main
    from grokscan.train import train

    analyze(fast_run, tmp_path / "out", Options(families=("norms",), quiet=True))
    other = tmp_path / "other.h5"
    train(fast_config(steps=100, seed=5), other, quiet=True)
    out = CliRunner().invoke(main, ["info", str(other), "--metrics", str(tmp_path / "out")])
    assert out.exit_code == 1 and "analysed another run" in out.output
    assert "Traceback" not in out.output
    # analysed without the fourier family: the line says the onset was not computed
    out = CliRunner().invoke(main, ["info", str(fast_run), "--metrics", str(tmp_path / "out")])
    assert out.exit_code == 0 and "onset    not computed" in out.output


def test_the_report_states_the_lead(fast_run, tmp_path):
    from grokscan.report.base import event_markers
    from grokscan.report.page import _facts, summary

    analyze(fast_run, tmp_path, Options(families=("fourier", "norms"), quiet=True))
    with MetricsFile(tmp_path) as m:
        live = m.onset_live()  # the report states the in-loop detector's flag
        step = live["step"]  # and its lead from the first checkpoint at train accuracy 0.99
        mem = first_crossing(m.run_steps, m.run_scalars["train_acc"], 0.99)
        t50 = first_crossing(m.run_steps, m.run_scalars["test_acc"], 0.5)
        facts = _facts(m, summary(m, event_markers(m)))
    line = next(f for f in facts if f.startswith("grokking onset"))
    assert line.startswith("grokking onset (the in-loop detector's flag)")
    assert f"step {step}; test accuracy 0.5 at step {t50}, {t50 - step} steps later" in line
    assert f"({(t50 - step) / (t50 - mem):.0%} of the delay" in line


def test_info_ignores_an_unreadable_metrics_file_beside_the_run(fast_run, tmp_path):
    import shutil

    from click.testing import CliRunner

    from grokscan.cli import main
    from grokscan.info import describe

    run = tmp_path / "run.h5"
    shutil.copy(fast_run, run)
    (tmp_path / "metrics.h5").write_bytes(b"not hdf5")
    assert describe(run)["onset"] is None
    out = CliRunner().invoke(main, ["info", str(run), "--metrics", str(tmp_path)])
    assert out.exit_code == 1 and "Traceback" not in out.output  # named: its error is shown
