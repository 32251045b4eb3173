"""grokscan.summary on constructed curves whose crossings are known, and on small config dicts
whose description is written out by hand."""

import dataclasses

import numpy as np
import pytest

from grokscan.config import ModelConfig, TrainConfig
from grokscan.summary import (
    THRESHOLDS,
    crossings,
    first_crossing,
    grokking_delay,
    model_line,
    optimizer_line,
)

STEPS = np.array([0, 10, 20, 50, 100, 400])


# --- first_crossing ------------------------------------------------------------------------------
@pytest.mark.parametrize("values,threshold,expected", [
    ([0.1, 0.3, 0.6, 0.8, 0.95, 1.0], 0.5, 20),
    ([0.1, 0.3, 0.6, 0.8, 0.95, 1.0], 0.9, 100),
    ([0.1, 0.3, 0.6, 0.8, 0.95, 1.0], 1.0, 400),      # reached at the last step only
    ([0.1, 0.3, 0.6, 0.8, 0.95, 0.98], 0.99, None),   # never reached
    ([0.7, 0.3, 0.6, 0.8, 0.95, 1.0], 0.5, 0),        # reached at the first step
    ([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 0.5, 0),         # exactly equal counts as reached
    ([0.0, 0.2, 0.9, 0.1, 0.9, 0.1], 0.9, 20),        # the first hit, not the last or a stable one
    ([0.0, 0.2, 0.5, 0.1, 0.9, 0.1], 0.9, 100),
    ([np.nan, np.nan, 0.99, 0.0, 0.0, 0.0], 0.99, 20),  # NaN never counts as reached
])
def test_first_crossing(values, threshold, expected):
    got = first_crossing(STEPS, np.array(values), threshold)
    assert got == expected
    if expected is not None:
        assert type(got) is int


def test_first_crossing_uses_the_steps_not_the_index():
    steps = np.array([3, 7, 1000, 1001])
    assert first_crossing(steps, np.array([0.0, 0.0, 0.2, 0.4]), 0.3) == 1001
    assert first_crossing(steps, [0.0, 0.5, 0.2, 0.4], 0.3) == 7  # a list is accepted too


def test_first_crossing_of_no_checkpoints_is_none():
    assert first_crossing(np.array([], dtype=np.int64), np.array([]), 0.5) is None


def test_first_crossing_of_a_value_just_below_the_threshold():
    v = np.array([0.0, np.nextafter(0.99, 0), 0.99])
    assert first_crossing(np.array([0, 1, 2]), v, 0.99) == 2


# --- crossings -----------------------------------------------------------------------------------
def _reference_crossing(steps, values, t):
    for s, v in zip(steps, values):
        if v >= t:
            return int(s)
    return None


def test_crossings_of_train_and_test():
    train = np.array([0.1, 0.55, 0.92, 0.995, 1.0, 1.0])
    test = np.array([0.0, 0.1, 0.2, 0.5, 0.91, 0.99])
    out = crossings(STEPS, {"train_acc": train, "test_acc": test, "train_loss": -train,
                            "lr": np.ones(6)})
    assert out == {"train_acc": {"0.5": 10, "0.7": 20, "0.8": 20, "0.9": 20, "0.99": 50},
                   "test_acc": {"0.5": 50, "0.7": 100, "0.8": 100, "0.9": 100, "0.99": 400}}
    for key, values in (("train_acc", train), ("test_acc", test)):
        for t in THRESHOLDS:
            assert out[key][str(t)] == _reference_crossing(STEPS, values, t)


def test_crossings_never_reached_and_missing_keys():
    out = crossings(STEPS, {"train_acc": np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7])})
    assert out == {"train_acc": {"0.5": 100, "0.7": 400, "0.8": None, "0.9": None,
                                 "0.99": None}}
    assert crossings(STEPS, {"loss": np.zeros(6)}) == {}


def test_the_thresholds_are_the_sweep_s_columns():
    """One tuple of thresholds: info, the report and a sweep's summary.csv report the same
    crossings."""
    from grokscan.sweep.table import COLUMNS

    assert THRESHOLDS == (0.5, 0.7, 0.8, 0.9, 0.99)
    assert [c for c in COLUMNS if c.startswith("step_")] == [
        f"step_{s}_{t:g}" for s in ("train", "test") for t in THRESHOLDS]


