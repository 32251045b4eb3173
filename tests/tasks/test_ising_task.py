"""Training on Ising lattices: the checkpoint file describes itself, info/analyze/replay/resume
accept it, the recorded numbers agree with an independent numpy forward pass and optimizer."""

import dataclasses
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_same_contents, run_contents

from grokscan.analysis import Options, analyze
from grokscan.analysis.replay import replay
from grokscan.cli import main
from grokscan.config import resolve
from grokscan.errors import FileFormatError
from grokscan.store.reader import Run
from grokscan.tasks import ising as lib
from grokscan.training import prepare, train

SMALL = lib.IsingDataConfig(n_train=160, n_test=64, n_flip=3, seed=5)
TINY = ["--width", "16", "--depth", "2", "--every", "10", "-q"]


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ising_train") / "small.h5"
    lib.save_ising(path, lib.generate(SMALL))
    return path


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def config(data, **kw):
    """The Ising defaults (as `grokscan train --task ising` applies them), a small network."""
    return resolve({"task": "ising", "data": str(data), "width": 16, "depth": 2, "every": 10,
                    **kw})


def numpy_logits(params: dict, x: np.ndarray) -> np.ndarray:
    """The bias-free ReLU MLP written out in numpy: relu(... relu(x W_0) ... W_k) W_U."""
    h = x.astype(np.float64)
    i = 0
    while f"hidden.{i}.W" in params:
        h = np.maximum(h @ params[f"hidden.{i}.W"], 0.0)
        i += 1
    return h @ params["unembed.W_U"]


def test_cli_run_is_accepted_by_info_and_analyze(tmp_path, small_file):
    out = tmp_path / "r.h5"
    r = cli("train", "-o", out, "--task", "ising", "--data", small_file, "--steps", "30",
            "--eval-inverted", *TINY)
    assert r.exit_code == 0, r.output
    d = json.loads(cli("info", out, "--json").output)
    inverted = len(lib.load_ising(small_file).inverted_y)
    line = f"Ising 8×8 lattices in 4 energy classes: 160 train, 64 test, {inverted} 3-inverted"
    assert d["task"] == {"kind": "ising", "L": 8, "n_classes": 4, "n_train": 160,
                         "n_test": 64, "n_inverted": inverted, "n_flip": 3,
                         "source": str(small_file), "line": line}
    assert d["steps"] == [0, 30] and d["n_checkpoints"] == 4
    assert d["params"] == {"hidden.0.W": [64, 16], "hidden.1.W": [16, 16],
                           "unembed.W_U": [16, 4]}
    assert {"inverted_acc", "inverted_loss", "test_acc"} <= set(d["scalars"])
    text = cli("info", out).output
    assert line in text
    assert "Adam (L2 weight decay) lr 0.0005, weight decay 0.0005, betas (0.9, 0.999)" in text

    summary = analyze(out, tmp_path / "an", Options(families=("norms",), quiet=True))
    assert summary["families"] == ["norms"] and summary["n_checkpoints"] == 4
    with Run(out) as run:
        expect = np.sqrt(sum((run.param(k).reshape(run.n, -1).astype(np.float64) ** 2).sum(1)
                             for k in run.param_names))
    with open(tmp_path / "an" / "metrics.csv") as fh:
        header, *rows = [line.strip().split(",") for line in fh]
    total = np.array([float(row[header.index("norms/total")]) for row in rows])
    np.testing.assert_allclose(total, expect, rtol=1e-5)


