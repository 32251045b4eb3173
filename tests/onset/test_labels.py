"""The classes a run is judged in (grokscan/onset/labels.py), on constructed accuracies."""

import numpy as np

from grokscan.onset.labels import label, rising_at_the_end

STEPS = np.arange(0, 2001, 20)
MEMORISED = np.where(STEPS >= 200, 1.0, 0.5)


def test_grokking_no_delay_control_and_undecided():
    grok = np.where(STEPS >= 800, 0.95, 0.05)
    lab = label(STEPS, MEMORISED, grok)
    assert (lab.kind, lab.step_memorised, lab.step_test_50, lab.step_test_90) == \
        ("grokking", 200, 800, 800)
    assert label(STEPS, MEMORISED, np.where(STEPS >= 100, 0.9, 0.0)).kind == "no delay"
    flat = np.full(len(STEPS), 0.03)
    assert label(STEPS, MEMORISED, flat).kind == "control"
    # still rising when the budget ends: 0.05 → 0.45 over the last half
    rising = np.where(STEPS < 1000, 0.05, 0.05 + 0.4 * (STEPS - 1000) / 1000)
    assert label(STEPS, MEMORISED, rising).kind == "undecided"
    # a plateau below 0.5 that has stopped rising is a control
    plateau = np.minimum(0.4, 0.4 * STEPS / 800)
    assert label(STEPS, MEMORISED, plateau).kind == "control"
    # never memorised: a control, whatever its test accuracy does
    assert label(STEPS, np.full(len(STEPS), 0.6), rising).kind == "control"


def test_rising_is_the_last_quarter_against_the_one_before():
    y = np.zeros(len(STEPS))
    y[STEPS >= 1500] = 0.011  # mean of the last quarter 0.011 above the third's
    assert rising_at_the_end(STEPS, y)
    y[STEPS >= 1500] = 0.009
    assert not rising_at_the_end(STEPS, y)
    assert not rising_at_the_end(STEPS[:3], y[:3])  # too short to say
