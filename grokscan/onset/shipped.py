"""The onset detectors grokscan ships, each with what it measured on held-out runs, and the
default one: the forecast that ``train``, ``watch``, ``info`` and the report show.

Each detector is data in the package: the checkpoint detectors (one training-side signal and
a threshold, grokscan/onset/detector.py) in ``detectors.json``, the in-loop model
(grokscan/onset/live.py) in ``model.json``; each with a ``held_out`` block: the evaluation
sweeps it was judged on (fixed before they were run, with seeds, operations and moduli no
tuning run used: docs/results/onset.md) and what it did there. The rule of the
product: a flag is shown only beside those numbers, and is called an *experimental* forecast
until its detector meets :data:`TARGETS` on held-out runs. The default detector is the shipped
one with the highest held-out ROC AUC (the ranking of grokking runs above controls, which no
threshold choice can flatter), so a detector that measured worse than another is never the
default.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

from grokscan.errors import GrokscanError
from grokscan.onset.detector import OnsetSettings

FORMAT, VERSION = "grokscan-onset-detectors", 1
LIVE = "in-loop model"  # the name of the detector of grokscan/onset/live.py
FORECAST = "forecast"  # what a flag is called where it is shown


@dataclass(frozen=True)
class Targets:
    """What a detector must reach on held-out runs to be more than experimental."""

    coverage: float  # share of grokking runs flagged before test accuracy 0.5, at least
    false_alarms: float  # share of runs that never grok flagged at any step, at most
    lead_median: float  # median lead, as a fraction of the delay from memorisation, at least


@dataclass(frozen=True)
class HeldOut:
    """What a detector did on held-out runs (grokscan/studies/onset.py ``summarise``)."""

    evaluation: str  # which sweeps, how they were judged, when
    grokking: int  # runs that grok: test accuracy 0.5 after memorisation
    flagged: int  # of those, flagged before test accuracy 0.5
    controls: int  # runs that never grok
    false_alarms: int  # of those, flagged at any step
    lead_median: float  # a run missed or flagged late counts 0
    auc: float  # run-level ROC AUC of the largest score before test accuracy 0.5
    # the forecast of test accuracy 0.5 at the flag: its median |predicted − actual| as a
    # fraction of the delay from memorisation (None: no forecast)
    forecast_error: float | None = None

    @property
    def coverage(self) -> float:
        return self.flagged / self.grokking if self.grokking else math.nan

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.controls if self.controls else math.nan

    def meets(self, t: Targets) -> bool:
        return (self.coverage >= t.coverage and self.false_alarm_rate <= t.false_alarms
                and self.lead_median >= t.lead_median)

    def words(self) -> str:
        """"on held-out runs it flagged 77 % of the 56 that grok, before test accuracy 0.5,
        and 16 % of the 167 that never grok (ROC AUC 0.86)"."""
        return (f"on held-out runs it flagged {_pc(self.coverage)} of the {self.grokking} that "
                f"grok, before test accuracy 0.5, and {_pc(self.false_alarm_rate)} of the "
                f"{self.controls} that never grok (ROC AUC {self.auc:.2f})")

    @classmethod
    def from_dict(cls, d: dict, where: str) -> HeldOut:
        try:
            err = d.get("forecast_error")
            out = cls(str(d["evaluation"]), int(d["grokking"]), int(d["flagged"]),
                      int(d["controls"]), int(d["false_alarms"]), float(d["lead_median"]),
                      float(d["auc"]), None if err is None else float(err))
        except (KeyError, TypeError, ValueError) as e:
            raise GrokscanError(f"{where}: malformed held_out block ({e!r})") from None
        if not (0 <= out.flagged <= out.grokking and 0 <= out.false_alarms <= out.controls):
            raise GrokscanError(f"{where}: held_out counts out of range")
        return out