def test_paper_network_is_the_ising_default(tmp_path):
    # the shipped data set, the paper's network; two steps are enough to read the config back
    out = tmp_path / "paper.h5"
    r = cli("train", "-o", out, "--task", "ising", "--steps", "2", "--every", "1", "-q")
    assert r.exit_code == 0, r.output
    with Run(out) as run:
        cfg, task = run.config, run.task
        W = {k: run.param(k, 0) for k in run.param_names}
    assert (cfg.model.depth, cfg.model.width, cfg.model.bias, cfg.model.init_scale) == (
        4, 48, False, 7.0)
    assert (cfg.train.optimizer, cfg.train.lr, cfg.train.wd, cfg.train.beta2) == (
        "adam", 5e-4, 5e-4, 0.999)
    assert task.kind == "ising" and task.data.train_x.shape == (4000, 8, 8)
    assert list(W) == ["hidden.0.W", "hidden.1.W", "hidden.2.W", "hidden.3.W", "unembed.W_U"]
    for w in W.values():  # c · U(−1/√fan_in, 1/√fan_in) with c = 7
        bound = 7 / np.sqrt(w.shape[0])
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound


def test_inverted_scalars_only_when_asked_and_correct(tmp_path, small_file):
    train(config(small_file, steps=20), tmp_path / "plain.h5", quiet=True)
    with Run(tmp_path / "plain.h5") as run:
        assert not any(k.startswith("inverted") for k in run.scalars)
    train(config(small_file, steps=20, eval_inverted=True), tmp_path / "inv.h5", quiet=True)
    d = lib.load_ising(small_file)
    with Run(tmp_path / "inv.h5") as run:
        s = run.scalars
        for row in (0, run.n - 1):
            params = run.params_at(row)
            for split in ("test", "inverted"):
                x, y = d.xy(split)
                z = numpy_logits(params, x)
                acc = np.mean(z.argmax(1) == y)
                zs = z - z.max(1, keepdims=True)  # beta = 1: cross-entropy of the logits
                loss = np.mean(np.log(np.exp(zs).sum(1)) - zs[np.arange(len(y)), y])
                assert s[f"{split}_acc"][row] == pytest.approx(acc, abs=1e-6)
                assert s[f"{split}_loss"][row] == pytest.approx(loss, rel=1e-4)


def test_missing_data_file_is_a_one_line_error(tmp_path):
    out = tmp_path / "r.h5"
    r = cli("train", "-o", out, "--task", "ising", "--data", tmp_path / "nope.h5", *TINY)
    assert r.exit_code != 0 and "Traceback" not in r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and "nope.h5: no such file" in lines[0], r.output
    assert "grokscan ising generate" in lines[0]
    assert not out.exists()


def test_replay_rebuilds_the_training_data_from_the_file_alone(tmp_path, small_file):
    data = tmp_path / "data.h5"
    data.write_bytes(small_file.read_bytes())
    cfg = config(data, steps=10, eval_inverted=True)
    used = prepare(cfg)[2]
    train(cfg, tmp_path / "r.h5", quiet=True)
    os.remove(data)  # the run file must be enough
    with Run(tmp_path / "r.h5") as run:
        rp = replay(run)
    s = rp.split
    for a, b in ((s.x_train, used.x_train), (s.y_train, used.y_train), (s.x_test, used.x_test),
                 (s.y_test, used.y_test), (s.extra["inverted"][0], used.extra["inverted"][0]),
                 (s.extra["inverted"][1], used.extra["inverted"][1])):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    ref = lib.load_ising(small_file)  # and both are the data set's own lattices and labels
    np.testing.assert_array_equal(s.x_train, ref.train_x.reshape(-1, 64))
    np.testing.assert_array_equal(s.y_test, ref.test_y)
    assert rp.task.data.n_dropped == ref.n_dropped and rp.task.data.config == SMALL


