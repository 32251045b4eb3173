"""The geometry, entropy, embedding, sparsity and dropout families of ``grokscan analyze``,
checked against independent computations (scikit-learn, a loop of backward passes, the model
itself) and, end to end, against what the papers report on a run that groks."""

import dataclasses

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import fast_config
from sklearn.decomposition import PCA
from sklearn.metrics.pairwise import cosine_similarity

from grokscan.analysis import Options, analyze, expensive_subset
from grokscan.analysis.families import FamilySettings
from grokscan.analysis.families.replayed import per_sample_grads
from grokscan.config import ModelConfig
from grokscan.store.reader import Run
from grokscan.summary import first_crossing
from grokscan.training import prepare


def small_model(kind: str):
    cfg = fast_config()
    cfg = dataclasses.replace(
        cfg, task=dataclasses.replace(cfg.task, p=7),
        model=ModelConfig(kind=kind, d_embed=16, width=24, depth=2 if kind == "mlp" else 1))
    _, _, split, model = prepare(cfg)
    return model.eval(), split


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_per_sample_gradients_equal_a_loop_of_backward_passes(kind):
    model, split = small_model(kind)
    x, y = torch.from_numpy(split.x_train[:12]), torch.from_numpy(split.y_train[:12])
    names = [k for k, v in model.named_parameters() if v.ndim >= 2]
    beta = 1.7
    batched = per_sample_grads(model, x, y, beta, names)
    params = dict(model.named_parameters())
    for i in range(len(x)):
        model.zero_grad()
        F.cross_entropy(beta * model(x[i: i + 1]), y[i: i + 1]).backward()
        for k in names:
            torch.testing.assert_close(batched[k][i], params[k].grad, rtol=1e-4, atol=1e-6)


def test_expensive_subset_is_spread_and_denser_where_test_accuracy_moves():
    n = 200
    acc = np.where(np.arange(n) < 150, 0.0, 1.0)
    acc[140:160] = np.linspace(0, 1, 20)  # test accuracy moves only in 140..159
    idx = expensive_subset(acc, n, 20)
    assert idx[0] == 0 and idx[-1] == n - 1 and np.all(np.diff(idx) > 0)
    assert 18 <= len(idx) <= 20
    assert np.sum((idx >= 140) & (idx < 160)) >= 8  # half the picks sit in 10 % of the run
    np.testing.assert_array_equal(expensive_subset(acc, n, 0), np.arange(n))
    np.testing.assert_array_equal(expensive_subset(None, 5, 3), [0, 2, 4])


def test_layout_and_subset_rows(analysed):
    out, summary = analysed
    with h5py.File(out / "metrics.h5") as f:
        n, m = len(f["steps"]), f["metrics"]
        assert 16 <= summary["subset"] <= 24 and n == 51  # about 24; picks can coincide
        S = len(f["samples/label"])
        assert S == 1024  # the default sample, of 41² examples
        assert m["pca/activations/coords_h0"].shape == (n, S, 2)
        assert m["pca/activations/evr_h0"].shape == (n, 10)
        assert m["pca/gradients/coords"].shape == (n, 256, 2)
        assert m["pca/last_layer/pairs"].shape == (n, 3, 41, 2)
        freqs = m["pca/last_layer"].attrs["plane_freqs"]
        assert m["pca/last_layer/planes"].shape[:2] == (n, len(eval(freqs)))
        assert m["embedding/cosine/matrix"].shape == (n, 41, 41)
        assert m["embedding/bimodality/hist"].shape == (n, 40)
        assert m["sparsity/softmax_gap_class"].shape == (n, 41)
        assert m["dropout/drc/accuracy"].shape == (n, 10)
        computed = m["dropout/variance"].attrs["computed_steps"]
        var = m["dropout/variance/variance"][()]
        assert len(computed) == summary["subset"]
        np.testing.assert_array_equal(f["steps"][()][np.isfinite(var)], computed)


