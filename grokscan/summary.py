"""Small summaries of a run's recorded scalars, shared by ``info`` and the report."""

from __future__ import annotations

import numpy as np

THRESHOLDS = (0.5, 0.9, 0.99)


def first_crossing(steps: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """The first step at which ``values`` reaches ``threshold``, or None."""
    hit = np.flatnonzero(np.asarray(values) >= threshold)
    return int(steps[hit[0]]) if hit.size else None


def crossings(steps: np.ndarray, scalars: dict[str, np.ndarray]) -> dict[str, dict]:
    """{"train_acc": {"0.5": step, ...}, "test_acc": {...}} for the accuracies recorded."""
    return {
        key: {str(t): first_crossing(steps, scalars[key], t) for t in THRESHOLDS}
        for key in ("train_acc", "test_acc")
        if key in scalars
    }


def grokking_delay(steps: np.ndarray, scalars: dict[str, np.ndarray]) -> int | None:
    """Steps from train accuracy ≥ 0.99 to test accuracy ≥ 0.99 (None if either never does)."""
    c = crossings(steps, scalars)
    a, b = c.get("train_acc", {}).get("0.99"), c.get("test_acc", {}).get("0.99")
    return None if a is None or b is None else b - a
