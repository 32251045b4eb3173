"""Forecasting grokking: a causal onset detector on training-side measures, and how it is
judged on held-out runs.

The detector (detector.py) sees a run's checkpoints in order and reads only what a user has
during training without a test set: train accuracy (to find memorisation) and one
training-side signal, such as the Gini coefficient or the spectral entropy of the embedding's
Fourier norms (``fourier/gini_embed``, ``fourier/entropy_embed``; Furuta et al.,
arXiv:2402.16726; Nanda et al., arXiv:2301.05217 §4), which rise and fall as a few frequencies
take over the embedding. At memorisation (train accuracy ≥ 0.99) it takes the signal's value
as a reference; from then on the score is the signal's relative change from it, smoothed by a
trailing mean; it flags the onset at the first checkpoint where the score has stayed at or
above the threshold for ``hold`` checkpoints. A series whose name says it is a test-set
quantity (test_*, inverted_*, val_*) is refused. The detectors grokscan ships, what each
measured on held-out runs and which is the default forecast: shipped.py; the forecast over a
run's checkpoints as they come: forecast.py.

The in-loop detector (live.py) exports what fitting its model needs (scripts/fit_onset.py):
the signals it may read (``SIGNALS``), the frozen logistic model (``OnsetModel``), the
features of a recorded series (``features``) and the Monitor run over it offline
(``replay``); ``label`` (labels.py) says what a run is for the protocol below.

The protocol (docs/results/onset.md):

- Two grid files, fixed in the repository before any setting was chosen:
  scripts/grids/onset_tune.toml (tuning) and scripts/grids/onset_eval.toml (evaluation:
  other seeds, moduli and operations, several weight decays and train fractions, and
  controls that do not grok: weight decay 0, a train fraction too small, a learning rate too
  small). All MLP. Two more evaluation grids were added after that one had been run, and
  fixed before they were: scripts/grids/onset_eval_tf.toml (one-layer transformers) and
  scripts/grids/onset_eval_multi.toml (multi-task MLPs), on seeds no other sweep uses, with
  learning-rate controls that memorise (onset_eval.toml's draws held none).
- The detector's settings (OnsetSettings defaults, and the baselines' thresholds in
  evaluate.py) are chosen on the tuning sweep only; each evaluation sweep is run once, and
  nothing is changed after seeing it. ``grokscan onset evaluate`` judges the evaluation
  sweeps together and each apart.
- Per run: the memorisation step, the steps of test accuracy 0.5 and 0.9, the flag step and
  the lead fraction (step of test acc 0.5 − flag) / (step of test acc 0.5 − memorisation).
  A run *groks* when test accuracy reaches 0.5 after memorisation within its budget; a
  *control* never reaches 0.5; a run whose test accuracy reaches 0.5 no later than
  memorisation (no delay to forecast) is counted apart.
- Over a sweep: coverage (share of grokking runs flagged before test acc 0.5), the median
  and quartiles of the lead fraction (a run not flagged before test acc 0.5 counts 0), the
  false-alarm rate (share of controls flagged at any checkpoint), the ROC curve and AUC of
  the largest score before test acc 0.5 (a control: over the whole run), and the coverage
  the ROC curve reaches at false-alarm rates of 5 % and 10 %.
- Targets: coverage ≥ 90 %, median lead ≥ 30 % of the delay, ≤ 5 % false alarms.
"""

from grokscan.onset.detector import (
    OnsetResult,
    OnsetSettings,
    check_training_side,
    detect,
    is_test_side,
)
from grokscan.onset.labels import label
from grokscan.onset.live import SIGNALS, OnsetModel, features, replay
from grokscan.onset.shipped import Detector, HeldOut, default, detectors

__all__ = ["SIGNALS", "Detector", "HeldOut", "OnsetModel", "OnsetResult", "OnsetSettings",
           "check_training_side", "default", "detect", "detectors", "features",
           "is_test_side", "label", "replay"]
