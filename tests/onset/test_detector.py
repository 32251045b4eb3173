"""The onset detector on constructed series whose change point is known."""

import dataclasses

import numpy as np
import pytest

from grokscan.errors import GrokscanError
from grokscan.onset import OnsetSettings, detect, is_test_side
from grokscan.onset.detector import first_held, trailing_mean

STEPS = np.arange(0, 2000, 20)
MEM = 100  # train accuracy reaches 1 at step 100
CHANGE = 800  # the signal starts to rise here


def _series(change=CHANGE, slope=0.01, noise=0.0, seed=0):
    """train_acc steps to 1 at MEM; the Gini flat at 0.1 (with noise), then rising linearly
    by ``slope`` (absolute) per checkpoint from ``change``."""
    r = np.random.default_rng(seed)
    acc = np.where(STEPS >= MEM, 1.0, 0.3)
    gini = 0.1 + noise * r.standard_normal(len(STEPS))
    if change is not None:
        gini = gini + slope * np.maximum(0, (STEPS - change) / 20)
    return {"train_acc": acc, "fourier/gini_embed": gini}


def test_flags_a_known_change_point_within_tolerance():
    s = OnsetSettings(threshold=0.5, smooth=3, hold=2)
    res = detect(STEPS, _series(), s)
    # the raw signal reaches +50 % (0.15) five checkpoints after CHANGE; the trailing mean of
    # 3 lags one checkpoint; hold 2 adds one: the flag is at CHANGE + 7 checkpoints
    assert res.step == CHANGE + 7 * 20
    assert res.memorisation == MEM
    assert "gini_embed rise" in res.reason and res.settings == s
    assert np.isnan(res.score[STEPS < MEM]).all()
    assert res.score[STEPS == MEM][0] == pytest.approx(0.0)


def test_a_noisy_change_point_is_flagged_near_it():
    for seed in range(5):
        res = detect(STEPS, _series(noise=0.01, seed=seed), OnsetSettings())
        assert res.step is not None and CHANGE <= res.step <= CHANGE + 12 * 20


def test_a_flat_series_raises_no_flag():
    for seed in range(5):
        res = detect(STEPS, _series(change=None, noise=0.01, seed=seed), OnsetSettings())
        assert res.step is None
        assert "at most" in res.reason and np.nanmax(res.score) < 0.5


def test_no_memorisation_no_flag():
    series = _series()
    series["train_acc"] = np.full(len(STEPS), 0.5)
    res = detect(STEPS, series)
    assert res.step is None and res.memorisation is None and np.isnan(res.score).all()


def test_a_fall_is_scored_as_a_fall():
    series = {"train_acc": _series()["train_acc"],
              "norms/total": np.where(STEPS < CHANGE, 40.0, 40.0 - (STEPS - CHANGE) / 20)}
    s = OnsetSettings(signal="norms/total", direction="fall", threshold=0.099, smooth=1,
                      hold=1)
    # 10 % of 40 is 4 (a little less: rounding): four checkpoints after CHANGE
    assert detect(STEPS, series, s).step == CHANGE + 4 * 20
    rise = dataclasses.replace(s, direction="rise")
    assert detect(STEPS, series, rise).step is None


@pytest.mark.parametrize("key", ["test_acc", "test_loss", "inverted_acc", "val_loss",
                                 "fourier/test_gini"])
def test_a_test_set_series_is_refused(key):
    series = {**_series(), key: np.zeros(len(STEPS))}
    with pytest.raises(GrokscanError, match="test-set quantity"):
        detect(STEPS, series)
    with pytest.raises(GrokscanError, match="test-set quantity"):
        OnsetSettings(signal=key)
    assert is_test_side(key)


def test_training_side_names_are_accepted():
    for key in ("train_acc", "train_loss", "weight_norm", "fourier/gini_embed",
                "fourier/ffd_embed", "norms/total", "latest"):
        assert not is_test_side(key)


def test_causal_the_past_does_not_change_when_the_future_does():
    full = _series(noise=0.01)
    res = detect(STEPS, full)
    for k in (3, 10, 40, 60, len(STEPS) - 1):
        part = detect(STEPS[: k + 1], {n: v[: k + 1] for n, v in full.items()})
        np.testing.assert_array_equal(part.score, res.score[: k + 1])
        changed = {n: v.copy() for n, v in full.items()}
        changed["fourier/gini_embed"][k + 1:] = 5.0  # a very different future
        changed["train_acc"][k + 1:] = 1.0
        np.testing.assert_array_equal(detect(STEPS, changed).score[: k + 1],
                                      res.score[: k + 1])
        # the flag, if any, is at or before k exactly when the full run's is
        assert (part.step is not None) == (res.step is not None and res.step <= STEPS[k])


def test_a_series_of_the_wrong_length_or_missing_is_an_error():
    series = _series()
    with pytest.raises(GrokscanError, match="one value per checkpoint"):
        detect(STEPS[:-1], series)
    with pytest.raises(GrokscanError, match="expected a series 'fourier/gini_embed'"):
        detect(STEPS, {"train_acc": series["train_acc"]})


def test_settings_are_checked():
    with pytest.raises(GrokscanError, match="direction"):
        OnsetSettings(direction="up")
    with pytest.raises(GrokscanError, match="smooth and hold"):
        OnsetSettings(smooth=0)


def test_trailing_mean_and_first_held_against_direct_loops():
    x = np.random.default_rng(1).standard_normal(30)
    want = [x[max(0, k - 4): k + 1].mean() for k in range(30)]
    np.testing.assert_allclose(trailing_mean(x, 5), want)
    assert first_held(np.array([0, 1, 0, 1, 1, 1.0]), 1, 2) == 4
    assert first_held(np.array([np.nan, 1, 0.0]), 1, 2) is None
