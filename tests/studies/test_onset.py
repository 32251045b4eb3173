"""`grokscan onset evaluate` on a constructed sweep folder whose numbers are known."""

import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from grokscan.cli.main import main
from grokscan.store.metrics import MetricsWriter
from grokscan.studies.onset import MAIN, evaluate
from grokscan.sweep import synthetic
from grokscan.sweep.paths import run_dir

GINI = "gini rise"  # the detector these constructed runs are built for
STEPS = np.arange(0, 2000, 20)
MEM, T50 = 100, 1000
# (test acc reaches 0.5 at T50?, step where the embedding's Gini doubles, or None)
CASES = [(True, 500)] * 4 + [(True, 1200)] + [(False, None)] * 3 + [(False, 600)]


def _metrics(out, grokking: bool, jump):
    train_acc = np.where(STEPS >= MEM, 1.0, 0.2)
    test_acc = np.where(STEPS >= T50, 0.9, 0.05) if grokking else np.full(len(STEPS), 0.05)
    gini = np.where(STEPS >= (jump if jump is not None else 10**9), 0.2, 0.1)
    scalars = {"train_acc": train_acc, "test_acc": test_acc, "train_loss": 1 - train_acc,
               "weight_norm": np.full(len(STEPS), 40.0)}
    os.makedirs(out, exist_ok=True)
    with MetricsWriter(os.path.join(out, "metrics.h5"),
                       attrs={"families": ["fourier", "norms"], "p": 41}, steps=STEPS,
                       scalars=scalars, run_steps=STEPS, run_scalars=scalars, samples={},
                       groups={}) as w:
        flat = np.full(len(STEPS), 0.5)
        w.write({"fourier/gini_embed": gini, "fourier/ffd_embed": flat,
                 "fourier/entropy_embed": flat, "norms/total": flat * 80}, len(STEPS))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    synthetic.make(out, {"case": list(range(len(CASES)))}, 1, lambda p: "grokking")
    for i, (grokking, jump) in enumerate(CASES):
        _metrics(run_dir(out, f"case={i}_seed=0"), grokking, jump)
    return out


def test_the_numbers_of_a_constructed_sweep(sweep):
    per_run, summary, curves = evaluate(sweep)
    main_row = summary.set_index("detector").loc[GINI]
    assert (main_row["grokking"], main_row["controls"]) == (5, 4)
    assert main_row["coverage"] == pytest.approx(4 / 5)  # the late riser is missed
    assert main_row["false_alarms"] == pytest.approx(1 / 4)  # one control rises
    # a step from 0.1 to 0.2 at 500: trailing mean of 3 is +67 % at 520, held 2 -> flag 540
    rows = per_run[per_run["detector"] == GINI].set_index("run")
    assert rows.loc["case=0_seed=0", "flag"] == 540
    lead = (T50 - 540) / (T50 - MEM)
    assert rows.loc["case=0_seed=0", "lead_fraction"] == pytest.approx(lead)
    assert main_row["lead_median"] == pytest.approx(lead)  # leads [0, l, l, l, l]
    assert main_row["lead_q1"] == pytest.approx(lead)
    # max scores before T50: grokking [1, 1, 1, 1, 0], controls [0, 0, 0, 1]; of the 20
    # pairs 12 are won and 4 + 3 tied (counted half): AUC 15.5 / 20
    assert main_row["auc"] == pytest.approx(15.5 / 20)
    assert main_row["coverage_at_fa_0.05"] == pytest.approx(0.0)  # 1 is reached by a control
    assert main_row["coverage_at_fa_0.1"] == pytest.approx(0.0)
    assert set(curves) == set(summary["detector"])
    assert rows.loc["case=4_seed=0", "flag"] == 1240 and not rows.loc["case=4_seed=0",
                                                                      "in_time"]
    # a flat signal never fires; the weight norm is constant
    wn = summary.set_index("detector").loc["weight norm fall"]
    assert wn["coverage"] == 0 and wn["false_alarms"] == 0


