"""The in-loop onset detector (grokscan/onset/live.py) on constructed series whose onset is
known, and its signals against the analysis' own measures."""

import math

import numpy as np
import pytest
import torch

from grokscan.errors import GrokscanError
from grokscan.metrics import fourier as fm
from grokscan.onset.live import (
    SIGNALS,
    OnsetModel,
    Source,
    features,
    replay,
    shipped,
    signals,
    trail,
    window,
)
from grokscan.store.layout import Layout

GINI_ONLY = OnsetModel(("gini_embed",), (4.0,), -6.0, (0.0,), (1.0,), 0.5, "constructed")


def constructed(n=600, memorised=200, onset=400, seed=0):
    """Rows in SIGNALS order: train accuracy reaches 1 at ``memorised``; the Gini is 0.3 with
    noise 0.01 until ``onset`` and rises by 0.002 a step from there."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, len(SIGNALS)))
    steps = np.arange(n)
    rows[:, SIGNALS.index("train_acc")] = np.where(steps >= memorised, 1.0, 0.5)
    gini = 0.3 + 0.01 * rng.standard_normal(n) + 0.002 * np.maximum(0, steps - onset)
    rows[:, SIGNALS.index("gini_embed")] = gini
    rows[:, SIGNALS.index("train_loss")] = 1.0
    return steps, rows


def test_the_flag_fires_after_the_built_onset_and_not_before():
    steps, rows = constructed()
    scores, mon = replay(steps, rows, GINI_ONLY)
    assert mon.memorised == 200
    assert np.isnan(scores[:200 + window(200)]).all()  # no score before the plateau is known
    # z = 3 (log1p: 1.39, the model's 0.5 point is at 1.5) needs the trailing mean 0.03 above
    # the level: about 15 steps of the rise, plus the hold
    assert mon.flag is not None and 400 < mon.flag < 400 + 40, mon.flag
    assert np.nanmax(scores[:400]) < 0.5
    assert "memorised at step 200" in mon.reason


def test_the_score_is_causal():
    steps, rows = constructed()
    full, _ = replay(steps, rows, GINI_ONLY)
    for cut in (250, 410, 455):
        part, _ = replay(steps[:cut], rows[:cut], GINI_ONLY)
        np.testing.assert_array_equal(part, full[:cut])


def test_no_rise_no_flag_and_no_memorisation_says_so():
    steps, rows = constructed(onset=10**6)
    _, mon = replay(steps, rows, GINI_ONLY)
    assert mon.flag is None and "stayed below" in mon.reason
    rows[:, SIGNALS.index("train_acc")] = 0.5
    scores, mon = replay(steps, rows, GINI_ONLY)
    assert mon.flag is None and mon.memorised is None and np.isnan(scores).all()
    assert mon.reason == "train accuracy never reached 0.99"


def test_a_nan_signal_gives_no_flag_and_a_reason():
    steps, rows = constructed()
    rows[300:, SIGNALS.index("gini_embed")] = np.nan
    _, mon = replay(steps, rows, GINI_ONLY)
    assert mon.flag is None and "not finite" in mon.reason


def test_the_time_scale_follows_memorisation():
    for m in (40, 200, 2000):
        steps, rows = constructed(n=3 * m + 300, memorised=m, onset=2 * m)
        _, mon = replay(steps, rows, GINI_ONLY)
        assert mon.flag is not None and 2 * m < mon.flag
    assert (window(20), trail(20)) == (5, 3) and (window(2000), trail(2000)) == (200, 100)


def test_features_are_what_the_monitor_scores():
    steps, rows = constructed()
    f = features(steps, rows, ("gini_embed",))
    scores, _ = replay(steps, rows, GINI_ONLY)
    ok = ~np.isnan(scores)
    np.testing.assert_allclose(GINI_ONLY.probability(f[ok]), scores[ok])
    assert np.isnan(f[~ok]).all()


def test_test_set_names_are_refused():
    src = Source((), (), None, 0)
    with pytest.raises(GrokscanError, match="'test_acc' is a test-set quantity"):
        signals({"w": np.ones(2)}, None, src, train_loss=1.0, test_acc=0.5)


def test_the_spectral_signals_equal_the_analysis_measures():
    p, d = 13, 6
    rng = np.random.default_rng(1)
    emb, unembed = rng.standard_normal((p + 2, d)), rng.standard_normal((d, p))
    grad = rng.standard_normal((p + 2, d))
    layout = Layout(({"param": "E", "start": 0, "stop": p, "operand": "a,b"},), ("U",))
    params = {"E": torch.tensor(emb, dtype=torch.float32),
              "U": torch.tensor(unembed, dtype=torch.float32)}
    out = signals(params, {"E": torch.tensor(grad, dtype=torch.float32)},
                  Source.of(layout, p, False, p), train_loss=0.5, train_acc=1.0)
    basis = fm.additive_basis(p)
    ne, nl, ng = (fm.fourier_norms(w, basis) for w in (emb[:p], unembed.T, grad[:p]))
    for name, want in (("gini_embed", fm.gini(ne)), ("entropy_embed", fm.spectral_entropy(ne)),
                       ("gini_logit", fm.gini(nl)), ("entropy_logit", fm.spectral_entropy(nl)),
                       ("gini_grad", fm.gini(ng)),
                       ("weight_norm", math.sqrt((emb ** 2).sum() + (unembed ** 2).sum()))):
        assert out[name] == pytest.approx(want, rel=1e-5), name
    assert (out["train_loss"], out["train_acc"]) == (0.5, 1.0)


def test_the_model_file_is_checked():
    text = GINI_ONLY.to_json()
    assert OnsetModel.from_json(text) == GINI_ONLY
    with pytest.raises(GrokscanError, match="onset model version 99; this grokscan reads "
                                            "version 1"):
        OnsetModel.from_json(text.replace('"version": 1', '"version": 99'))
    with pytest.raises(GrokscanError, match="expected a grokscan-onset-model file"):
        OnsetModel.from_json("{}")
    with pytest.raises(GrokscanError, match="unknown signal"):
        OnsetModel(("test_acc",), (1.0,), 0.0, (0.0,), (1.0,), 0.5, "")
    assert set(shipped().signals) <= set(SIGNALS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_signals_of_a_model_on_the_gpu_equal_those_on_the_cpu():
    p, d = 13, 6
    rng = np.random.default_rng(2)
    layout = Layout(({"param": "E", "start": 0, "stop": p, "operand": "a,b"},), ("U",))
    params = {"E": torch.tensor(rng.standard_normal((p + 2, d)), dtype=torch.float32),
              "U": torch.tensor(rng.standard_normal((d, p)), dtype=torch.float32)}
    grads = {"E": torch.tensor(rng.standard_normal((p + 2, d)), dtype=torch.float32)}
    src = Source.of(layout, p, False, p)
    cpu = signals(params, grads, src, train_loss=0.5, train_acc=1.0)
    gpu = signals({k: v.cuda() for k, v in params.items()},
                  {k: v.cuda() for k, v in grads.items()}, src, train_loss=0.5, train_acc=1.0)
    assert gpu == pytest.approx(cpu, rel=1e-5)
