"""The in-loop detector's record in a checkpoint file: ``/onset`` (store/SCHEMA.md).

A Recorder keeps one :class:`Track`: each ``observe`` adds a row of signals (in
grokscan.onset.live.SIGNALS order) and the Monitor's score; the rows are written with the next
checkpoint, before the step that commits it, so a reader trusts the rows up to the last
committed step. The datasets exist from the first checkpoint on (none can be created once
SWMR mode is on): ``/onset/steps``, ``/onset/values`` (n, signals), ``/onset/score`` and
``/onset/state`` = [memorisation step, flag step] (−1: none yet); the model the Monitor ran is
the group's ``model`` attribute, so a resumed run goes on with the detector it started with.
"""

from __future__ import annotations

import json
import math

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.onset.live import (
    SIGNALS,
    Monitor,
    OnsetModel,
    Source,
    replay,
    shipped,
    signals,
)
from grokscan.store.layout import logit_entries
from grokscan.summary import MEMORISED

NO_SPECTRUM = ("no flag: the run has no Fourier spectrum to read (no modulus, or no residue "
               "vectors in its layout)")
NOT_RECORDED = ("no flag: the run began without the in-loop detector (a file of format "
                "version 2 or a Recorder that did not observe from its first step)")


def source_of(layout, task) -> Source:
    """The spectral source of a run: its layout and P, the modulus of a modular task or else
    the number of residue vectors the layout names; the basis of the operations' groups
    (grokscan.tasks.basis_of, as the analysis chooses; additive when they are not known)."""
    from grokscan.tasks.base import basis_of
    from grokscan.tasks.modular import group_of

    if not layout.residue_vectors:
        return Source((), (), None, 0)
    first = layout.residue_vectors[0]
    p = getattr(task, "p", None) or int(first["stop"]) - int(first["start"])
    ops = getattr(task, "ops", None) or ()
    basis = basis_of(group_of(op, p) for op in ops) if ops else "additive"
    return Source.of(layout, p, basis == "multiplicative", p)