def test_the_command_writes_the_table_and_the_page(sweep):
    res = CliRunner().invoke(main, ["onset", "evaluate", str(sweep), "-q"])
    assert res.exit_code == 0, res.output
    assert MAIN in res.output and "coverage" in res.output
    # a sweep made before the in-loop detector: it says so and judges the others
    assert "the in-loop detector: none of the 9 runs has its record" in res.output
    assert "checkpoints" in res.output and "in-loop model" not in res.output
    df = pd.read_csv(os.path.join(sweep, "onset.csv"))
    assert set(df["class"]) == {"grokking", "control"}
    page = open(os.path.join(sweep, "onset.html"), encoding="utf-8").read()
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page


def test_a_folder_that_is_not_a_sweep(tmp_path):
    res = CliRunner().invoke(main, ["onset", "evaluate", str(tmp_path)])
    assert res.exit_code != 0 and "summary.csv" in res.output


def test_several_sweeps_are_judged_together_and_apart(sweep, tmp_path):
    """Two sweeps: the summary over all runs counts both, each sweep's own rows equal that
    sweep judged alone, and the runs carry their sweep, model and operation."""
    other = tmp_path / "other"
    synthetic.make(other, {"case": [0, 1, 2]}, 1, lambda p: "grokking")
    for i, (grokking, jump) in enumerate([(True, 500), (False, 600), (False, 700)]):
        _metrics(run_dir(other, f"case={i}_seed=0"), grokking, jump)
    per_run, summary, _ = evaluate([sweep, other])
    rows = summary[summary["detector"] == GINI].set_index("runs")
    assert list(rows.index) == ["all", os.path.basename(sweep), "other"]
    assert (rows.loc["all", "grokking"], rows.loc["all", "controls"]) == (6, 6)
    assert rows.loc["all", "false_alarms"] == pytest.approx(3 / 6)  # 1 of 4, then 2 of 2
    assert rows.loc["all", "coverage"] == pytest.approx(5 / 6)
    for d in (sweep, other):
        alone = evaluate(d)[1].set_index("detector").loc[GINI]
        part = rows.loc[os.path.basename(d)]
        for col in ("grokking", "controls", "coverage", "false_alarms", "lead_median", "auc"):
            assert part[col] == pytest.approx(alone[col])
    assert set(per_run["sweep"]) == {os.path.basename(sweep), "other"}
    assert set(per_run["model"]) == {"mlp"} and set(per_run["op"]) == {"add"}
    final = per_run.groupby("class")["final_test_acc"].agg(["min", "max"])
    assert final.loc["grokking"].tolist() == [0.9, 0.9]  # the constructed last values
    assert final.loc["control"].tolist() == [0.05, 0.05]


def test_several_sweeps_need_an_output_folder_and_each_once(sweep, tmp_path):
    import shutil

    a, b = tmp_path / "a" / "sweep", tmp_path / "b" / "sweep"  # two sweeps of one name
    shutil.copytree(sweep, a)
    shutil.copytree(sweep, b)
    res = CliRunner().invoke(main, ["onset", "evaluate", str(a), str(b), "-q"])
    assert res.exit_code == 1 and "-o OUT/" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["onset", "evaluate", str(a), str(b), "-q",
                                    "-o", str(tmp_path / "both")])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "both" / "onset_summary.csv").set_index(["detector", "runs"])
    assert set(df.index.get_level_values("runs")) == {"all", "a/sweep", "b/sweep"}
    alone = evaluate(sweep)[1].set_index("detector").loc[GINI]
    assert df.loc[(GINI, "a/sweep"), "controls"] == alone["controls"]  # kept apart
    assert df.loc[(GINI, "all"), "controls"] == 2 * alone["controls"]
    res = CliRunner().invoke(main, ["onset", "evaluate", str(a), str(a), "-q", "-o",
                                    str(tmp_path / "twice")])
    assert res.exit_code == 1 and "given twice" in res.output and "Traceback" not in res.output
