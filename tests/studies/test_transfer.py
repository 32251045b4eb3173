"""Choosing a detector by transfer (grokscan/studies/transfer.py), on constructed tables whose
answer is known: the flag at the built step, the threshold at 5 % false alarms, the
softmax-collapse veto, a model that separates what no single signal does, leave one group out,
and the ROC AUC against scikit-learn's."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from grokscan.studies import (
    Candidate,
    Logistic,
    Runs,
    auc_matched,
    from_dict,
    judge,
    leave_one_group_out,
    threshold,
    to_dict,
)
from grokscan.studies.transfer import HOLD, SMOOTH, auc

STEPS = np.arange(0, 1000, 10)
MEM, T50 = 100, 600  # memorisation and test accuracy 0.5 of every grokking run


def run_rows(name, grokking, s1, s2, *, sc=0.0, op="add", p=31, ramp=(200, 300)):
    """One run's rows: train accuracy 1 from MEM; test accuracy 1 from T50 when grokking, else
    flat at 0.02; the signals 0 until ``ramp[0]``, rising linearly to (s1, s2) at ``ramp[1]``;
    the softmax-collapse share ``sc`` from MEM on."""
    r = np.clip((STEPS - ramp[0]) / (ramp[1] - ramp[0]), 0, 1)
    return pd.DataFrame({
        "sweep": "tune_x", "run": name, "family": "mlp", "model": "mlp", "op": op,
        "input": "concat", "p": p, "wd": 1.0, "step": STEPS,
        "train_acc": np.where(STEPS >= MEM, 1.0, 0.1),
        "test_acc": np.where(grokking & (STEPS >= T50), 1.0, 0.02),
        "s1": s1 * r, "s2": s2 * r, "sc_share": np.where(STEPS >= MEM, sc, 0.0)})


def table(n=20, seed=0, **kw):
    """n grokking runs whose (s1, s2) end on the line s1 + s2 = 1, and n controls on the line
    s1 + s2 = 0.6, both soon after memorisation: each signal alone overlaps the two classes,
    their sum does not."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, a in enumerate(rng.uniform(0, 1, n)):
        rows.append(run_rows(f"g{i}", True, a, 1 - a, ramp=(100, 150), **kw))
    for i, b in enumerate(rng.uniform(0, 1, n)):
        rows.append(run_rows(f"c{i}", False, 0.6 * b, 0.6 * (1 - b), ramp=(100, 150), **kw))
    return pd.concat(rows, ignore_index=True)


S1 = Candidate("s1", "rise", "absolute")
S2 = Candidate("s2", "rise", "absolute")


def keys(runs):
    return list(runs.judged()["key"])


def test_the_flag_fires_where_the_built_signal_crosses():
    runs = Runs.of(run_rows("g", True, 1.0, 0.0))
    # the ramp from 200 to 300 reaches 0.5 at 250; a trailing mean of SMOOTH checkpoints lags
    # a line by (SMOOTH - 1) / 2 of them, the hold by HOLD - 1 more
    flag = 250 + 10 * ((SMOOTH - 1) / 2 + HOLD - 1)
    res = judge(runs, keys(runs), S1, 0.5)
    assert res["flagged"] == 1 and res["coverage"] == 1.0
    assert res["lead_median"] == pytest.approx((T50 - flag) / (T50 - MEM))
    assert judge(runs, keys(runs), S1, 1.01)["flagged"] == 0  # never above what the data shows


def test_the_matched_auc_reads_a_control_over_the_grokking_runs_delay_only():
    # grokking runs: s1 reaches 1 before test accuracy 0.5 (delay T50 − MEM = 500); controls:
    # s1 at 0.5 by step 200, then 2 from step 800 on, after memorisation + 500: over their whole
    # run they outrank every grokking run, over the matched span none
    rows = [run_rows(f"g{i}", True, 1.0, 0.0, ramp=(150, 200)) for i in range(4)]
    for i in range(4):
        late = run_rows(f"c{i}", False, 0.5, 0.0, ramp=(150, 200))
        late.loc[late["step"] >= 800, "s1"] = 2.0
        rows.append(late)
    runs = Runs.of(pd.concat(rows, ignore_index=True))
    assert judge(runs, keys(runs), S1, 0.75)["auc"] == 0.0
    assert auc_matched(runs, keys(runs), S1) == 1.0


def test_the_threshold_lets_at_most_five_percent_of_the_controls_through():
    runs = Runs.of(table(n=40))
    theta = threshold(runs, keys(runs), S1)
    res = judge(runs, keys(runs), S1, theta)
    assert res["alarms"] <= np.floor(0.05 * 40) and res["false_alarms"] <= 0.05
    # one step lower lets one more control through
    below = judge(runs, keys(runs), S1, np.nextafter(theta, -np.inf))
    assert below["alarms"] == res["alarms"] + 1


