"""The forecast as every command shows it: `grokscan analyze` records the default detector in
metrics.h5, `train`, `info` and the report show the same flag, named, with what it measured on
held-out runs; no figure but the forecast's draws a flag."""

import numpy as np
import pytest

from grokscan.analysis import Options, analyze
from grokscan.onset import detect
from grokscan.onset.shipped import LIVE, default, detectors
from grokscan.reporting.base import event_markers, forecasts
from grokscan.store.metrics import MetricsFile, MetricsWriter
from grokscan.summary import first_crossing

DEFAULT = default()


def test_analyze_records_the_default_detector(fast_run, tmp_path):
    res = analyze(fast_run, tmp_path, Options(families=("fourier", "norms"), quiet=True))
    s = DEFAULT.settings
    with MetricsFile(tmp_path) as m:
        rec = m.onset()
        assert rec["detector"] == DEFAULT.name and rec["settings"] == s.__dict__
        assert f"{s.signal.split('/')[-1]} {s.direction}" in rec["reason"]
        # the same as the detector run on the file's own series (an independent path)
        want = detect(m.steps, {"train_acc": m.scalars["train_acc"],
                                s.signal: m.get(f"metrics/{s.signal}")}, s)
        np.testing.assert_array_equal(rec["score"], want.score)
        assert rec["step"] == want.step == res["onset"]
        # the fast recipe groks: the flag is after memorisation, before test accuracy 0.5
        mem = first_crossing(m.steps, m.scalars["train_acc"], 0.99)
        assert mem < rec["step"] < first_crossing(m.steps, m.scalars["test_acc"], 0.5)
        # a flag is a forecast, not an event: no figure against step is marked with it
        assert set(event_markers(m)) == {"memorisation", "grokking", "plateau_end",
                                         "transition"}
        fc = forecasts(m)
        assert fc["shown"] == "checkpoint" and fc["checkpoint"]["detector"] is DEFAULT
        assert fc["live"]["detector"] is detectors()[LIVE]


def test_the_forecast_needs_no_family_and_reads_every_checkpoint(fast_run, tmp_path):
    """The forecast is computed from the weights of every checkpoint of the run, whatever
    families and checkpoints are analysed: the flag is the same with the norms alone on every
    fifth checkpoint as with the Fourier family on all of them."""
    full = analyze(fast_run, tmp_path / "a", Options(families=("fourier", "norms"),
                                                     quiet=True))
    res = analyze(fast_run, tmp_path / "b", Options(families=("norms",), every=5, quiet=True))
    assert res["onset"] == full["onset"] is not None
    with MetricsFile(tmp_path / "b") as m:
        assert m.onset()["score"].shape == m.steps.shape
        fc = forecasts(m)
        assert fc["shown"] == "checkpoint" and fc["live"] is not None


def test_info_train_and_the_report_show_the_same_flag(fast_run, tmp_path):
    """`info` computes the forecast from the run file alone; it equals analyze's, and the
    report states it with the detector's name and held-out numbers."""
    from click.testing import CliRunner

    from grokscan.cli import main
    from grokscan.info import describe
    from grokscan.reporting.page import _facts, summary

    analyze(fast_run, tmp_path, Options(families=("fourier", "norms"), quiet=True))
    with MetricsFile(tmp_path) as m:
        step, mem = m.onset()["step"], first_crossing(m.run_steps, m.run_scalars["train_acc"],
                                                      0.99)
        t50 = first_crossing(m.run_steps, m.run_scalars["test_acc"], 0.5)
        facts = _facts(m, summary(m, event_markers(m)))
    o = describe(fast_run)["forecast"]
    assert (o["detector"], o["step"], o["test_0_5"]) == (DEFAULT.name, step, t50)
    assert o["lead_steps"] == t50 - step and o["lead_fraction"] == (t50 - step) / (t50 - mem)
    h = DEFAULT.held_out
    assert o["held_out"]["coverage"] == h.flagged / h.grokking
    out = CliRunner().invoke(main, ["info", str(fast_run)])
    assert out.exit_code == 0
    assert f"{DEFAULT.label}: flagged at step {step}" in out.output
    assert DEFAULT.reliability() in out.output
    assert f"test accuracy 0.5 at step {t50}, {t50 - step} steps later" in out.output
    live = describe(fast_run)["onset_live"]  # the in-loop model: named, not the forecast
    assert f"{LIVE} (experimental; not the default forecast)" in out.output
    assert live["detector"] == LIVE and not live["default"]
    line = next(f for f in facts if f.startswith(DEFAULT.label))
    assert f"flagged at step {step}; test accuracy 0.5 at step {t50}, {t50 - step} " \
           "steps later" in line
    assert DEFAULT.reliability() in line


def test_train_says_the_flag_with_its_record(tmp_path):
    """The line `train` prints when the forecast fires names the detector, its flag (the one
    info computes from the file) and its held-out numbers."""
    from click.testing import CliRunner

    from grokscan.cli import main
    from grokscan.info import describe

    path = tmp_path / "run.h5"
    out = CliRunner().invoke(main, ["train", "-o", str(path), "--p", "41", "--frac", "0.5",
                                    "--d-embed", "32", "--width", "128", "--steps", "400",
                                    "--every", "10", "--threads", "1"])
    assert out.exit_code == 0, out.output
    step = describe(path)["forecast"]["step"]
    assert step is not None
    assert f"{DEFAULT.label}: flagged at step {step}" in out.output
    assert DEFAULT.reliability() in out.output
    assert "onset flagged" not in out.output  # the in-loop model is not the forecast


STEPS = np.arange(0, 1000, 20)


def _constructed(out, *, generalises: bool):
    """A metrics file whose default detector flags at a known step (its signal falls 10 %
    at step 300, memorisation at 100), and whose test accuracy rises or stays at chance."""
    s = DEFAULT.settings
    train_acc = np.where(STEPS >= 100, 1.0, 0.3)
    test_acc = np.where(STEPS >= 700, 0.95, 0.02) if generalises else np.full(len(STEPS), 0.02)
    signal = np.where(STEPS >= 300, 0.9, 1.0)
    score = detect(STEPS, {"train_acc": train_acc, s.signal: signal}, s)
    scalars = {"train_acc": train_acc, "test_acc": test_acc}
    with MetricsWriter(out / "metrics.h5", attrs={"families": ["fourier"], "p": 41},
                       steps=STEPS, scalars=scalars, run_steps=STEPS, run_scalars=scalars,
                       samples={}, groups={}) as w:
        w.write({s.signal: signal}, len(STEPS))
        w.put("onset/score", score.score, {"step": score.step, "reason": score.reason,
                                           "memorisation": score.memorisation,
                                           "detector": DEFAULT.name, "settings": s.to_json()})
    return score.step


@pytest.mark.parametrize("generalises", [True, False])
def test_the_forecast_caption_says_what_followed_the_flag(tmp_path, generalises):
    from grokscan.reporting.model import _forecast_caption

    step = _constructed(tmp_path, generalises=generalises)
    assert step is not None and 300 <= step < 700
    with MetricsFile(tmp_path) as m:
        caption = _forecast_caption(m, event_markers(m), forecasts(m))
    assert DEFAULT.reliability() in caption and "default forecast" in caption
    followed = f"in this run it flagged at step {step}; test accuracy 0.5 at step 700"
    not_followed = "the flag was not followed by generalisation within this run"
    assert (followed in caption) == generalises
    assert (not_followed in caption) == (not generalises)
