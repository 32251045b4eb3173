"""grokscan.analysis.replay: the model rebuilt from a checkpoint file computes what a numpy
forward pass of the stored parameters (read with h5py) computes, on inputs built by hand."""

import h5py
import numpy as np
import pytest
import torch

from grokscan.analysis.replay import replay
from grokscan.config import ModelConfig, RunConfig, TrainConfig
from grokscan.errors import GrokscanError
from grokscan.recorder import Recorder
from grokscan.store.reader import Run
from grokscan.tasks.modular import ModularConfig
from grokscan.training import train

P = 11


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("replay")
    cfgs = {
        "single": RunConfig(ModularConfig(ops=("add",), p=P, frac=0.5),
                            ModelConfig(d_embed=8, width=16),
                            TrainConfig(steps=20, every=5, lr=3e-2)),
        "multi": RunConfig(ModularConfig(ops=("add", "mul", "x2+xy+y2"), p=P, frac=0.5),
                           ModelConfig(d_embed=6, width=12, depth=2),
                           TrainConfig(steps=10, every=5, lr=3e-2)),
    }
    out = {}
    for name, cfg in cfgs.items():
        out[name] = d / f"{name}.h5"
        train(cfg, out[name], quiet=True)
    return out


def _h5_params(path, k):
    with h5py.File(path, "r") as f:
        return {name: f["params"][name][k] for name in f["params"]}


def _n_checkpoints(path):
    with h5py.File(path, "r") as f:
        return len(f["steps"])


def _numpy_forward(params, tokens):
    """The MLP by hand: the embedding rows of the tokens concatenated, then x @ W + b and ReLU
    per hidden layer, then x @ W_U + b_U. float64 throughout."""
    E = params["embed.W_E"].astype(np.float64)
    x = np.concatenate([E[tokens[:, j]] for j in range(tokens.shape[1])], axis=1)
    i = 0
    while f"hidden.{i}.W" in params:
        x = x @ params[f"hidden.{i}.W"].astype(np.float64)
        if f"hidden.{i}.b" in params:
            x = x + params[f"hidden.{i}.b"]
        x = np.maximum(x, 0.0)
        i += 1
    x = x @ params["unembed.W_U"].astype(np.float64)
    if "unembed.b_U" in params:
        x = x + params["unembed.b_U"]
    return x


def _grid_tokens(p, op_token=None):
    """Row a·p + b: (a, b), or (a, op, b) with the operation's token."""
    a = np.repeat(np.arange(p), p)
    b = np.tile(np.arange(p), p)
    cols = [a] + ([np.full(p * p, op_token)] if op_token is not None else []) + [b]
    return np.stack(cols, axis=1)


def test_the_grid_of_one_operation():
    a, b = 3, 7
    tokens = _grid_tokens(P)
    assert tokens[a * P + b].tolist() == [a, b]  # the reference itself, by hand


def test_grid_rows_hold_a_and_b(runs):
    with Run(runs["single"]) as run:
        rp = replay(run)
    g = rp.grid("add")
    assert isinstance(g, torch.Tensor) and g.dtype == torch.int64
    assert tuple(g.shape) == (P * P, 2)
    np.testing.assert_array_equal(g.numpy(), _grid_tokens(P))
    for a, b in ((0, 0), (0, 10), (4, 9), (10, 0), (10, 10)):
        assert g[a * P + b].tolist() == [a, b]


def test_grid_rows_of_a_multi_op_run_hold_the_op_token(runs):
    with Run(runs["multi"]) as run:
        rp = replay(run)
    for i, op in enumerate(("add", "mul", "x2+xy+y2")):
        g = rp.grid(op).numpy()
        assert g.shape == (P * P, 3)
        np.testing.assert_array_equal(g, _grid_tokens(P, op_token=P + i))
        assert g[5 * P + 2].tolist() == [5, P + i, 2]