def test_resume_equals_the_uninterrupted_run(tmp_path, small_file):
    # dropout draws from the torch generator: resuming must restore it as well as Adam's moments
    cfg = config(small_file, steps=60, dropout=0.04, eval_inverted=True)
    train(cfg, tmp_path / "full.h5", quiet=True)
    short = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=30))
    train(short, tmp_path / "part.h5", quiet=True)
    r = cli("train", "-o", tmp_path / "part.h5", "--resume", "--steps", "60", "-q")  # no --task
    assert r.exit_code == 0, r.output
    assert_same_contents(run_contents(tmp_path / "full.h5"), run_contents(tmp_path / "part.h5"))


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_the_first_step_is_adam_with_l2_or_decoupled_decay(tmp_path, small_file, optimizer):
    # Adam's first step is −lr · ĝ/|ĝ| per weight (bias-corrected moments, eps 1e-8), with
    # ĝ = g + wd·θ for Adam (L2) and ĝ = g, θ ← θ(1 − lr·wd) first, for AdamW. wd = 1 makes the
    # two differ in sign on many weights. g is the recorded full-batch gradient at step 0.
    lr, wd = 1e-3, 1.0
    cfg = config(small_file, steps=1, every=1, optimizer=optimizer, lr=lr, wd=wd)
    train(cfg, tmp_path / "o.h5", quiet=True)
    with Run(tmp_path / "o.h5") as run:
        for k in run.param_names:
            t0, t1 = run.param(k, 0).astype(np.float64), run.param(k, 1).astype(np.float64)
            g = run.grad(k, 0).astype(np.float64)
            if optimizer == "adam":
                gh = g + wd * t0
                expect = t0 - lr * gh / (np.abs(gh) + 1e-8)
            else:
                expect = t0 * (1 - lr * wd) - lr * g / (np.abs(g) + 1e-8)
            np.testing.assert_allclose(t1, expect, atol=2e-6, err_msg=k)


def test_default_data_is_shipped_or_generated_identically(monkeypatch):
    from grokscan.tasks.ising import dataset

    data, source = lib.training_data()
    assert source == str(lib.SHIPPED)
    monkeypatch.setattr(dataset, "SHIPPED", lib.SHIPPED.with_name("absent.h5"))
    gen, source = lib.training_data()
    assert source == lib.GENERATED
    for split in lib.SPLITS:
        for part in ("x", "y", "energy"):
            np.testing.assert_array_equal(getattr(gen, f"{split}_{part}"),
                                          getattr(data, f"{split}_{part}"))


def test_a_damaged_task_group_names_what_is_missing(tmp_path, small_file):
    import h5py

    train(config(small_file, steps=1), tmp_path / "r.h5", quiet=True)
    for damage, match in ((lambda g: g.pop("test_label"), "without test_label"),
                          (lambda g: (g.pop("test_label"),
                                      g.create_dataset("test_label", data=np.zeros(3, np.int8))),
                           r"test_\* shapes spins \(64, 8, 8\), label \(3,\)")):
        bad = tmp_path / "bad.h5"
        bad.write_bytes((tmp_path / "r.h5").read_bytes())
        with h5py.File(bad, "r+") as f:
            damage(f["task"])
        with Run(bad) as run, pytest.raises(FileFormatError, match=match):
            _ = run.task


def test_every_family_that_applies_runs_on_an_ising_run(tmp_path, small_file):
    """No residues: the Fourier and embedding families are skipped; the others run, with the
    samples labelled by energy class and the per-class softmax gap over the 4 classes."""
    from grokscan.analysis import FAMILIES

    run = tmp_path / "r.h5"
    train(config(small_file, steps=30), run, quiet=True)
    s = analyze(run, tmp_path / "an", Options(subset=2, quiet=True))
    assert s["families"] == [f for f, fam in FAMILIES.items() if "residues" not in fam.needs]
    assert set(s["left_out"]) == {f for f, fam in FAMILIES.items() if "residues" in fam.needs}
    assert all("no residues" in why for why in s["left_out"].values())
    import h5py

    with h5py.File(tmp_path / "an/metrics.h5") as f:
        assert set(np.unique(f["samples/label"][()])) <= {0, 1, 2, 3}
        assert len(f["samples/label"]) == 160 + 64  # fewer examples than the sample: all
        assert f["metrics/sparsity/softmax_gap_class"].shape == (4, 4)
        assert f["metrics/pca/activations/coords_h1"].shape == (4, 224, 2)
        done = np.isfinite(f["metrics/pca/gradients/dim90_test"][()])
        computed = f["metrics/pca/gradients"].attrs["computed_steps"]
        assert 2 <= done.sum() < 4 and list(f["steps"][()][done]) == list(computed)
