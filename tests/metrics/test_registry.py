"""One common check for every registered metric."""

import numpy as np
import pytest

from grokscan.errors import GrokscanError
from grokscan.metrics import METRICS

NAMES = sorted(METRICS)


def _example(metric, dtype, batch=(3,), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((*batch, *metric.example_shape)).astype(dtype)


@pytest.mark.parametrize("name", NAMES)
def test_metric_is_deterministic_finite_and_batched(name):
    m = METRICS[name]
    x = _example(m, np.float64)
    y1, y2 = np.asarray(m.fn(x)), np.asarray(m.fn(x))
    np.testing.assert_array_equal(y1, y2)
    assert np.all(np.isfinite(y1))
    assert y1.shape[:1] == (3,), f"{name}: leading batch axis lost, got {y1.shape}"
    core = np.asarray(m.fn(x[0]))
    np.testing.assert_allclose(core, y1[0], rtol=1e-10, atol=1e-12)
    if m.out_core == "()":
        assert y1.shape == (3,)


@pytest.mark.parametrize("name", NAMES)
def test_metric_accepts_float32(name):
    m = METRICS[name]
    x64 = _example(m, np.float64)
    y64 = np.asarray(m.fn(x64), dtype=np.float64)
    y32 = np.asarray(m.fn(x64.astype(np.float32)), dtype=np.float64)
    assert y32.shape == y64.shape
    np.testing.assert_allclose(y32, y64, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("name", NAMES)
def test_metric_rejects_wrong_rank_and_nan(name):
    m = METRICS[name]
    with pytest.raises(GrokscanError):
        m.fn(np.ones((2,) * (m.core_ndim - 1)) if m.core_ndim > 1 else np.float64(1.0))
    x = _example(m, np.float64)
    x[(0,) * x.ndim] = np.nan
    with pytest.raises(GrokscanError):
        m.fn(x)


def test_registry_is_not_empty():
    assert len(METRICS) >= 5
