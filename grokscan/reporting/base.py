"""What the report's sections share: the page context, figure items, the event markers and the
moments a figure shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from grokscan import groups
from grokscan.store.metrics import MetricsFile
from grokscan.summary import grokked, memorised

GIF_FRAMES, GIF_FPS = 48, 8  # the constellation animation: frames spread over the run, speed

def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Boolean mask over the first axis: the rows where every given array is finite throughout
    (subset families hold NaN on the checkpoints they were not computed on)."""
    mask = None
    for a in arrays:
        a = np.asarray(a, dtype=float)
        ok = np.isfinite(a.reshape(len(a), -1)).all(axis=1)
        mask = ok if mask is None else mask & ok
    return mask


@dataclass
class Item:
    name: str  # stable file name under OUT/figures/, without extension
    title: str
    caption: str  # plain text: what is plotted, the paper, what to look for
    draw: Callable  # () -> Figure or FuncAnimation


@dataclass
class Section:
    key: str
    title: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Page:
    """What the sections of one report share: the metrics file and the event markers; each
    section that has nothing to show adds (its title, why) to ``left_out``."""

    m: MetricsFile
    markers: dict  # event -> step or None (figures._style.EVENTS)
    left_out: list = field(default_factory=list)  # (section title, reason)


def event_markers(m: MetricsFile) -> dict:
    """The steps of memorisation (train accuracy first ≥ 0.99) and of grokking (test accuracy
    first ≥ 0.99): what the run shows, marked on every figure against step; the distance
    between them is ``grokscan.summary.grokking_delay``. Also the phases the figures' moments
    are taken at (not drawn as events): ``plateau_end``, where test accuracy first climbs a
    tenth of the way from its level at memorisation to 1, and ``transition``, half of the way.
    A detector's flag is a forecast, not an event: see :func:`forecasts`."""
    s, steps = m.run_scalars, m.run_steps  # every checkpoint, not only the analysed ones
    mem = memorised(steps, s)
    out = {"memorisation": mem, "grokking": grokked(steps, s)}
    out.update(test_phases(steps, s.get("test_acc"), mem))
    return out


def forecasts(m: MetricsFile) -> dict:
    """The onset detectors' flags the analysis holds, each with its shipped detector
    (grokscan/onset/shipped.py): {"checkpoint": the checkpoint detector analyze ran, "live":
    the in-loop model's record, "shown": the key of the one that is the default detector, the
    forecast the page states}; an absent one is None.
    Each is {"detector", "name", "steps", "score", "threshold", "step", "memorisation",
    "reason"}."""
    from grokscan.onset.shipped import LIVE, Detector, default, detectors, named_by_settings

    out = {"checkpoint": None, "live": None}
    rec = m.onset()
    if rec is not None:
        d = detectors().get(rec["detector"] or "") or named_by_settings(rec["settings"])
        if d is None:  # settings grokscan does not ship: named by what it reads
            sig = rec["settings"].get("signal", "?")
            d = Detector(f"{sig} {rec['settings'].get('direction', '')}".strip(),
                         "checkpoints", None, None)
        out["checkpoint"] = {"detector": d, "name": d.name, "steps": m.steps,
                             "score": rec["score"],
                             "threshold": rec["settings"].get("threshold", float("nan")),
                             **{k: rec[k] for k in ("step", "memorisation", "reason")}}
    live = m.onset_live()
    if live is not None and m.p:  # without residues it never scores: nothing to draw
        out["live"] = {"detector": detectors()[LIVE], "name": LIVE, "probability": True,
                       **{k: live[k] for k in ("steps", "score", "threshold", "step",
                                               "memorisation", "reason")}}
    out["shown"] = next((k for k in ("checkpoint", "live")
                         if out[k] is not None and out[k]["name"] == default().name), None)
    return out


