"""Metrics: numpy in, numpy out (see registry.py). Importing this package fills ``METRICS``."""

# importing the metric modules fills the registry
from grokscan.metrics import embedding, fourier, pca, weights  # noqa: E402, F401, I001
from grokscan.metrics.registry import METRICS, Metric, check_array, register

__all__ = ["METRICS", "Metric", "check_array", "register"]