@pytest.mark.parametrize("name", ["single", "multi"])
def test_logits_equal_a_numpy_forward_pass(runs, name):
    path = runs[name]
    n = _n_checkpoints(path)
    assert n >= 3
    with Run(path) as run:
        rp = replay(run)
        ops = run.config.task.ops
    assert not rp.model.training  # eval mode
    for k in range(n):
        params = _h5_params(path, k)
        rp.load(params, step=k)
        for i, op in enumerate(ops):
            tokens = _grid_tokens(P, op_token=P + i if len(ops) > 1 else None)
            logits, hidden = rp.forward(torch.from_numpy(tokens))
            want = _numpy_forward(params, tokens)
            assert logits.shape == (P * P, P)
            np.testing.assert_allclose(logits.numpy(), want, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name} checkpoint {k} {op}")
            assert len(hidden) == rp.cfg.model.depth
            assert all(h.shape == (P * P, rp.cfg.model.width) for h in hidden)
            assert all((h >= 0).all() for h in hidden)  # after ReLU


def test_different_checkpoints_give_different_logits(runs):
    # the load takes effect: the first and the last checkpoint differ after training
    path = runs["single"]
    with Run(path) as run:
        rp = replay(run)
    x = rp.grid("add")
    rp.load(_h5_params(path, 0))
    first = rp.forward(x)[0].clone()
    rp.load(_h5_params(path, _n_checkpoints(path) - 1))
    last = rp.forward(x)[0]
    assert not torch.allclose(first, last)


@pytest.mark.parametrize("name", ["single", "multi"])
def test_accuracy_of_the_replayed_model_is_the_recorded_one(runs, name):
    path = runs[name]
    with h5py.File(path, "r") as f:
        ex, labels, train_mask = f["task/examples"][()], f["task/labels"][()], f["task/train"][()]
        recorded = {k: f["scalars"][k][()] for k in ("train_acc", "test_acc")}
        n_ops = len(set(ex[:, 1].tolist()))
    cols = [ex[:, 0]] + ([P + ex[:, 1]] if n_ops > 1 else []) + [ex[:, 2]]
    tokens = np.stack(cols, axis=1).astype(np.int64)
    with Run(path) as run:
        rp = replay(run)
    np.testing.assert_array_equal(rp.inputs("train").numpy(), tokens[train_mask])
    np.testing.assert_array_equal(rp.inputs("test").numpy(), tokens[~train_mask])
    for k in range(_n_checkpoints(path)):
        params = _h5_params(path, k)
        rp.load(params, step=k)
        pred = rp.forward(torch.from_numpy(tokens))[0].numpy().argmax(1)
        assert np.array_equal(pred, _numpy_forward(params, tokens).argmax(1))
        for which, mask in (("train_acc", train_mask), ("test_acc", ~train_mask)):
            acc = float(np.mean(pred[mask] == labels[mask]))
            assert acc == pytest.approx(recorded[which][k], abs=1e-6), (which, k)


@pytest.mark.parametrize("name,bad", [("embed.W_E", np.nan), ("hidden.0.b", np.inf),
                                      ("unembed.b_U", -np.inf)])
def test_load_refuses_nan_or_inf_naming_the_step(runs, name, bad):
    path = runs["single"]
    with Run(path) as run:
        rp = replay(run)
    params = _h5_params(path, 1)
    params[name] = params[name].copy()
    params[name].flat[0] = bad
    with pytest.raises(GrokscanError, match=rf"{name}.*at step 5\b"):
        rp.load(params, step=5)
    with pytest.raises(GrokscanError, match=name) as e:
        rp.load(params)
    assert "step" not in str(e.value)


def test_replay_of_a_file_without_a_config(tmp_path):
    path = tmp_path / "noconfig.h5"
    model = torch.nn.Linear(3, 2)
    with Recorder(path, model) as rec:
        rec.record(0, loss=1.0)
        rec.record(10, loss=0.5)
    with h5py.File(path, "r") as f:
        assert f.attrs["config"] == "null"
    with Run(path) as run:
        assert run.config is None and run.n == 2
        with pytest.raises(GrokscanError, match="no config"):
            replay(run)