class Track:
    """The rows observed since the last checkpoint and the Monitor that scores them."""

    def __init__(self, source: Source, model: OnsetModel | None = None, *,
                 recorded: bool = True):
        self.source = source
        self.model = model or shipped()
        self.recorded = recorded  # False: a file begun without /onset, resumed
        self.monitor = Monitor(self.model) if source.basis is not None and recorded else None
        self.rows: list[tuple[int, np.ndarray, float]] = []
        self._memorised: int | None = None  # with or without a spectrum (the dense schedule)
        self.last: int | None = None  # the last step observed

    @property
    def flag(self) -> int | None:
        return None if self.monitor is None else self.monitor.flag

    @property
    def memorised(self) -> int | None:
        """The first observed step whose train accuracy is ≥ 0.99 (the Monitor's too)."""
        return self._memorised

    @property
    def reason(self) -> str:
        if not self.recorded:
            return NOT_RECORDED
        return NO_SPECTRUM if self.monitor is None else self.monitor.reason

    def observe(self, step: int, params: dict, grads: dict | None, **train_side) -> float:
        step = int(step)
        if self.last is not None and step <= self.last:
            raise GrokscanError(f"observe(): steps must increase; got step {step} after "
                                f"{self.last}")
        self.last = step
        values = signals(params, grads, self.source, **train_side)
        row = np.array([values[k] for k in SIGNALS], np.float64)
        if self._memorised is None and values["train_acc"] >= MEMORISED:
            self._memorised = int(step)
        if self.monitor is not None:
            score = self.monitor.update(step, row)
        else:
            score = math.nan
        self.rows.append((int(step), row, score))
        return score

    # --- the file ----------------------------------------------------------------------------
    def create(self, f) -> None:
        """The datasets of ``/onset``, with the first checkpoint, when the detector has seen a
        step (a file reopened without scalars may have them already)."""
        if not self.rows or "onset" in f:
            return
        g = f.create_group("onset")
        g.attrs["signals"] = json.dumps(list(SIGNALS))
        g.attrs["model"] = self.model.to_json()
        for name, shape, dtype, fill in (("steps", (), "i8", -1),
                                         ("values", (len(SIGNALS),), "f8", np.nan),
                                         ("score", (), "f8", np.nan)):
            g.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape),
                             chunks=(512, *shape), dtype=dtype, fillvalue=fill)
        g.create_dataset("state", data=np.array([-1, -1], np.int64))

    def write(self, f) -> None:
        """Append the rows observed since the last call, and the state."""
        if "onset" not in f:
            return
        g = f["onset"]
        n, k = g["steps"].shape[0], len(self.rows)
        if k:
            for name in ("steps", "values", "score"):
                g[name].resize(n + k, axis=0)
            g["steps"][n:] = [r[0] for r in self.rows]
            g["values"][n:] = np.stack([r[1] for r in self.rows])
            g["score"][n:] = [r[2] for r in self.rows]
        g["state"][:] = [_or(self.memorised), _or(self.flag)]
        self.rows = []

    @classmethod
    def resumed(cls, f, start: int, source: Source) -> Track:
        """The Track of a file reopened to go on from step ``start``: rows from ``start`` on
        (a killed writer's, or the step that is taken again) are dropped, the rest replayed
        through the model the file names, so that the Monitor is as it was."""
        if "onset" not in f:
            return cls(source, recorded=False)
        g = f["onset"]
        model = OnsetModel.from_json(g.attrs["model"], f"{f.filename}: /onset model")
        from grokscan.store.reader import leading_rows

        steps = g["steps"][()]
        keep = leading_rows(steps, start)  # −1: resized by a killed writer, never written
        for name in ("steps", "values", "score"):
            g[name].resize(keep, axis=0)
        t = cls(source, model)
        values = g["values"][:keep]
        hit = np.flatnonzero(values[:, SIGNALS.index("train_acc")] >= MEMORISED)
        t._memorised = int(steps[hit[0]]) if hit.size else None
        t.last = int(steps[keep - 1]) if keep else None
        if t.monitor is not None:
            _, t.monitor = replay(steps[:keep], values, model)
        g["state"][:] = [_or(t.memorised), _or(t.flag)]
        return t


def source_from_file(f) -> Source:
    """The spectral source of an open checkpoint file: its layout attributes and its task."""
    from types import SimpleNamespace

    from grokscan.store.layout import Layout

    a = f["task"].attrs
    task = SimpleNamespace(p=int(a["p"]) if "p" in a else None,
                           ops=tuple(json.loads(a["ops"])) if "ops" in a else None)
    layout = Layout(tuple(json.loads(f.attrs.get("residue_vectors", "[]"))),
                    logit_entries(json.loads(f.attrs.get("neuron_logit_map", "[]"))))
    return source_of(layout, task)


def _or(v: int | None) -> int:
    return -1 if v is None else int(v)




def read_back(rows) -> dict:
    """The in-loop detector's result from a file's record (``Run.onset_rows()``): the flag and
    memorisation steps stored, the reason (replayed: the Monitor again over the stored rows,
    which must give the stored flag), and what its model was fitted on."""
    model = OnsetModel.from_json(rows.model, "/onset model")
    _, mon = replay(rows.steps, rows.values, model)
    if (mon.flag, mon.memorised) != (rows.flag, rows.memorised) and \
            SIGNALS == tuple(rows.names):
        reason = (f"the stored flag (step {rows.flag}) differs from the replayed one "
                  f"({mon.flag}): the record is inconsistent")
    elif all(np.isnan(rows.values[:, SIGNALS.index("gini_embed")])):
        reason = NO_SPECTRUM
    else:
        reason = mon.reason
    return {"step": rows.flag, "memorisation": rows.memorised, "reason": reason,
            "observed_to": int(rows.steps[-1]) if len(rows.steps) else None,
            "model": model.fitted_on}


__all__ = ["NO_SPECTRUM", "NOT_RECORDED", "Track", "read_back", "source_from_file", "source_of"]
