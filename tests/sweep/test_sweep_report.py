"""The sweep report on constructed summaries whose phases are known: two axes, one axis, only
seeds, failed runs; the cells' numbers against the rows they were made from."""

import base64
import html
import io
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from grokscan.cli import main
from grokscan.reporting.sweep import render
from grokscan.sweep import stats, synthetic, table


def omnigrok(params):
    """The shape of Liu et al.'s diagram: no weight decay memorises, a small train fraction
    confuses, the rest groks, and comprehends at the largest fraction."""
    if params["frac"] <= 0.2:
        return "confusion"
    if params["wd"] == 0:
        return "memorisation"
    return "comprehension" if params["frac"] >= 0.7 else "grokking"


AXES = {"wd": [0.0, 0.3, 1.0], "frac": [0.2, 0.5, 0.7]}


def images(page: str) -> list:
    out = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            out.append(im.size)
    return out


def test_the_diagram_cells_are_the_phases_and_means_of_their_rows(tmp_path):
    designed = synthetic.make(tmp_path, AXES, 3, omnigrok)
    df = table.read(tmp_path)
    assert df.set_index("run")["phase"].to_dict() == designed  # phase() gives the design
    d = stats.diagram(df, "wd", "frac")
    for i, frac in enumerate(AXES["frac"]):
        for j, wd in enumerate(AXES["wd"]):
            assert d.phase[i, j] == omnigrok({"wd": wd, "frac": frac})
            assert d.count[i, j] == d.runs[i, j] == 3
            cell = df[(df["wd"] == wd) & (df["frac"] == frac)]
            delays = cell["delay"].dropna().astype(float)
            want = delays.mean() if len(delays) else np.nan
            np.testing.assert_equal(d.values["delay"][i, j], want)


def test_bootstrap_interval_against_scipy_and_exact_cases():
    from scipy.stats import bootstrap

    v = np.array([100.0, 140.0, 90.0, 300.0, 120.0, 110.0])
    m, lo, hi = stats.bootstrap_mean(v)
    ref = bootstrap((v,), np.mean, n_resamples=9999, method="BCa", random_state=0)
    assert m == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert lo < m < hi
    assert stats.bootstrap_mean([5.0]) == (5.0, 5.0, 5.0)
    assert all(np.isnan(stats.bootstrap_mean([np.nan])))


@pytest.mark.parametrize("axes, figures", [
    (AXES, {"phase_diagram", "time_to_grok_wd", "time_to_grok_frac", "delay_distribution"}),
    ({"wd": [0.3, 1.0, 3.0]}, {"phase_diagram", "time_to_grok_wd", "delay_distribution"}),
    ({}, {"delay_distribution"}),
])
def test_the_report_renders_with_two_one_and_no_axes(tmp_path, axes, figures):
    synthetic.make(tmp_path, axes, 4, lambda p: "grokking", failed={"seed=2"} if not axes
                   else set())
    res = render(tmp_path)
    names = {p.rsplit("/", 1)[-1].removesuffix(".png") for p in res["figures"]}
    assert names == figures  # no run files here: no overlaid curves
    page = (tmp_path / "report.html").read_text()
    assert len(images(page)) == len(figures)
    assert all(w >= 900 and h >= 300 for w, h in images(page))
    if not axes:
        assert "Failed runs" in page and "seed=2" in page
        assert "3 of 3 runs grokked" in page


def test_the_captions_state_this_sweeps_numbers(tmp_path):
    synthetic.make(tmp_path, AXES, 3, omnigrok)
    render(tmp_path, x="frac", y="wd")
    page = html.unescape((tmp_path / "report.html").read_text())
    # 9 cells: frac 0.2 confuses at every wd; wd 0 memorises at 0.5 and 0.7; 2 grok, 2 comprehend
    assert ("9 cells with finished runs; the commonest phase of each cell, with its runs / the "
            "cell's runs: comprehension 2, grokking 2, memorisation 2, confusion 3") in page
    assert "No run reached it at frac = 0.2." in page
    assert "12 of 27 finished runs reached test accuracy 0.9." in page  # 4 cells × 3 seeds


def test_bad_axes_are_one_line_errors(tmp_path):
    synthetic.make(tmp_path, AXES, 1, omnigrok)
    for args, words in ((["--x", "lr"], "--x lr: not an axis of this sweep; expected one of wd, "
                         "frac"), (["--x", "wd", "--y", "wd"], "both wd")):
        res = CliRunner().invoke(main, ["sweep", "report", str(tmp_path), *args])
        assert res.exit_code == 1 and words in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(main, ["sweep", "status", str(tmp_path / "nothing")])
    assert res.exit_code == 2  # click: the folder does not exist
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["sweep", "status", str(tmp_path / "empty")])
    assert res.exit_code == 1 and "not a sweep folder" in res.output


def test_the_phase_rule_of_the_grid_reaches_the_labels_and_the_report(tmp_path):
    """An Ising-like sweep whose test accuracy ends near 0.83 fits at 0.8 only."""
    from grokscan.sweep import grid
    from grokscan.sweep.phase import PhaseRule
    from grokscan.sweep.worker import summary_row

    path = tmp_path / "g.toml"
    path.write_text("[phase]\nfit = 0.8\nlate = 2\n[axes]\nwd = [0.1, 1.0]\n")
    g = grid.load(path)
    assert g.rule == PhaseRule(0.8, 2.0)
    for bad, words in (("fit = 0.85", "phase.fit: expected one of 0.5, 0.7, 0.8, 0.9, 0.99"),
                       ("late = -1", "phase.late"), ("fast = 1", "expected a table [phase]")):
        path.write_text(f"[phase]\n{bad}\n")
        with pytest.raises(Exception, match=re.escape(words)):
            grid.load(path)
    # a run file whose test accuracy reaches 0.8 at step 600 but never 0.9, train fits at 100
    import torch

    from grokscan.recorder import Recorder, Schedule

    run = tmp_path / "run.h5"
    steps = np.arange(0, 1001, 100)
    with Recorder(run, torch.nn.Linear(2, 2), grads=False, schedule=Schedule(every=100)) as rec:
        for s in steps:
            rec.record(int(s), train_acc=1.0 if s >= 100 else 0.3,
                       test_acc=0.83 if s >= 600 else 0.5)
    assert summary_row(str(run))["phase"] == "memorisation"          # at 0.9: never fits
    row = summary_row(str(run), PhaseRule(0.8, 1.0))
    assert row["phase"] == "grokking" and row["step_test_0.8"] == 600  # 600 − 100 > 100