@dataclass(frozen=True)
class Detector:
    """A shipped detector: its name, what it reads, its settings (a checkpoint detector's;
    None for the in-loop model, whose model is ``grokscan.onset.live.shipped()``) and its
    held-out numbers (None: never judged on held-out runs)."""

    name: str
    reads: str  # "checkpoints" or "every step"
    settings: OnsetSettings | None
    held_out: HeldOut | None
    # the step of test accuracy 0.5 forecast at a flag f after memorisation m:
    # f + t50_ratio · (f − m), the ratio fitted on the tuning runs (None: no forecast)
    t50_ratio: float | None = None

    def t50(self, flag: int | None, memorisation: int | None) -> int | None:
        """The step at which test accuracy is forecast to reach 0.5, given the flag."""
        if self.t50_ratio is None or flag is None or memorisation is None or flag <= \
                memorisation:
            return None
        return int(round(flag + self.t50_ratio * (flag - memorisation)))

    @property
    def experimental(self) -> bool:
        """True until it meets the targets on held-out runs."""
        return self.held_out is None or not self.held_out.meets(targets())

    @property
    def label(self) -> str:
        """"forecast (experimental) by entropy fall"."""
        return f"{FORECAST}{' (experimental)' if self.experimental else ''} by {self.name}"

    def reliability(self) -> str:
        """Its held-out numbers in words, with the targets where it misses them."""
        h = self.held_out
        if h is None:
            return "its reliability was never measured on held-out runs"
        t = targets()
        text = h.words()
        if not h.meets(t):
            text += (f"; the targets, ≥ {_pc(t.coverage)} and ≤ {_pc(t.false_alarms)}, are "
                     "not met")
        return text


def flag_line(detector: Detector, step: int | None, reason: str, indent: str = "  ",
              head: str | None = None, memorisation: int | None = None) -> str:
    """The flag (or its absence) as every command says it, in two lines: ``head`` (the
    detector's label) with the flag and its reason; then its held-out numbers, and the step of
    test accuracy 0.5 it forecasts with its held-out error, where it makes one."""
    what = f"flagged at step {step}" if step is not None else "no flag"
    text = f"{head or detector.label}: {what} ({reason})\n{indent}{detector.reliability()}"
    t50 = detector.t50(step, memorisation)
    h = detector.held_out
    if t50 is not None and h is not None and h.forecast_error is not None:
        text += (f"\n{indent}test accuracy 0.5 forecast near step {t50} (on held-out runs "
                 f"off by a median {_pc(h.forecast_error)} of the delay from memorisation)")
    return text


def _pc(x: float) -> str:
    return f"{100 * x:.0f} %"


def _read(name: str) -> dict:
    text = resources.files("grokscan.onset").joinpath(name).read_text()
    return json.loads(text)


@cache
def targets() -> Targets:
    return Targets(**_read("detectors.json")["targets"])


@cache
def detectors() -> dict[str, Detector]:
    """Every shipped detector by name: the checkpoint detectors of detectors.json, then the
    in-loop model."""
    from grokscan.onset.live import shipped

    doc = _read("detectors.json")
    where = "grokscan/onset/detectors.json"
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise GrokscanError(f"{where}: expected {FORMAT} version {VERSION}")
    out = {}
    for d in doc["detectors"]:
        held = d.get("held_out")
        settings = OnsetSettings(signal=d["signal"], direction=d["direction"],
                                 threshold=float(d["threshold"]))
        ratio = d.get("t50_ratio")
        out[d["name"]] = Detector(d["name"], "checkpoints", settings,
                                  None if held is None else HeldOut.from_dict(held, where),
                                  None if ratio is None else float(ratio))
    model = shipped()
    out[LIVE] = Detector(LIVE, "every step", None, None if model.held_out is None else
                         HeldOut.from_dict(model.held_out, "grokscan/onset/model.json"))
    return out


def checkpoint_detectors() -> dict[str, OnsetSettings]:
    """The checkpoint detectors' settings by name (the rows ``onset evaluate`` judges)."""
    return {k: d.settings for k, d in detectors().items() if d.settings is not None}


@cache
def best(reads: str | None = None) -> Detector:
    """The shipped detector with the highest held-out ROC AUC (of those that read ``reads``,
    "checkpoints" or "every step", when given)."""
    judged = [d for d in detectors().values() if d.held_out is not None
              and (reads is None or d.reads == reads)]
    if not judged:
        raise GrokscanError(f"no shipped onset detector{f' over {reads}' if reads else ''} "
                            "has held-out numbers")
    return max(judged, key=lambda d: d.held_out.auc)


def default() -> Detector:
    """The forecast shown to users: the shipped detector that measured best on held-out runs
    (``best``)."""
    return best()


def named_by_settings(settings: dict) -> Detector | None:
    """The shipped checkpoint detector with these settings (a metrics file's record), if
    any."""
    for d in detectors().values():
        if d.settings is not None and d.settings.__dict__ == settings:
            return d
    return None
