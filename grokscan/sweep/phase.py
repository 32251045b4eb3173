"""The learning phase of a run, after the phase diagrams of Liu et al.

Liu et al. (arXiv:2205.10343 §5; Omnigrok, arXiv:2210.01117 §3) sort runs into four phases:
comprehension (train and test fit together), grokking (test fits long after train),
memorisation (train fits, test never does) and confusion (train does not fit either). Their
diagrams count steps against fixed budgets of their own setting; grokscan states the rule in
terms of the run itself, so that it means the same for a run of 200 steps and of 20 000:

- a split *fits* at the first checkpoint where its accuracy is ≥ ``fit`` (0.9);
- confusion: train never fits within the run (and test does not either);
- memorisation: train fits, test never does within the run;
- grokking: test fits more than ``late`` × (train's fitting step) after train does, that is
  t_test − t_train > late · t_train (``late`` = 1: test takes over twice as long as train);
- comprehension: test fits sooner than that (or fits although train does not).

"Never within the run" depends on its length: a memorisation run may grok later.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

PHASES = ("comprehension", "grokking", "memorisation", "confusion")


@dataclass(frozen=True)
class PhaseRule:
    fit: float = 0.9  # the accuracy at which a split counts as fitted
    late: float = 1.0  # test fits "long after" train: t_test − t_train > late · t_train

    def describe(self) -> str:
        """The rule in one sentence, for captions."""
        return (f"a split fits at its first step with accuracy ≥ {self.fit:g}; grokking: test "
                f"fits more than {self.late:g} × train's fitting step after train; "
                "comprehension: sooner; memorisation: train fits, test never does; "
                "confusion: train never fits")


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def phase(train_step, test_step, rule: PhaseRule = PhaseRule()) -> str:
    """The phase of a run from the steps at which train and test accuracy first reach
    ``rule.fit`` (None or NaN: never within the run)."""
    if _missing(test_step):
        return "confusion" if _missing(train_step) else "memorisation"
    if _missing(train_step):
        return "comprehension"
    return "grokking" if test_step - train_step > rule.late * train_step else "comprehension"


def cell_phase(labels) -> tuple[str | None, int]:
    """The phase of a cell of a phase diagram: the commonest label of its runs (a tie goes to
    the phase listed first in PHASES) and how many runs have it; (None, 0) for no label."""
    counts = Counter(x for x in labels if x in PHASES)
    if not counts:
        return None, 0
    best = max(PHASES, key=lambda p: (counts[p], -PHASES.index(p)))
    return best, counts[best]