# --- grokking_delay ------------------------------------------------------------------------------
@pytest.mark.parametrize("train,test,expected", [
    ([0.2, 0.8, 0.99, 1.0, 1.0, 1.0], [0.0, 0.1, 0.2, 0.4, 0.995, 1.0], 100 - 20),
    ([0.2, 0.8, 0.99, 1.0, 1.0, 1.0], [0.0, 0.1, 0.2, 0.4, 0.6, 0.98], None),  # test never
    ([0.2, 0.8, 0.9, 0.9, 0.9, 0.9], [0.0, 0.1, 0.2, 0.4, 0.995, 1.0], None),  # train never
    ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0.99, 1.0, 1.0, 1.0, 1.0, 1.0], 0),     # together
    ([0.0, 0.0, 0.0, 0.0, 0.0, 0.99], [0.0, 0.99, 0.0, 0.0, 0.0, 0.0], 10 - 400),
])
def test_grokking_delay(train, test, expected):
    got = grokking_delay(STEPS, {"train_acc": np.array(train), "test_acc": np.array(test)})
    assert got == expected


def test_grokking_delay_without_the_accuracies():
    assert grokking_delay(STEPS, {"train_acc": np.ones(6)}) is None
    assert grokking_delay(STEPS, {"test_acc": np.ones(6)}) is None
    assert grokking_delay(STEPS, {}) is None


# --- model_line ----------------------------------------------------------------------------------
def _model(**kw) -> dict:
    return dataclasses.asdict(ModelConfig(**kw))


def test_model_line_of_the_default_mlp():
    line = model_line(_model(d_embed=32, width=128))
    assert line == "MLP, embedding 32 (concat) → 1 × 128 relu"


def test_model_line_of_the_ising_network():
    line = model_line(_model(d_in=64, depth=4, width=48, bias=False, init_scale=7.0))
    assert line == "MLP, 64 inputs → 4 × 48 relu, no biases, init × 7"


@pytest.mark.parametrize("kw,pieces,absent", [
    (dict(input="sum", d_embed=24, width=96, depth=2, activation="gelu"),
     ["MLP", "embedding 24 (sum)", "2 × 96 gelu"], ["no biases", "init", "dropout"]),
    (dict(input="onehot", width=200), ["MLP, one-hot → 1 × 200 relu"], ["embedding"]),
    (dict(dropout=0.25, width=64), ["dropout 0.25"], ["no biases"]),
    (dict(init_scale=0.5), ["init × 0.5"], []),
    (dict(init_scale=1.0, bias=True, dropout=0.0), [], ["init ×", "no biases", "dropout"]),
    (dict(bias=False), ["no biases"], []),
])
def test_model_line_pieces(kw, pieces, absent):
    line = model_line(_model(**kw))
    for piece in pieces:
        assert piece in line, (piece, line)
    for piece in absent:
        assert piece not in line, (piece, line)


def test_model_line_of_a_transformer():
    line = model_line(_model(kind="transformer", d_embed=128, n_heads=4, width=512, depth=2))
    assert line == "transformer, d_model 128, 4 heads, d_mlp 512 relu, 2 block(s)"
    assert "MLP" not in line and "embedding" not in line


def test_model_line_of_a_minimal_dict():
    # older files may lack keys: the defaults are relu, concat, biases, init 1, no dropout
    assert model_line({"d_embed": 8, "depth": 1, "width": 16}) == \
        "MLP, embedding 8 (concat) → 1 × 16 relu"


# --- optimizer_line ------------------------------------------------------------------------------
def _train(**kw) -> dict:
    return dataclasses.asdict(TrainConfig(**kw))


def test_optimizer_line_of_the_defaults():
    assert optimizer_line(_train()) == ("AdamW lr 0.01, weight decay 1.0, betas (0.9, 0.98), "
                                        "2000 steps, full batch, seed 0")


def test_optimizer_line_with_numbers_given():
    line = optimizer_line(_train(lr=3e-4, wd=0.05, beta1=0.8, beta2=0.95, steps=1234, seed=17))
    for piece in ("AdamW", "lr 0.0003", "weight decay 0.05", "betas (0.8, 0.95)", "1234 steps",
                  "seed 17", "full batch"):
        assert piece in line, (piece, line)
    assert "β" not in line and "batch 0" not in line


def test_optimizer_line_adam_batch_and_beta():
    line = optimizer_line(_train(optimizer="adam", batch_size=64, beta=2.0))
    assert line.startswith("Adam (L2 weight decay) lr 0.01")
    assert "AdamW" not in line
    assert ", batch 64" in line and "full batch" not in line
    assert ", softmax β 2," in line


@pytest.mark.parametrize("beta,shown", [(1.0, None), (0.5, "softmax β 0.5"),
                                        (1.5, "softmax β 1.5"), (10.0, "softmax β 10")])
def test_softmax_beta_is_shown_only_when_not_one(beta, shown):
    line = optimizer_line(_train(beta=beta))
    if shown is None:
        assert "β" not in line
    else:
        assert shown in line
