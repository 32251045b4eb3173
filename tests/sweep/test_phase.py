"""Phase labels of constructed crossing steps, and the commonest label of a cell."""

import math

import pytest

from grokscan.sweep.phase import PhaseRule, cell_phase, phase


@pytest.mark.parametrize("train, test, want", [
    (40, 60, "comprehension"),       # test fits 20 steps after train: together
    (40, 80, "comprehension"),       # exactly late × train after: not "long after"
    (40, 81, "grokking"),
    (40, 2000, "grokking"),
    (40, None, "memorisation"),
    (40, math.nan, "memorisation"),  # a summary.csv read back gives NaN for "never"
    (None, None, "confusion"),
    (None, 300, "comprehension"),    # test fits although train never does
])
def test_phase(train, test, want):
    assert phase(train, test) == want


def test_the_rule_is_a_parameter():
    assert phase(40, 100, PhaseRule(late=2.0)) == "comprehension"
    assert phase(40, 121, PhaseRule(late=2.0)) == "grokking"
    assert "≥ 0.9" in PhaseRule().describe()


def test_cell_phase_is_the_commonest_label():
    assert cell_phase(["grokking", "memorisation", "grokking"]) == ("grokking", 2)
    assert cell_phase(["memorisation", "grokking"]) == ("grokking", 1)  # tie: PHASES order
    assert cell_phase([]) == (None, 0)
    assert cell_phase([float("nan")]) == (None, 0)  # a failed run has no label
