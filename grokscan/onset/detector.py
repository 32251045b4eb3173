"""The onset detector: one training-side signal, relative to its value at memorisation,
smoothed causally, crossing a threshold (the protocol: grokscan/onset/__init__.py)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.summary import MEMORISED

# a series is a test-set quantity when a part of its name (split on "/", "_", ".") is one of
# these: test_acc, test_loss, inverted_acc, val_loss, metrics of a test split ...
TEST_WORDS = frozenset({"test", "val", "valid", "validation", "inverted", "heldout", "eval"})
DIRECTIONS = ("rise", "fall")


@dataclass(frozen=True)
class OnsetSettings:
    """What the detector watches and when it fires; stored with every result."""

    signal: str = "fourier/gini_embed"  # the training-side series that drives the score
    direction: str = "rise"  # "rise": score = x/x_mem - 1; "fall": score = 1 - x/x_mem
    threshold: float = 0.5  # the score at which it flags (a relative change of 50 %)
    memorised: float = MEMORISED  # train accuracy at which memorisation is reached (the reference)
    smooth: int = 3  # checkpoints in the trailing mean that smooths the signal (1: none)
    hold: int = 2  # consecutive checkpoints at or above the threshold before it flags

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise GrokscanError(f"onset settings: direction: expected one of {DIRECTIONS}, "
                                f"got {self.direction!r}")
        if self.smooth < 1 or self.hold < 1:
            raise GrokscanError(f"onset settings: smooth and hold: expected ≥ 1, got "
                                f"{self.smooth} and {self.hold}")
        if not 0 < self.memorised <= 1:
            raise GrokscanError(f"onset settings: memorised: expected a train accuracy in "
                                f"(0, 1], got {self.memorised}")
        check_training_side([self.signal])

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class OnsetResult:
    """The detector's output over the checkpoints it saw."""

    steps: np.ndarray  # (n,) the checkpoints' steps
    score: np.ndarray  # (n,) the score at each checkpoint; NaN before memorisation
    step: int | None  # the step at which it flagged the onset, None if it did not
    reason: str  # which signal fired, and by how much; or why it did not
    memorisation: int | None  # the step of memorisation (the score's reference)
    settings: OnsetSettings


def is_test_side(name: str) -> bool:
    """Whether the series ``name`` is a test-set quantity (see TEST_WORDS)."""
    return any(w in TEST_WORDS for w in re.split(r"[/_.\s-]+", name.lower()))


def check_training_side(names) -> None:
    """A GrokscanError naming the first test-set series in ``names``."""
    bad = [n for n in names if is_test_side(n)]
    if bad:
        raise GrokscanError(f"onset: {bad[0]!r} is a test-set quantity; the detector takes "
                            "only training-side series (parameters, gradients, train-set "
                            "scalars and measures of the weights)")


def detect(steps, series: dict, settings: OnsetSettings | None = None) -> OnsetResult:
    """Run the detector over the checkpoints ``steps`` (n,), in order, with ``series``
    {name: (n,) array} holding ``train_acc`` and ``settings.signal``; any test-set series
    among them is refused. Causal: the score at checkpoint k depends on checkpoints 0..k only.
    """
    s = settings or OnsetSettings()
    check_training_side(series)
    steps = np.asarray(steps, dtype=np.int64)
    need = ("train_acc", s.signal)
    for name in need:
        if name not in series:
            raise GrokscanError(f"onset: expected a series {name!r}; got "
                                f"{sorted(series) or 'none'}")
        if np.shape(series[name]) != steps.shape:
            raise GrokscanError(f"onset: {name!r} has shape {np.shape(series[name])}; "
                                f"expected one value per checkpoint {steps.shape}")
    acc = np.asarray(series["train_acc"], dtype=np.float64)
    x = trailing_mean(np.asarray(series[s.signal], dtype=np.float64), s.smooth)
    score = np.full(len(steps), np.nan)
    hit = np.flatnonzero(acc >= s.memorised)
    if not hit.size:
        return OnsetResult(steps, score, None, f"train accuracy never reached {s.memorised:g}",
                           None, s)
    m = int(hit[0])
    ref = x[m]
    if not np.isfinite(ref) or ref == 0:
        return OnsetResult(steps, score, None, f"{s.signal} is {ref:g} at memorisation; no "
                           "relative change", int(steps[m]), s)
    rel = x[m:] / ref - 1.0
    score[m:] = rel if s.direction == "rise" else -rel
    k = first_held(score, s.threshold, s.hold)
    if k is None:
        best = np.nanmax(score) if np.isfinite(score).any() else float("nan")
        return OnsetResult(steps, score, None, f"{s.signal} {s.direction}: at most "
                           f"{best:+.0%} of its value at memorisation (threshold "
                           f"{s.threshold:.0%})", int(steps[m]), s)
    reason = (f"{s.signal} {s.direction}: {score[k]:+.0%} of its value at memorisation "
              f"(step {int(steps[m])}), ≥ {s.threshold:.0%} for {s.hold} checkpoint(s)")
    return OnsetResult(steps, score, int(steps[k]), reason, int(steps[m]), s)


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """The mean of x[max(0, k - window + 1) .. k] at each k (causal: no later value used)."""
    c = np.cumsum(np.insert(x, 0, 0.0))
    k = np.arange(1, len(x) + 1)
    lo = np.maximum(0, k - window)
    return (c[k] - c[lo]) / (k - lo)


def first_held(score: np.ndarray, threshold: float, hold: int) -> int | None:
    """The first index k at which score[k - hold + 1 .. k] are all ≥ threshold, else None."""
    above = np.nan_to_num(score, nan=-np.inf) >= threshold
    run = 0
    for k, a in enumerate(above):
        run = run + 1 if a else 0
        if run >= hold:
            return k
    return None