def test_stored_geometry_agrees_with_sklearn_and_the_model(analysed, fast_run):
    """Recompute three families at one checkpoint from the checkpoint file alone."""
    out, _ = analysed
    with h5py.File(out / "metrics.h5") as f, Run(fast_run) as run:
        j = 20
        step = int(f["steps"][j])
        i = int(np.flatnonzero(run.steps == step)[0])
        E = run.param("embed.W_E", [i])[0][:41]
        W_U = run.param("unembed.W_U", [i])[0]
        m = f["metrics"]
        np.testing.assert_allclose(m["embedding/cosine/matrix"][j], cosine_similarity(E),
                                   atol=1e-6)
        ref = PCA(6, svd_solver="full").fit(W_U.T.astype(np.float64))
        pairs = m["pca/last_layer/pairs"][j]  # (3, 41, 2)
        coords = ref.transform(W_U.T.astype(np.float64))
        for c in range(6):
            ours = pairs[c // 2, :, c % 2]
            assert np.allclose(ours, coords[:, c], atol=1e-4) or np.allclose(
                ours, -coords[:, c], atol=1e-4), c
        # the activation PCA of the stored sample, against the model's own hidden layer
        index = f["samples/index"][()]
        params = {k: run.param(k, [i])[0] for k in run.param_names}
    from grokscan.analysis.replay import replay

    with Run(fast_run) as run:
        rp = replay(run)
    rp.load(params)
    _, hidden = rp.forward(rp.grid("add"))
    H = hidden[0].numpy()[index].astype(np.float64)
    ref = PCA(2, svd_solver="full").fit(H)
    with h5py.File(out / "metrics.h5") as f:
        ours = f["metrics/pca/activations/coords_h0"][j]
        evr = f["metrics/pca/activations/evr_h0"][j]
    np.testing.assert_allclose(evr[:2], ref.explained_variance_ratio_, rtol=1e-4)
    theirs = ref.transform(H)
    for c in range(2):
        scale = np.abs(theirs[:, c]).max()
        assert min(np.abs(ours[:, c] - theirs[:, c]).max(),
                   np.abs(ours[:, c] + theirs[:, c]).max()) < 1e-4 * scale


def test_grokking_shows_in_the_geometry(analysed):
    """2507.11645: the cosine matrix turns circulant (bands appear) and the variance of test
    accuracy under Monte-Carlo dropout peaks between memorisation (train accuracy 1.0) and
    generalisation (test accuracy 0.99). 2510.25966: the per-sample gradients of the test
    samples collapse onto few directions once they are classified correctly."""
    out, _ = analysed
    with h5py.File(out / "metrics.h5") as f:
        steps = f["steps"][()]
        train_acc, test_acc = f["scalars/train_acc"][()], f["scalars/test_acc"][()]
        m = f["metrics"]
        share = m["embedding/cosine/circulant_share"][()]
        var = m["dropout/variance/variance"][()]
        dim_test = m["pca/gradients/dim90_test"][()]
    assert share[0] < 0.05 and share[-1] > 0.6
    t_mem, t_gen = first_crossing(steps, train_acc, 1.0), first_crossing(steps, test_acc, 0.99)
    done = np.isfinite(var)
    peak = steps[done][np.argmax(var[done])]
    margin = 3 * 30  # three analysed checkpoints
    assert t_mem - margin <= peak <= t_gen + margin, (t_mem, peak, t_gen)
    first, last = dim_test[np.isfinite(dim_test)][[0, -1]]
    assert last < first / 4, (first, last)


def test_dropout_at_rate_zero(fast_run, tmp_path):
    """Rate 0: the variance over passes is exactly 0 and the DRC equals plain test accuracy."""
    s = FamilySettings(dropout_rate=0.0, dropout_passes=5)
    analyze(fast_run, tmp_path, Options(families=("dropout/variance", "dropout/drc"),
                                        steps=(500, 600), subset=0, settings=s, quiet=True))
    with h5py.File(tmp_path / "metrics.h5") as f:
        m = f["metrics"]
        assert np.all(m["dropout/variance/variance"][()] == 0)
        np.testing.assert_allclose(m["dropout/drc/accuracy"][:, 0], f["scalars/test_acc"][()],
                                   atol=1e-6)
        acc = m["dropout/drc/accuracy"][()]
        assert np.all(acc[:, -1] < acc[:, 0])  # dropping 90 % of the units hurts


def test_multiplication_keeps_the_zero_operands_in_its_data(tmp_path):
    """The multiplicative phase leaves out a = 0 and b = 0 (freqloss), the data does not: the
    DRC at rate 0 is the recorded test accuracy and the sample holds every pair."""
    cfg = fast_config(steps=20, every=10)
    cfg = dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, ops=("mul",), p=23))
    from grokscan.training import train

    train(cfg, tmp_path / "mul.h5", quiet=True)
    s = analyze(tmp_path / "mul.h5", tmp_path / "o", Options(
        families=("dropout/drc", "pca/activations", "freqloss"), subset=0, quiet=True))
    assert s["basis"] == "multiplicative"
    with h5py.File(tmp_path / "o/metrics.h5") as f:
        assert len(f["samples/label"]) == 23 * 23
        np.testing.assert_allclose(f["metrics/dropout/drc/accuracy"][:, 0],
                                   f["scalars/test_acc"][()], atol=1e-6)
        assert np.isfinite(f["metrics/freqloss/restricted_test"][()]).all()


