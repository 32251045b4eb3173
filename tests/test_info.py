"""grokscan.info on tiny runs: what describe() says, checked against the schedule, the model
shapes computed by hand, and the file's own datasets read with h5py (not grokscan's reader)."""

import math
import os

import h5py
import pytest

from grokscan.config import ModelConfig, RunConfig, TrainConfig
from grokscan.info import describe, format_text
from grokscan.tasks.modular import ModularConfig
from grokscan.training import train

P, D, W = 11, 8, 16
STEPS, EVERY, DENSE_UNTIL, DENSE_EVERY = 42, 5, 10, 2


def _single():
    return RunConfig(ModularConfig(ops=("add",), p=P, frac=0.5), ModelConfig(d_embed=D, width=W),
                     TrainConfig(steps=STEPS, every=EVERY, dense_until=DENSE_UNTIL,
                                 dense_every=DENSE_EVERY, lr=3e-2, wd=0.1))


def _multi():
    return RunConfig(ModularConfig(ops=("add", "sub"), p=P, frac=0.5),
                     ModelConfig(d_embed=D, width=W, depth=2, bias=False),
                     TrainConfig(steps=12, every=4, grads=False))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("info")
    out = {}
    for name, cfg in (("single", _single()), ("multi", _multi())):
        out[name] = d / f"{name}.h5"
        train(cfg, out[name], quiet=True)
    return out


def _h5(path):
    """steps and scalars, straight from the file."""
    with h5py.File(path, "r") as f:
        return f["steps"][()], {k: f["scalars"][k][()] for k in f["scalars"]}


def _reference_crossing(steps, values, t):
    for s, v in zip(steps.tolist(), values.tolist()):
        if v >= t:
            return s
    return None


def test_checkpoints_follow_the_schedule(runs):
    d = describe(runs["single"])
    # step 0, every 5th step, every 2nd before step 10, and the last step
    want = sorted({s for s in range(STEPS + 1)
                   if s % EVERY == 0 or (s < DENSE_UNTIL and s % DENSE_EVERY == 0)} | {STEPS})
    assert want == [0, 2, 4, 5, 6, 8, 10, 15, 20, 25, 30, 35, 40, 42]
    assert d["n_checkpoints"] == len(want) == 14
    assert d["steps"] == [0, STEPS]
    steps, _ = _h5(runs["single"])
    assert steps.tolist() == want
    m = describe(runs["multi"])
    assert m["n_checkpoints"] == 4 and m["steps"] == [0, 12]  # 0, 4, 8, 12


def test_parameter_count_from_the_model_shapes(runs):
    d = describe(runs["single"])
    n_vocab = P + 1 + 1  # residues, one operation, '='
    shapes = {"embed.W_E": (n_vocab, D), "hidden.0.W": (2 * D, W), "hidden.0.b": (W,),
              "unembed.W_U": (W, P), "unembed.b_U": (P,)}
    assert {k: tuple(v) for k, v in d["params"].items()} == shapes
    assert d["n_params"] == sum(math.prod(s) for s in shapes.values())
    assert d["n_params"] == 13 * 8 + 16 * 16 + 16 + 16 * 11 + 11 == 563


def test_parameter_count_of_a_deeper_multi_op_model_without_biases(runs):
    d = describe(runs["multi"])
    n_vocab = P + 2 + 1
    shapes = {"embed.W_E": (n_vocab, D), "hidden.0.W": (3 * D, W), "hidden.1.W": (W, W),
              "unembed.W_U": (W, P)}
    assert {k: tuple(v) for k, v in d["params"].items()} == shapes
    assert d["n_params"] == 14 * 8 + 24 * 16 + 16 * 16 + 16 * 11 == 928
    with h5py.File(runs["multi"], "r") as f:
        assert sorted(f["params"]) == sorted(shapes)
        assert d["n_params"] == sum(math.prod(f["params"][k].shape[1:]) for k in f["params"])


def test_crossings_and_delay_from_the_file_scalars(runs):
    for path in runs.values():
        d = describe(path)
        steps, scalars = _h5(path)
        want = {key: {str(t): _reference_crossing(steps, scalars[key], t)
                      for t in (0.5, 0.7, 0.8, 0.9, 0.99)} for key in ("train_acc", "test_acc")}
        assert d["crossings"] == want
        a, b = want["train_acc"]["0.99"], want["test_acc"]["0.99"]
        assert d["grokking_delay"] == (None if a is None or b is None else b - a)
    # the single-op run crosses some thresholds and not others, so both cases are covered
    cells = [c for row in describe(runs["single"])["crossings"].values() for c in row.values()]
    assert any(c is None for c in cells) and any(c is not None for c in cells)


