import numpy as np
import pytest

import grokscan.metrics.embedding  # noqa: F401  (registers metrics for test_registry)
import grokscan.metrics.pca  # noqa: F401
from grokscan.errors import GrokscanError
from grokscan.metrics.weights import (
    autocorrelation_peak,
    inactive_fraction,
    small_weight_fraction,
    softmax_gap,
    weight_autocorrelation,
    weight_entropy,
    weight_norm,
)


@pytest.mark.parametrize("normalise", ["abs", "square"])
def test_weight_entropy_extremes(normalise):
    signs = np.where(np.arange(24) % 3 == 0, -1.0, 1.0).reshape(4, 6)
    assert weight_entropy(0.7 * signs, normalise=normalise) == pytest.approx(np.log(24))
    one = np.zeros((4, 6))
    one[2, 3] = -5.0
    assert weight_entropy(one, normalise=normalise) == 0.0
    assert weight_entropy(np.zeros((4, 6)), normalise=normalise) == 0.0


def test_weight_entropy_known_distribution_and_batch():
    W = np.array([[1.0, -1.0, 2.0, 0.0]])  # |w| -> (1/4, 1/4, 1/2, 0); w² -> (1/6, 1/6, 2/3, 0)
    p_abs, p_sq = np.array([0.25, 0.25, 0.5]), np.array([1, 1, 4]) / 6
    assert weight_entropy(W) == pytest.approx(-(p_abs * np.log(p_abs)).sum())
    assert weight_entropy(W, normalise="square") == pytest.approx(-(p_sq * np.log(p_sq)).sum())
    # Bias vectors: one layer axis.
    np.testing.assert_allclose(weight_entropy(np.ones((3, 5)), core_ndim=1), np.log(5))
    with pytest.raises(GrokscanError, match="normalise"):
        weight_entropy(W, normalise="softmax")


def test_autocorrelation_of_a_cosine_is_analytic():
    n, kp = 32, 3
    lags = np.arange(n)
    x = 1.7 * np.cos(2 * np.pi * kp * lags / n + 0.4)
    np.testing.assert_allclose(
        weight_autocorrelation(x), np.cos(2 * np.pi * kp * lags / n), atol=1e-12
    )


def test_autocorrelation_matches_the_sum_definition():
    x = np.random.default_rng(0).standard_normal((3, 10))
    direct = np.array([[np.sum(r * np.roll(r, k)) for k in range(10)] for r in x])  # x(l) x(l-k)
    np.testing.assert_allclose(weight_autocorrelation(x), direct / direct[:, :1], atol=1e-12)


def test_autocorrelation_of_white_noise_decays_and_peak_summary():
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((64, 512))
    corr = weight_autocorrelation(noise)
    assert np.all(corr[:, 0] == pytest.approx(1.0))
    assert np.abs(corr[:, 1:]).mean() < 0.05
    assert autocorrelation_peak(noise) < 0.25
    t = np.arange(512)
    periodic = np.cos(2 * np.pi * 8 * t / 512 + rng.uniform(0, 6, (64, 1)))
    assert autocorrelation_peak(periodic) == pytest.approx(1.0)  # lag 64 is one full period
    assert autocorrelation_peak(np.zeros((2, 8))) == 0.0


def test_weight_norm_and_small_weights():
    W = np.array([[3.0, -4.0], [0.005, -0.009]])
    assert weight_norm(W) == pytest.approx(np.sqrt(25 + 0.005**2 + 0.009**2))
    assert small_weight_fraction(W) == 0.5
    assert small_weight_fraction(W, tol=5.0) == 1.0
    np.testing.assert_allclose(weight_norm(np.stack([W, 2 * W])), np.array([1, 2]) * weight_norm(W))


def test_inactive_fraction_hand_made():
    acts = np.array(
        [
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 2.0, 0.5, 0.0],
            [0.0, 0.0, 0.0, 3.0],
            [0.0, 1.0, 0.0, 0.0],
        ]
    )  # unit 0 always off; unit 2 off 3/4; unit 3 off 3/4; unit 1 off 1/4
    assert inactive_fraction(acts) == 0.25
    assert inactive_fraction(acts, min_fraction=0.75) == 0.75
    assert inactive_fraction(acts, min_fraction=0.25) == 1.0
    np.testing.assert_array_equal(inactive_fraction(np.stack([acts, acts + 1])), [0.25, 0.0])
    with pytest.raises(GrokscanError, match="min_fraction"):
        inactive_fraction(acts, min_fraction=0.0)


def test_softmax_gap_hand_made():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]]))  # gaps 0.5 and 0
    assert softmax_gap(logits) == pytest.approx(0.25)
    # β = 2 squares the probabilities before renormalising.
    p2 = np.array([[49, 4, 1], [16, 16, 4]]) / np.array([[54], [36]])
    assert softmax_gap(logits, beta=2.0) == pytest.approx((p2[0, 0] - p2[0, 1]) / 2)
    assert softmax_gap(np.array([[1000.0, 0.0]])) == pytest.approx(1.0)  # no overflow
    with pytest.raises(GrokscanError, match="2 classes"):
        softmax_gap(np.ones((3, 1)))