def test_the_analysis_never_writes_over_its_input(fast_run, tmp_path):
    from grokscan.errors import GrokscanError

    out = tmp_path / "o"
    out.mkdir()
    victim = out / "metrics.h5"
    victim.write_bytes(fast_run.read_bytes())
    with pytest.raises(GrokscanError, match="would be overwritten by the analysis"):
        analyze(victim, out, Options(families=("norms",), quiet=True))
    assert victim.read_bytes() == fast_run.read_bytes()


def test_feature_cosine_against_sklearn():
    """The first layer's units' features (columns of hidden.0.W) compared pairwise: the mean
    |cosine| over distinct pairs and their histogram; two equal columns give a cosine of 1."""
    from grokscan.analysis.families import Setup
    from grokscan.analysis.families.weights import feature_cosine_family

    W = np.random.default_rng(0).normal(size=(2, 6, 5))
    W[1, :, 4] = W[1, :, 0]
    out = feature_cosine_family(Setup("x", 0, (), "additive", {}, [], []), {"hidden.0.W": W})
    for i in range(2):
        C = cosine_similarity(W[i].T)
        pairs = C[np.triu_indices(5, k=1)]
        np.testing.assert_allclose(out["mean_abs"][i], np.abs(pairs).mean())
        assert out["hist"][i].sum() == 10
    assert out["hist"][1][-1] >= 1  # the equal pair, in the last bin


def test_class_accuracy_counts_each_true_class_in_each_split():
    from grokscan.analysis.families import Setup
    from grokscan.analysis.families.replayed import class_accuracy_family

    setup = Setup("x", 0, (), "additive", {}, [], [], n_classes=3,
                  data_label=np.array([0, 0, 1, 1, 0, 1]),
                  data_train=np.array([True, True, True, False, False, False]))
    logits = np.eye(3)[[0, 1, 1, 0, 0, 1]]  # predicted 0, 1, 1, 0, 0, 1

    class Ck:
        outputs = (logits, [])

    out = class_accuracy_family(setup, Ck())
    np.testing.assert_array_equal(out["train"], [0.5, 1.0, np.nan])  # class 2: no example
    np.testing.assert_array_equal(out["test"], [1.0, 0.5, np.nan])


def test_the_cosine_null_of_a_multiplicative_basis_shuffles_the_matrix_it_scores(monkeypatch):
    """For a·b the scores read the cosine matrix of Z_P^* in discrete-log order (residue 0
    out); the shuffled null must shuffle that same (P − 1) × (P − 1) matrix: it then equals the
    null of an additive embedding of P − 1 residues that is the same matrix."""
    from types import SimpleNamespace

    from grokscan.analysis.families import weights as fam
    from grokscan.groups import discrete_log_order

    p, k = 13, 2
    order = discrete_log_order(p)  # order[i] = g**i mod p
    angle = 2 * np.pi * k * np.arange(p - 1) / (p - 1)
    ring = np.stack([np.cos(angle), np.sin(angle), 0.1 * np.ones(p - 1)], axis=1)
    E = np.zeros((p, 3))
    E[order] = ring  # residue g**i gets the i-th point of the ring
    E[0] = [0.3, -0.2, 1.0]  # residue 0: apart from the group
    calls = {}

    def matrix(setup, params):
        return calls["E"][None]

    monkeypatch.setattr(fam, "residue_matrix", matrix)
    calls["E"] = E
    mul = fam.cosine_family(SimpleNamespace(order=lambda: order), {})
    calls["E"] = ring
    add = fam.cosine_family(SimpleNamespace(order=lambda: None), {})
    for name in ("circulant_share", "band_contrast"):
        np.testing.assert_allclose(mul[name], add[name], rtol=1e-12)
        np.testing.assert_allclose(mul[f"{name}_null"], add[f"{name}_null"], rtol=1e-12)
        np.testing.assert_allclose(mul[f"{name}_null_hi"], add[f"{name}_null_hi"], rtol=1e-12)