def test_no_single_signal_separates_and_the_model_does():
    runs = Runs.of(table())
    k = keys(runs)
    for c in (S1, S2):
        assert judge(runs, k, c, threshold(runs, k, c))["coverage"] < 0.8
    model = Logistic((S1, S2)).fit(runs, k)
    res = judge(runs, k, model, threshold(runs, k, model))
    assert res["coverage"] == 1.0 and res["false_alarms"] == 0.0 and res["auc"] == 1.0
    # it reads the sum: the two coefficients are positive and alike
    assert min(model.coef) > 0 and max(model.coef) / min(model.coef) < 2


def test_the_model_must_be_fitted_and_needs_both_classes():
    runs = Runs.of(run_rows("g", True, 1.0, 0.0))
    with pytest.raises(ValueError, match="not fitted"):
        Logistic((S1,)).held(*runs.rows[keys(runs)[0]])
    with pytest.raises(ValueError, match="grokking runs and of controls"):
        Logistic((S1,)).fit(runs, keys(runs))


def test_the_veto_silences_a_run_in_softmax_collapse():
    collapsed = Runs.of(run_rows("c", False, 1.0, 0.0, sc=0.9))
    rule = Candidate("s1", "rise", "absolute", veto=True)
    assert judge(collapsed, keys(collapsed), S1, 0.5)["alarms"] == 1
    assert judge(collapsed, keys(collapsed), rule, 0.5)["alarms"] == 0
    fine = Runs.of(run_rows("g", True, 1.0, 0.0, sc=0.1))
    assert judge(fine, keys(fine), rule, 0.5)["flagged"] == 1


def test_leave_one_group_out_fits_on_the_others_and_keeps_the_worst():
    """Two operation families, the second's signal rises half as far: a threshold set on the
    first misses the second's grokking runs, and that group is the worst."""
    a = table(n=10, op="add")
    b = table(n=10, seed=1, op="x2+y2")
    b[["s1", "s2"]] *= 0.5
    b["run"] = "b_" + b["run"]
    runs = Runs.of(pd.concat([a, b], ignore_index=True))
    out = leave_one_group_out(runs, Logistic((S1, S2)))
    ops = {g["group"]: g for g in out["groups"] if g["grouping"] == "operations"}
    assert set(ops) == {"additive", "polynomial"}
    assert ops["polynomial"]["coverage"] < ops["additive"]["coverage"]
    assert out["worst"] == min(g["coverage"] - g["false_alarms"] for g in out["groups"])
    # a grouping with one group has nothing to transfer from: not judged
    assert not [g for g in out["groups"] if g["grouping"] == "family"]


def test_a_candidate_written_and_read_back_is_the_same():
    """Through JSON, as chosen.json keeps it."""
    import json

    runs = Runs.of(table())
    model = Logistic((S1, S2)).fit(runs, keys(runs))
    rule = Candidate("s1", "fall", "relative", veto=True)
    for c in (model, rule, S1):
        back = from_dict(json.loads(json.dumps(to_dict(c), default=float)))
        assert back == c
        steps, series = runs.rows[keys(runs)[0]]
        np.testing.assert_array_equal(back.held(steps, series), c.held(steps, series))
    old = {"signal": "gini_add", "direction": "rise", "change": "relative"}  # before kinds
    assert from_dict(old) == Candidate("gini_add", "rise", "relative")


def test_the_model_holds_its_score_as_a_signal_does():
    """A one-checkpoint dip read with a negative coefficient: the model's score stays up no
    longer than the falling signal's held score does."""
    rows = run_rows("g", True, 0.0, 0.0)
    rows.loc[rows["step"] == 500, "s1"] = -1.0
    runs = Runs.of(rows)
    steps, series = runs.rows[keys(runs)[0]]
    model = Logistic((S1,), coef=(-1.0,), intercept=0.0, mean=(0.0,), scale=(1.0,))
    fall = Candidate("s1", "fall", "absolute")
    assert (model.held(steps, series) > 0).sum() == (fall.held(steps, series) > 0).sum() > 0


def test_the_veto_keeps_the_reference_at_memorisation():
    """A run in softmax collapse from memorisation to step 300: silent there, and after it
    its change is counted from its value at memorisation, not from where the collapse ends."""
    rows = run_rows("g", True, 1.0, 0.0, ramp=(100, 500))
    rows["sc_share"] = np.where((rows["step"] >= MEM) & (rows["step"] < 300), 0.9, 0.0)
    runs = Runs.of(rows)
    steps, series = runs.rows[keys(runs)[0]]
    held = Candidate("s1", "rise", "absolute", veto=True).held(steps, series)
    assert np.isnan(held[(steps >= MEM) & (steps < 300)]).all()
    assert held[-1] == pytest.approx(1.0)  # the whole rise from memorisation


