"""The registry of metric functions.

Every metric is a small numpy function: arrays in, arrays or floats out; no torch, no files, no
plotting. A metric is batched over leading axes: it takes ``x`` of shape ``(..., *core)`` and
returns an array whose shape starts with the same leading axes. ``METRICS`` maps a name such as
``fourier/gini`` to its :class:`Metric` (these are functions; the metric families of
``grokscan analyze``, grokscan/analysis/families/, are built from them); one parametrized
test (tests/metrics/test_registry.py) runs every entry through the same checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grokscan.errors import GrokscanError


@dataclass(frozen=True)
class Metric:
    name: str  # "<topic>/<name>", e.g. "fourier/gini"
    fn: Callable[..., np.ndarray]  # fn(x, **kwargs) -> ndarray of shape (..., *out_core)
    core_ndim: int  # number of trailing axes of x the metric consumes
    example_shape: tuple[int, ...]  # a valid core shape, used by the common registry test
    out_core: str  # documented trailing output shape, e.g. "()" or "(n_freq,)"


METRICS: dict[str, Metric] = {}


def register(
    name: str, *, core_ndim: int, example_shape: tuple[int, ...], out_core: str = "()"
) -> Callable:
    """Decorator that adds a metric function to ``METRICS`` under ``name``."""

    def wrap(fn: Callable) -> Callable:
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS[name] = Metric(name, fn, core_ndim, example_shape, out_core)
        return fn

    return wrap


def check_array(x, *, min_ndim: int, name: str = "x", finite: bool = True) -> np.ndarray:
    """Validate a metric input once, at the boundary.

    Returns ``x`` as a floating ndarray (float32 stays float32, everything else becomes float64).
    Raises GrokscanError naming the argument, what was expected and what arrived.
    """
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise GrokscanError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    if a.ndim < min_ndim:
        raise GrokscanError(
            f"{name}: expected an array with at least {min_ndim} dimensions, "
            f"got shape {a.shape}"
        )
    if a.dtype != np.float32:
        a = a.astype(np.float64, copy=False)
    if finite and not np.all(np.isfinite(a)):
        raise GrokscanError(f"{name}: expected finite values, found NaN or inf")
    return a