def test_phases(steps, test_acc, memorisation) -> dict:
    """{"plateau_end", "transition"}: the first steps after ``memorisation`` at which test
    accuracy has climbed 0.1 and 0.5 of the way from its level there to 1 (None when it does
    not, or there is no memorisation)."""
    if test_acc is None or memorisation is None:
        return {"plateau_end": None, "transition": None}
    steps, acc = np.asarray(steps), np.asarray(test_acc, dtype=float)
    after = steps >= memorisation
    level = float(acc[np.argmax(after)])
    out = {}
    for name, share in (("plateau_end", 0.1), ("transition", 0.5)):
        hit = after & (acc >= level + share * (1 - level))
        out[name] = int(steps[np.argmax(hit)]) if hit.any() and level < 1 else None
    return out


def moments(steps, markers: dict, n: int, valid=None) -> np.ndarray:
    """Indices of ``n`` checkpoints that tell the story: initialisation, the end of the
    memorisation plateau, the middle of the transition, grokking, the end (the training's own
    phases, :func:`test_phases`; memorisation and the half-way step between it and grokking
    stand in where a phase is missing), as many of those as exist and ``n`` allows; then, one
    at a time, the row farthest in steps from those chosen; restricted to the ``valid`` rows (a
    boolean mask) of a subset family. Returns ascending distinct row indices."""
    steps = np.asarray(steps)
    rows = np.flatnonzero(np.ones(len(steps), bool) if valid is None else valid)
    if not rows.size:
        return rows
    mem, grok = markers.get("memorisation"), markers.get("grokking")
    plateau = markers.get("plateau_end") if markers.get("plateau_end") is not None else mem
    middle = markers.get("transition")
    if middle is None and mem is not None and grok is not None:
        middle = (mem + grok) / 2
    targets = [steps[rows[0]], steps[rows[-1]]]
    if n >= 4:
        targets += [t for t in (plateau, grok) if t is not None]
    if n >= 5 and middle is not None:
        targets.append(middle)
    if n == 3 and (grok is not None or mem is not None):
        targets.append(grok if grok is not None else mem)
    chosen = {int(rows[np.argmin(np.abs(steps[rows] - t))]) for t in targets}
    while len(chosen) < min(n, len(rows)):  # fill in: the valid row farthest from the chosen
        picked = np.array(sorted(chosen))
        gap = np.abs(steps[rows][:, None] - steps[picked][None, :]).min(axis=1).astype(float)
        gap[np.isin(rows, picked)] = -np.inf  # a step repeated, or NaN, chose a row again
        chosen.add(int(rows[np.argmax(gap)]))
    return np.array(sorted(chosen))


def at_moments(m: MetricsFile, paths: list[str], markers: dict, n: int):
    """(idx, [rows of each path at idx]) for ``n`` moments (:func:`moments`). Only those rows
    are read when they are finite (a family computed at every checkpoint); for a subset family
    the moments are taken among the rows it was computed on."""
    idx = moments(m.steps, markers, n)
    arrays = [m.rows(p, idx) for p in paths]
    if not finite_rows(*arrays).all():
        valid = finite_rows(*(m.get(p) for p in paths))
        if valid.any():
            idx = moments(m.steps, markers, n, valid=valid)
            arrays = [m.rows(p, idx) for p in paths]
    return idx, arrays


def sfx(m: MetricsFile, op: str) -> str:
    return f"_{op}" if len(m.ops) > 1 else ""


def ops_of(m: MetricsFile) -> list[str]:
    return list(m.ops) if m.ops else [""]


def op_title(m: MetricsFile, op: str) -> str:
    return f" ({op})" if len(m.ops) > 1 else ""


def discrete_log_order(m: MetricsFile) -> np.ndarray | None:
    """Residues g^0, g^1, ... (0 left out) when the embedding was analysed in the
    multiplicative basis (mul, div): in that order a·b's structure is that of a cyclic group,
    as a+b's is in the natural order. Otherwise None."""
    if m.basis == "multiplicative" and m.p > 2:
        return groups.discrete_log_order(m.p)
    return None


