import numpy as np
import pytest
from scipy.stats import kurtosis, skew

import grokscan.metrics.pca  # noqa: F401  (registers metrics for test_registry)
import grokscan.metrics.weights  # noqa: F401
from grokscan.errors import GrokscanError
from grokscan.metrics.embedding import (
    band_contrast,
    bimodality_coefficient,
    circulant_share,
    cosine_matrix,
    embedding_bimodality,
    two_mode_fit,
)


def _fourier_embedding(p, k):
    t = np.arange(p)
    return np.stack([np.cos(2 * np.pi * k * t / p), np.sin(2 * np.pi * k * t / p)], axis=1)


def test_cosine_matrix_definition_and_zero_rows():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((7, 5))
    E[3] = 0.0
    C = cosine_matrix(E)
    for a in range(7):
        for b in range(7):
            na, nb = np.linalg.norm(E[a]), np.linalg.norm(E[b])
            want = 0.0 if na == 0 or nb == 0 else E[a] @ E[b] / (na * nb)
            assert C[a, b] == pytest.approx(want, abs=1e-12)


def test_cosine_matrix_of_a_fourier_embedding_is_exactly_circulant():
    p, k = 17, 3
    C = cosine_matrix(_fourier_embedding(p, k))
    d = np.subtract.outer(np.arange(p), np.arange(p))
    np.testing.assert_allclose(C, np.cos(2 * np.pi * k * d / p), atol=1e-12)
    assert circulant_share(C) == pytest.approx(1.0, abs=1e-12)


def test_circulant_share_extremes():
    rng = np.random.default_rng(1)
    n = 31
    c = rng.standard_normal(n)
    circ = c[np.subtract.outer(np.arange(n), np.arange(n)) % n]
    assert circulant_share(circ) == pytest.approx(1.0, abs=1e-12)
    assert circulant_share(circ, include_diagonal=True) == pytest.approx(1.0, abs=1e-12)
    A = rng.standard_normal((n, n))
    assert circulant_share(A) < 0.2
    assert circulant_share(A + A.T) < 0.2
    assert circulant_share(np.full((5, 5), 0.3)) == 1.0


def test_circulant_share_equals_explicit_least_squares():
    # Independent reference: regress the off-diagonal entries on one indicator per diagonal.
    rng = np.random.default_rng(2)
    n = 9
    C = rng.standard_normal((n, n)) + np.cos(np.subtract.outer(np.arange(n), np.arange(n)))
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    y = C[i, j]
    X = np.eye(n)[(i - j) % n][:, 1:]
    fit = X @ np.linalg.lstsq(X, y, rcond=None)[0]
    want = 1 - np.sum((y - fit) ** 2) / np.sum((y - y.mean()) ** 2)
    assert circulant_share(C) == pytest.approx(want, abs=1e-12)


def test_circulant_share_in_discrete_log_order():
    # Multiplication on Z_P^*: C(a, b) depends on log a - log b, circulant only in log order.
    P, g, k = 13, 2, 2
    order = np.array([pow(g, i, P) for i in range(P - 1)])
    E = np.zeros((P, 2))
    E[order] = _fourier_embedding(P - 1, k)
    E[0] = 1.0  # residue 0 is outside the group
    C = cosine_matrix(E)
    assert circulant_share(C, order=order) == pytest.approx(1.0, abs=1e-12)
    assert circulant_share(C[1:, 1:]) < 0.5


def _band_contrast_reference(C):
    """Loop over every band with explicit masks."""
    n = len(C)
    i, j = np.indices((n, n))
    off = i != j
    bands = [off & (((i - j) % n == d) | ((j - i) % n == d)) for d in range(1, n // 2 + 1)]
    bands += [off & ((i + j) % n == s) for s in range(n)]
    best = -np.inf
    for band in bands:
        rest = C[off & ~band]
        best = max(best, (C[band].mean() - rest.mean()) / rest.std())
    return best


@pytest.mark.parametrize("n", [11, 12])
def test_band_contrast_matches_explicit_masks(n):
    rng = np.random.default_rng(n)
    C = rng.standard_normal((n, n))
    assert band_contrast(C) == pytest.approx(_band_contrast_reference(C), rel=1e-10)


def test_band_contrast_detects_a_band():
    rng = np.random.default_rng(3)
    n = 41
    noise = 0.1 * rng.standard_normal((n, n))
    noise = (noise + noise.T) / np.sqrt(2)
    i, j = np.indices((n, n))
    diag_band = np.where((i - j) % n == 5, 1.0, 0.0)
    diag_band = diag_band + diag_band.T
    anti_band = np.where(((i + j) % n == 7) & (i != j), 1.0, 0.0)
    for band in (diag_band, anti_band):
        C = noise + band
        want = _band_contrast_reference(C)
        assert band_contrast(C) == pytest.approx(want, rel=1e-10)
        assert band_contrast(C) > 8  # ≈ 1 / 0.1
    assert band_contrast(noise) < 1.0
    assert band_contrast(np.ones((6, 6))) == 0.0


def test_bimodality_coefficient_matches_scipy():
    x = np.random.default_rng(4).gamma(2.0, size=(3, 50))
    g = skew(x, axis=-1, bias=False)
    kappa = kurtosis(x, axis=-1, bias=False)
    n = 50
    want = (g**2 + 1) / (kappa + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    np.testing.assert_allclose(bimodality_coefficient(x), want, rtol=1e-12)


def _two_peaks(rng, n=4000):
    side = rng.random(n) < 0.5
    return np.where(side, 0.4, -0.4) + 0.05 * rng.standard_normal(n)


def test_bimodal_embeddings_are_detected_and_fitted():
    rng = np.random.default_rng(5)
    x = _two_peaks(rng)
    assert bimodality_coefficient(x) > 5 / 9
    assert bimodality_coefficient(rng.standard_normal(4000)) < 5 / 9
    assert embedding_bimodality(x.reshape(80, 50)) == pytest.approx(bimodality_coefficient(x))
    fit = two_mode_fit(x)
    np.testing.assert_allclose(fit.means, [-0.4, 0.4], atol=0.02)
    np.testing.assert_allclose(fit.stds, [0.05, 0.05], atol=0.01)
    np.testing.assert_allclose(fit.weights, [0.5, 0.5], atol=0.05)


def test_two_mode_fit_unequal_weights_and_batch():
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(-1.0, 0.2, 300), rng.normal(2.0, 0.3, 700)])
    both = two_mode_fit(np.stack([x, -x]))
    np.testing.assert_allclose(both.means[0], [-1.0, 2.0], atol=0.05)
    np.testing.assert_allclose(both.means[1], [-2.0, 1.0], atol=0.05)
    np.testing.assert_allclose(both.weights[0], [0.3, 0.7], atol=0.02)
    np.testing.assert_allclose(both.stds[0], [0.2, 0.3], atol=0.03)


def test_square_input_is_checked():
    with pytest.raises(GrokscanError, match="square"):
        circulant_share(np.ones((4, 5)))
    with pytest.raises(GrokscanError, match="4 values"):
        bimodality_coefficient(np.ones(3))
