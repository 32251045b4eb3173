import numpy as np
import pytest
from sklearn.decomposition import PCA

import grokscan.metrics.embedding  # noqa: F401  (registers metrics for test_registry)
import grokscan.metrics.weights  # noqa: F401
from grokscan.errors import GrokscanError
from grokscan.metrics.pca import (
    explained_variance_ratio,
    frequency_plane,
    last_layer_pca,
    n_components_for,
    pca,
    pca_dimension,
)


def _assert_same_up_to_sign(a, b, atol):
    """Columns of a equal columns of b, each possibly negated."""
    signs = np.sign((a * b).sum(axis=0))
    np.testing.assert_allclose(a * signs, b, atol=atol)


@pytest.mark.parametrize("shape", [(60, 7), (40, 3000)])  # tall, and wide (features >> samples)
def test_pca_agrees_with_sklearn(shape):
    rng = np.random.default_rng(1)
    # Distinct variances per direction, so that components are well defined.
    X = rng.standard_normal(shape) * np.linspace(3.0, 0.5, shape[1]) + 2.0
    res = pca(X, 4)
    ref = PCA(n_components=4, svd_solver="full").fit(X)
    np.testing.assert_allclose(
        res.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-8
    )
    _assert_same_up_to_sign(res.coords, ref.transform(X), atol=1e-8)
    _assert_same_up_to_sign(res.components.T, ref.components_.T, atol=1e-8)
    np.testing.assert_allclose(res.components @ res.components.T, np.eye(4), atol=1e-10)


def test_pca_sign_convention_largest_loading_positive():
    rng = np.random.default_rng(2)
    for X in (rng.standard_normal((30, 5)), rng.standard_normal((5, 30))):
        comps = pca(X, 3).components
        rows = np.arange(3)
        assert np.all(comps[rows, np.abs(comps).argmax(axis=1)] > 0)


def test_pca_is_batched_over_checkpoints():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 25, 40))
    batched = pca(X, 2)
    for t in range(3):
        single = pca(X[t], 2)
        for got, want in zip(batched, single):
            np.testing.assert_allclose(got[t], want, atol=1e-12)


def test_pca_rejects_too_many_components():
    with pytest.raises(GrokscanError, match="n_components"):
        pca(np.ones((4, 3)), 4)


@pytest.mark.parametrize("n, f", [(200, 50), (30, 2000)])  # covariance path and Gram path
def test_dim90_counts_strong_directions(n, f):
    rng = np.random.default_rng(4)
    strong = rng.standard_normal((n, 3)) * np.array([5.0, 4.0, 3.0])
    basis = np.linalg.qr(rng.standard_normal((f, 3)))[0].T  # 3 orthonormal directions in R^f
    X = strong @ basis + 1e-4 * rng.standard_normal((n, f))
    assert pca_dimension(X) == 3.0
    assert pca_dimension(X, threshold=0.3) == 1.0


def test_n_components_for_known_spectrum():
    r = np.array([[0.5, 0.3, 0.15, 0.05], [0.9, 0.05, 0.05, 0.0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(n_components_for(r), [3, 1, 0])
    np.testing.assert_array_equal(n_components_for(r, threshold=0.8), [2, 1, 0])
    ratios = explained_variance_ratio(np.random.default_rng(5).standard_normal((10, 6)))
    assert n_components_for(ratios, threshold=1.0) == 6
    np.testing.assert_allclose(ratios.sum(), 1.0)


def _circle_rows(p, k, h, noise, seed=0):
    rng = np.random.default_rng(seed)
    theta = 2 * np.pi * k * np.arange(p) / p
    W = noise * rng.standard_normal((p, h))
    W[:, 0] += np.cos(theta)
    W[:, 1] += np.sin(theta)
    return W, theta


def _angles_match_up_to_rotation_reflection(xy, theta, atol):
    phi = np.arctan2(xy[:, 1], xy[:, 0])
    for s in (1, -1):  # reflection
        d = np.angle(np.exp(1j * (s * phi - theta)))
        d = np.angle(np.exp(1j * (d - d[0])))  # remove the global rotation
        if np.max(np.abs(d)) < atol:
            return True
    return False


def test_last_layer_pca_draws_a_circle_at_the_class_angles():
    p, k = 23, 5
    W, theta = _circle_rows(p, k, h=16, noise=1e-3)
    res = last_layer_pca(W, n_components=6)
    assert res.planes.shape == (3, p, 2)
    np.testing.assert_array_equal(res.planes[1], res.coords[:, 2:4])
    radius = np.linalg.norm(res.planes[0], axis=1)
    np.testing.assert_allclose(radius, 1.0, atol=5e-3)
    assert _angles_match_up_to_rotation_reflection(res.planes[0], theta, atol=1e-2)
    assert res.explained_variance_ratio[:2].sum() > 0.99


def test_frequency_plane_recovers_angles():
    p, k = 21, 4
    W, theta = _circle_rows(p, k, h=12, noise=0.0)
    # Hide the circle in a random rotation of hidden space, add a second frequency elsewhere.
    Q = np.linalg.qr(np.random.default_rng(6).standard_normal((12, 12)))[0]
    W[:, 2] = np.cos(2 * np.pi * 7 * np.arange(p) / p)
    xy = frequency_plane(W @ Q, k)
    np.testing.assert_allclose(np.linalg.norm(xy, axis=1), 1.0, atol=1e-10)
    assert _angles_match_up_to_rotation_reflection(xy, theta, atol=1e-10)


def test_frequency_plane_with_discrete_log_order():
    # Rows indexed by residue t = g**i mod P; the circle lives in the index i.
    P, g, k = 11, 2, 3
    order = np.array([pow(g, i, P) for i in range(P - 1)])
    theta = 2 * np.pi * k * np.arange(P - 1) / (P - 1)
    W = np.zeros((P, 4))
    W[order, 0], W[order, 1] = np.cos(theta), np.sin(theta)
    xy = frequency_plane(W, k, order=order)
    assert xy.shape == (P - 1, 2)
    assert _angles_match_up_to_rotation_reflection(xy, theta, atol=1e-10)


def test_frequency_plane_rejects_constant_frequency():
    with pytest.raises(GrokscanError, match="k"):
        frequency_plane(np.ones((5, 3)), 5)


def test_gram_pca_agrees_with_sklearn_and_with_pca():
    from grokscan.metrics.pca import gram_pca

    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 300)) @ np.diag(np.linspace(3, 0.1, 300))
    coords, ratio = gram_pca(X @ X.T, 3)
    ref = PCA(3, svd_solver="full").fit(X)
    theirs = ref.transform(X)
    for c in range(3):
        assert min(np.abs(coords[:, c] - theirs[:, c]).max(),
                   np.abs(coords[:, c] + theirs[:, c]).max()) < 1e-8
    np.testing.assert_allclose(ratio[:3], ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(ratio, explained_variance_ratio(X)[: len(ratio)], atol=1e-12)
    assert ratio.sum() == pytest.approx(1.0)
    with pytest.raises(GrokscanError, match="square Gram matrix"):
        gram_pca(X, 2)