def test_final_values_are_the_last_rows(runs):
    for path in runs.values():
        d = describe(path)
        steps, scalars = _h5(path)
        assert d["scalars"] == sorted(scalars)
        assert {"train_acc", "test_acc", "train_loss", "test_loss", "lr"} <= set(scalars)
        assert d["final"].keys() == scalars.keys()
        for k, v in scalars.items():
            assert d["final"][k] == float(v[-1]), k
            assert type(d["final"][k]) is float


def test_task_summary_against_the_file(runs):
    for path, n_ops in ((runs["single"], 1), (runs["multi"], 2)):
        d = describe(path)
        with h5py.File(path, "r") as f:
            n_train = int(f["task/train"][()].sum())
            n_examples = len(f["task/labels"])
        assert n_examples == n_ops * P * P
        t = d["task"]
        assert t["kind"] == "modular" and t["p"] == P
        assert t["n_examples"] == n_examples and t["n_train"] == n_train
        assert n_train == n_ops * 60  # round(0.5 · 121) per operation, half to even
    assert describe(runs["single"])["task"]["ops"] == ["add"]
    assert describe(runs["single"])["task"]["line"] == "add mod 11, train fraction 0.5"
    assert describe(runs["multi"])["task"]["line"] == \
        "add, sub (one multi-task model) mod 11, train fraction 0.5"


def test_config_grads_and_file_facts(runs):
    d = describe(runs["single"])
    assert d["path"] == os.fspath(runs["single"])
    assert d["file_bytes"] == os.path.getsize(runs["single"])
    assert d["format_version"] == 4
    assert d["grads"] is True and describe(runs["multi"])["grads"] is False
    cfg = d["config"]
    assert cfg["task"]["p"] == P and cfg["model"]["d_embed"] == D and cfg["model"]["width"] == W
    assert cfg["model"]["n_classes"] == P  # filled in from the data
    assert cfg["train"]["steps"] == STEPS and cfg["train"]["lr"] == 3e-2
    with h5py.File(runs["single"], "r") as f:
        assert d["grokscan_version"] == str(f.attrs["grokscan_version"])


def test_format_text(runs):
    path = runs["single"]
    d = describe(path)
    text = format_text(d)
    lines = text.splitlines()
    assert lines[0].startswith(os.fspath(path))
    assert "task     add mod 11, train fraction 0.5" in lines
    assert "model    MLP, embedding 8 (concat) → 1 × 16 relu" in lines
    assert any(line.startswith("train    AdamW lr 0.03, weight decay 0.1") and
               line.endswith("warmup 10") for line in lines)
    assert "checkpoints 14, steps 0..42, with gradients" in lines
    assert "parameters 563:" in lines
    steps, scalars = _h5(path)
    for key in ("train_acc", "test_acc"):
        row = [line for line in lines if line.startswith(key + " ")]
        assert len(row) == 1, key
        for t in (0.5, 0.9, 0.99):
            s = _reference_crossing(steps, scalars[key], t)
            assert f"≥{t}: {'—' if s is None else s}" in row[0], (key, t, row[0])
    final = [line for line in lines if line.startswith("final")]
    assert len(final) == 1 and f"train_acc {scalars['train_acc'][-1]:.4g}" in final[0]


def test_format_text_without_gradients_or_delay(runs):
    text = format_text(describe(runs["multi"]))
    assert "checkpoints 4, steps 0..12\n" in text + "\n"
    assert "with gradients" not in text
    assert "no biases" in text and "2 × 16 relu" in text
    assert "parameters 928:" in text


def test_grokking_delay_line_only_when_known():
    # a describe() dict built by hand: the text shows the delay only when there is one
    d = {"path": "x.h5", "file_bytes": 2_500_000, "format_version": 1, "grokscan_version": "9",
         "task": {"line": "add mod 5, train fraction 0.5"}, "config": None,
         "n_checkpoints": 3, "steps": [0, 20], "grads": False, "n_params": 12345,
         "params": {"w": [3, 4]}, "final": {}, "crossings": {}, "grokking_delay": None,
         "writer": None, "crashed": False}
    text = format_text(d)
    assert text.splitlines()[0] == "x.h5  (2.5 MB, format v1, grokscan 9)"
    assert "parameters 12,345:" in text and "grokking delay" not in text
    assert "model" not in text and "final" not in text
    assert "grokking delay (train ≥ 0.99 → test ≥ 0.99): 70 steps" in \
        format_text({**d, "grokking_delay": 70})