def test_the_auc_is_scikit_learns():
    rng = np.random.default_rng(3)
    score = np.round(rng.normal(size=60), 1)  # ties counted half, as scikit-learn does
    pos = rng.uniform(size=60) < 0.4
    assert auc(score, pos) == pytest.approx(roc_auc_score(pos, score))


@pytest.mark.parametrize("name", ["test_acc", "test_loss", "inverted_acc", "val_loss"])
def test_no_test_set_series_can_be_a_candidate(name):
    from grokscan.errors import GrokscanError

    with pytest.raises(GrokscanError, match="test-set quantity"):
        Candidate(name, "rise", "absolute")  # and so no model can be built over one


def corpus_table(tmp_path):
    """A corpus table with every column the scripts read: tuning and evaluation runs of two
    operation families, in which only ``gini_add`` tells grokking runs from controls."""
    import os

    from grokscan.studies.corpus import SIGNALS

    rng = np.random.default_rng(5)
    parts = []
    for sweep, seed in (("tune_mlp", 0), ("eval_mlp", 1)):
        for op in ("add", "x2+y2"):
            t = table(n=8, seed=seed, op=op)
            t["sweep"], t["run"] = sweep, op + "_" + t["run"]
            grok = t["run"].str.contains("_g")
            for k in SIGNALS:
                if k not in t:
                    t[k] = rng.normal(1.0, 0.05, len(t))
            t["gini_add"] = 1.0 + np.where(grok, 2.0, 0.2) * t["s1"].clip(0, 1).gt(0)
            parts.append(t.drop(columns=["s1", "s2"]))
    t = pd.concat(parts, ignore_index=True)
    t["live_flag"], t["live_memorised"], t["live_score"] = -1, MEM, 0.0
    path = os.path.join(tmp_path, "corpus.parquet")
    t.to_parquet(path, index=False)
    return path


def test_the_fit_and_the_evaluation_scripts_on_a_constructed_corpus(tmp_path):
    """fit_onset3.py chooses the one signal that separates (never reading an evaluation run)
    and writes its tables; evaluate_onset3.py judges it on the evaluation runs."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = corpus_table(tmp_path)
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1"}
    fit = subprocess.run([sys.executable, os.path.join(root, "scripts", "fit_onset3.py"), path,
                          "--out", str(tmp_path / "fit"), "--doc", str(tmp_path / "fit.md")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert fit.returncode == 0, fit.stderr
    chosen = json.loads((tmp_path / "fit" / "chosen.json").read_text())
    assert chosen["kind"] in ("signal", "rule") and chosen["signal"] == "gini_add"
    assert chosen["tuning"]["coverage"] == 1.0 and chosen["tuning"]["false_alarms"] == 0.0
    assert sum(chosen["tuning_runs"].values()) == 32  # the tuning runs alone
    doc = (tmp_path / "fit.md").read_text()
    assert "| mlp | 16 | 16 |" in doc and "gini_add rise" in doc
    ev = subprocess.run([sys.executable, os.path.join(root, "scripts", "evaluate_onset3.py"),
                         path, str(tmp_path / "fit" / "chosen.json"), "--out",
                         str(tmp_path / "ev"), "--doc", str(tmp_path / "ev.md"),
                         "--figure", str(tmp_path / "ev.png")],
                        capture_output=True, text=True, env=env, timeout=600)
    assert ev.returncode == 0, ev.stderr
    assert (tmp_path / "ev.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = pd.read_csv(tmp_path / "ev" / "evaluation.csv")
    new = rows[rows["detector"].str.endswith("(third design)") & (rows["family"] == "all")]
    assert new["coverage"].item() == 1.0 and new["false_alarms"].item() == 0.0
    assert new["grokking"].item() == 16 and new["controls"].item() == 16
    assert "- all: every target met" in (tmp_path / "ev.md").read_text()
    # the evaluation runs are never read by the fit: poisoned, the choice is the same
    poisoned = pd.read_parquet(path)
    ev_rows = poisoned["sweep"].str.startswith("eval_")
    poisoned.loc[ev_rows, "gini_add"] = 1.0  # flat: read, no evaluation run would be flagged
    poisoned.loc[ev_rows, [k for k in poisoned if k.startswith("entropy")]] = np.nan
    poisoned.to_parquet(tmp_path / "poisoned.parquet", index=False)
    again = subprocess.run([sys.executable, os.path.join(root, "scripts", "fit_onset3.py"),
                            str(tmp_path / "poisoned.parquet"), "--out", str(tmp_path / "fit2")],
                           capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "fit2" / "chosen.json").read_text()) == chosen
