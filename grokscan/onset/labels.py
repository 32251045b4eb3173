"""What a run is, for judging an onset detector: grokking, a control, undecided or with no
delay (the rule: docs/results/onset.md; grokscan/onset/__init__.py).

- *grokking*: test accuracy reaches 0.5 at a checkpoint after memorisation (the first
  checkpoint with train accuracy ≥ 0.99);
- *no delay*: test accuracy reaches 0.5 no later than memorisation (nothing to forecast);
- *undecided*: test accuracy never reaches 0.5 but is still rising when the run ends: its
  mean over the last quarter of the run's steps exceeds its mean over the quarter before by
  more than RISING (0.01); whether it would have grokked is not known;
- *control*: test accuracy never reaches 0.5 and is not rising at the end (flat, at chance or
  on a plateau), or the run never memorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokscan.summary import MEMORISED, first_crossing

RISING = 0.01
KINDS = ("grokking", "control", "undecided", "no delay")


@dataclass(frozen=True)
class Label:
    kind: str
    step_memorised: int | None
    step_test_50: int | None
    step_test_90: int | None


def label(steps, train_acc, test_acc) -> Label:
    """The class of a run from its checkpoints' steps, train and test accuracy."""
    steps = np.asarray(steps)
    test_acc = np.asarray(test_acc, float)
    mem = first_crossing(steps, np.asarray(train_acc, float), MEMORISED)
    t50 = first_crossing(steps, test_acc, 0.5)
    t90 = first_crossing(steps, test_acc, 0.9)
    if t50 is not None:
        kind = "grokking" if mem is not None and t50 > mem else "no delay"
    elif mem is not None and rising_at_the_end(steps, test_acc):
        kind = "undecided"
    else:
        kind = "control"
    return Label(kind, mem, t50, t90)


def rising_at_the_end(steps, test_acc) -> bool:
    """Whether the mean test accuracy over the last quarter of the run's steps exceeds the
    mean over the quarter before by more than RISING."""
    steps = np.asarray(steps, float)
    if len(steps) < 4 or steps[-1] <= steps[0]:
        return False
    q = steps[0] + (steps[-1] - steps[0]) * np.array([0.5, 0.75])
    third = test_acc[(steps >= q[0]) & (steps < q[1])]
    last = test_acc[steps >= q[1]]
    if not len(third) or not len(last):
        return False
    return float(last.mean() - third.mean()) > RISING
