"""The digits task: its data against scikit-learn's, the seeded split, its file round trip and
checks, the MSE loss, and a run trained, analysed and reported through the task protocol; the
recipe of its defaults groks (slow)."""

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.datasets import load_digits

import grokscan
from grokscan.cli import main
from grokscan.config import from_flat
from grokscan.errors import FileFormatError, GrokscanError
from grokscan.store.reader import Run
from grokscan.tasks.digits import DigitsConfig, make

SMALL = ["--task", "digits", "--n-train", "60", "--width", "16", "--depth", "1",
         "--steps", "20", "--every", "10", "-q"]


def test_the_images_and_labels_are_scikit_learns():
    d = make(DigitsConfig(n_train=200), seed=0)
    ref = load_digits()
    np.testing.assert_array_equal(d.x, ref.data.astype(np.uint8))
    np.testing.assert_array_equal(d.y, ref.target)
    assert d.train.sum() == 200 and (~d.train).sum() == 1597


def test_the_seed_draws_the_training_images():
    cfg = DigitsConfig(n_train=100)
    a, b, c = make(cfg, 0), make(cfg, 0), make(cfg, 1)
    np.testing.assert_array_equal(a.train, b.train)
    assert not np.array_equal(a.train, c.train)


def test_the_split_is_pixels_in_0_1_for_an_mlp():
    d = make(DigitsConfig(n_train=50), 3)
    s = d.split("mlp")
    assert s.x_train.dtype == np.float32 and s.x_train.shape == (50, 64)
    assert s.x_test.shape == (1747, 64) and 0 <= s.x_train.min() and s.x_train.max() <= 1
    assert s.n_vocab == 0 and s.n_classes == 10 and s.d_in == 64 and s.p == 0
    np.testing.assert_array_equal(s.y_test, d.y[~d.train])
    with pytest.raises(GrokscanError, match="use --model mlp"):
        d.split("transformer")


def test_the_defaults_are_the_recipe_and_round_trip():
    cfg = grokscan.run_config(task="digits")
    assert (cfg.model.width, cfg.model.depth, cfg.model.init_scale) == (200, 2, 8.0)
    assert cfg.train.loss == "mse" and cfg.task.n_train == 200
    assert from_flat(cfg.flat()) == cfg


@pytest.mark.parametrize("n", [9, 1797, 5000])
def test_a_training_set_without_a_test_set_is_refused_in_one_line(tmp_path, n):
    r = CliRunner().invoke(main, ["train", "-o", str(tmp_path / "r.h5"), "--task", "digits",
                                  "--n-train", str(n)])
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error")]
    assert r.exit_code == 1 and len(errors) == 1 and "n_train" in errors[0]
    assert "[10, 1796]" in errors[0] and not isinstance(r.exception, GrokscanError)
    with pytest.raises(GrokscanError, match="n_train"):
        make(DigitsConfig(n_train=n), 0)


def test_trained_analysed_and_reported_through_the_protocol(tmp_path):
    run = tmp_path / "digits.h5"
    r = CliRunner().invoke(main, ["train", "-o", str(run), *SMALL])
    assert r.exit_code == 0, r.output
    with Run(run) as f:
        assert f.task.kind == "digits" and f.config.train.loss == "mse"
        assert f.config.model.d_in == 64 and f.config.model.n_classes == 10
        assert int(f.task.train.sum()) == 60
    info = CliRunner().invoke(main, ["info", str(run)])
    assert info.exit_code == 0 and "8 × 8 digits (scikit-learn), 60 train" in info.output
    assert "MSE loss" in info.output
    assert "forecast: not applicable (the digits task has no residues mod P" in info.output
    w = CliRunner().invoke(main, ["watch", str(run), "--replay", "--interval", "0.05"])
    assert w.exit_code == 0 and "forecast: not applicable" in w.output, w.output
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["analyze", str(run), "-o", str(out), "--subset", "2",
                                  "--grad-samples", "8", "--dropout-passes", "4", "-q"])
    assert r.exit_code == 0, r.output
    assert "left out fourier: the digits task has no residues mod P" in r.output
    with h5py.File(out / "metrics.h5") as m:
        acc = m["metrics/accuracy/class/test"][()]
        assert acc.shape == (3, 10) and np.isfinite(acc).all()
        assert m["metrics/features/cosine/mean_abs"].shape == (3,)
        assert "metrics/sparsity/inactive_h0" in m and "metrics/pca/gradients/coords" in m
    page = (out / "report.html").read_text()
    for fig in ("class_accuracy", "feature_cosine", "norm_accuracy", "activation_pca",
                "weight_statistics"):
        assert f'id="{fig}"' in page, fig
    assert "metric family fourier: the digits task has no residues mod P" in page
    assert "forecast: not applicable" in page


def test_a_damaged_digits_file_is_refused(tmp_path):
    run = tmp_path / "d.h5"
    assert CliRunner().invoke(main, ["train", "-o", str(run), *SMALL]).exit_code == 0
    with h5py.File(run, "r+") as f:
        y = f["task/y"][()]
        y[0] = 12
        f["task/y"][...] = y
    r = CliRunner().invoke(main, ["info", str(run)])
    assert r.exit_code == 1 and "labels outside 0..9" in r.output
    with Run(run) as f, pytest.raises(FileFormatError, match="labels outside"):
        _ = f.task


@pytest.mark.slow
def test_the_default_recipe_groks(tmp_path):
    """The module docstring's numbers: train accuracy 1 by step ~450, test accuracy 0.5 only
    some 1500 steps later, 0.9 by step 5000 (one thread, ~25 s)."""
    torch.set_num_threads(1)
    run = tmp_path / "digits.h5"
    r = CliRunner().invoke(main, ["train", "-o", str(run), "--task", "digits", "--no-grads",
                                  "-q"])
    assert r.exit_code == 0, r.output
    with Run(run) as f:
        steps, s = f.steps, f.scalars
    fit = steps[np.argmax(s["train_acc"] >= 0.99)]
    half = steps[np.argmax(s["test_acc"] >= 0.5)]
    assert s["train_acc"].max() >= 0.99 and s["test_acc"].max() >= 0.9
    assert fit <= 1000 and half - fit >= 1000  # the delay: memorised long before it generalises
    assert s["test_acc"][np.argmax(s["train_acc"] >= 0.99)] < 0.3
