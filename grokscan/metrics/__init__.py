"""Metrics: numpy in, numpy out (see registry.py). Importing this package fills ``METRICS``."""

from grokscan.metrics.registry import METRICS, Metric, check_array, families, register

__all__ = ["METRICS", "Metric", "check_array", "families", "register"]
