"""Run: read a checkpoint file (store/SCHEMA.md), read-only, also while training writes it.

Opening a file checks everything that can be checked without reading the checkpoints: the
format and version, the config (against its settings' ranges) and the task (against the
config, and its labels against their definition), the parameter datasets, the residue and
logit layouts against the parameters' shapes, and that the committed steps increase. A file
that fails is refused with one line that names it and what is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property

import h5py
import numpy as np

from grokscan import tasks
from grokscan.config import RunConfig
from grokscan.errors import FileFormatError, GrokscanError
from grokscan.hdf5.format import (
    CHECKPOINTS_FORMAT,
    Reader,
    check_whole_steps,
    described,
    text,
)
from grokscan.hdf5.lock import holder
from grokscan.hdf5.superblock import writer_flags
from grokscan.store.layout import check_layout, logit_entries
from grokscan.store.spec import ModelSpec

VERSIONS = (1, 2, 3, 4)  # the checkpoint format versions this grokscan reads
LIMIT = 1 << 31  # elements one checkpoint of one parameter may hold (8 GiB of float32)


@dataclass(frozen=True)
class ResumeState:
    """What continues a run exactly from its checkpoint at ``step``: the optimizer's state
    (one float32 vector and its layout ``[[param, key, shape], ...]``) and the generators."""

    step: int
    optimizer: np.ndarray
    layout: list
    torch_rng: np.ndarray
    batch_rng: np.ndarray


@dataclass(frozen=True)
class OnsetRows:
    """The in-loop onset detector's record (``/onset``, grokscan/onset/track.py) up to the
    last committed checkpoint: a row of signals (``names``) and the score per observed step,
    the memorisation and flag steps it had reached there, and the model it ran."""

    steps: np.ndarray  # (n,)
    values: np.ndarray  # (n, len(names))
    score: np.ndarray  # (n,)
    names: tuple[str, ...]
    memorised: int | None
    flag: int | None
    model: str  # the OnsetModel's JSON


class Run(Reader):
    """A checkpoint file, opened read-only.

    ``n`` is the number of committed checkpoints (rows whose step is written); every accessor
    returns those rows only. ``refresh()`` picks up checkpoints that a live writer added.
    ``writer`` names the live process writing the file (None if none); ``crashed`` is True for
    a file left open by a writer that was killed (see ``grokscan repair``).
    """

    FORMAT, VERSIONS, WHAT = CHECKPOINTS_FORMAT, VERSIONS, "a grokscan checkpoint file"
    REQUIRED = ("steps", "params", "scalars", "task")

    def _validate(self):
        f, path = self.f, self.path
        try:
            self.param_names: list[str] = json.loads(text(f.attrs["param_names"]))
            self.residue_vectors: list[dict] = json.loads(text(f.attrs["residue_vectors"]))
            self.neuron_logit_map: list[dict] = list(logit_entries(
                json.loads(text(f.attrs["neuron_logit_map"])), str(path), FileFormatError))
        except (KeyError, ValueError) as e:
            raise FileFormatError(f"{path}: a layout attribute is missing or not JSON "
                                  f"({e})") from None
        for name in self.param_names:
            ds = f["params"].get(name)
            if not isinstance(ds, h5py.Dataset):
                raise FileFormatError(f"{path}: missing dataset /params/{name}")
            if math.prod(ds.shape[1:]) > LIMIT:
                raise FileFormatError(f"{path}: /params/{name} has shape {ds.shape}, more than "
                                      f"{LIMIT} values a checkpoint")
        self.config = self._config()
        self.model_spec = ModelSpec.from_json(text(f.attrs["model"]), path) \
            if "model" in f.attrs else None  # a model of the user's own (store/spec.py)
        _check_layout(self)
        _check_rows(f, path)
        self.provenance = _provenance(f.attrs.get("provenance"))
        self.refresh()
        self.writer = holder(path)
        self.crashed = bool(f.swmr_mode and self.writer is None and writer_flags(path))

    def _config(self) -> RunConfig | None:
        if "config" not in self.f.attrs:
            raise FileFormatError(f"{self.path}: no config attribute (a grokscan writer always "
                                  "writes one, null when it has none)")
        raw = text(self.f.attrs["config"])
        if raw == "null":
            return None
        try:
            return RunConfig.from_json(raw)
        except GrokscanError as e:
            raise FileFormatError(f"{self.path}: the config attribute is unreadable: {e}") from None

    # --- metadata ----------------------------------------------------------------------------
    @property
    def has_grads(self) -> bool:
        return "grads" in self.f

    def shape(self, name: str) -> tuple[int, ...]:
        return self.f["params"][name].shape[1:]

    @cached_property
    def task(self):
        """The task the run trained on (a :class:`grokscan.tasks.TaskData`), read from
        ``/task`` and checked against the config."""
        cfg = self.config
        return tasks.read(self.f["task"], cfg.task if cfg is not None else None,
                          f"{self.path}: /task")

    # --- checkpoints ---------------------------------------------------------------------------
    def refresh(self) -> int:
        """Re-read the lengths that a live writer may have grown; returns ``n``."""
        f = self.f
        datasets = [f["steps"], *(f["params"][k] for k in self.param_names),
                    *(f["scalars"][k] for k in f["scalars"])]
        if self.has_grads:
            datasets += [f["grads"][k] for k in self.param_names]
        for ds in datasets:
            ds.refresh()
        steps = f["steps"][: min(ds.shape[0] for ds in datasets)]
        bad = np.flatnonzero(steps < 0)  # rows resized but not yet committed
        n = int(bad[0]) if bad.size else len(steps)
        steps = steps[:n].astype(np.int64)
        if n > 1 and not np.all(np.diff(steps) > 0):
            i = int(np.flatnonzero(np.diff(steps) <= 0)[0])
            raise FileFormatError(f"{self.path}: /steps does not increase (step {steps[i + 1]} "
                                  f"after {steps[i]}, checkpoint {i + 1})")
        self.n, self.steps = n, steps
        return self.n

    def param(self, name: str, sel=slice(None)) -> np.ndarray:
        """Parameter ``name`` at the checkpoints ``sel`` (an index, slice or sorted index
        array into the committed rows): shape ``(n_sel, *param_shape)`` or ``param_shape``."""
        return self._read("params", name, sel)

    def grad(self, name: str, sel=slice(None)) -> np.ndarray:
        if not self.has_grads:
            raise FileFormatError(f"{self.path} holds no gradients (recorded with grads off)")
        return self._read("grads", name, sel)

    def params_at(self, i: int) -> dict[str, np.ndarray]:
        return {k: self.param(k, i) for k in self.param_names}

    def _read(self, group: str, name: str, sel):
        if name not in self.f[group]:
            raise FileFormatError(f"{self.path}: missing dataset /{group}/{name}")
        ds = self.f[group][name]
        if isinstance(sel, slice):
            return ds[slice(*sel.indices(self.n))]
        if np.ndim(sel) == 0:
            i = int(sel)
            if not -self.n <= i < self.n:
                raise IndexError(f"checkpoint {i} out of range (the file holds {self.n})")
            return ds[i % self.n]
        idx = np.asarray(sel, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise IndexError(f"checkpoints {idx.min()}..{idx.max()} out of range (n = {self.n})")
        return ds[idx] if idx.size else np.zeros((0, *ds.shape[1:]), ds.dtype)

    @property
    def scalars(self) -> dict[str, np.ndarray]:
        g = self.f["scalars"]
        return {k: g[k][: self.n] for k in sorted(g)}

    def onset_rows(self) -> OnsetRows | None:
        """The in-loop onset record up to the last committed checkpoint, or None when the
        file has none (format version 1 or 2, training with --no-onset, a Recorder that did
        not ``observe``)."""
        return _onset_rows(self)

    def resume_state(self) -> ResumeState:
        """The state to resume from the last committed checkpoint, checked against the
        parameters before its vectors are read; a GrokscanError saying why if there is none."""
        return _resume_state(self)

    def __repr__(self) -> str:
        return f"Run({self.path!r}, n={self.n})"


def _check_rows(f: h5py.File, path: str) -> None:
    """/steps whole numbers and every /scalars/<name> a number a row: a text or a compound
    scalar, a second axis or a group there is refused before anything is read or written."""
    check_whole_steps(f["steps"], f"{path}: /steps")
    for name in f["scalars"]:
        ds = f["scalars"][name]
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.dtype.kind not in "fiu":
            raise FileFormatError(f"{path}: /scalars/{name}: expected a number a checkpoint, "
                                  f"got {described(ds)}")


def _provenance(raw) -> dict | None:
    """The ``provenance`` attribute of an imported run (store/SCHEMA.md): a JSON object, None
    when absent, {"unreadable": its start} when it is not one (it is only described)."""
    if raw is None:
        return None
    try:
        prov = json.loads(text(raw) if isinstance(raw, (str, bytes)) else raw)
    except (TypeError, ValueError, RecursionError):
        prov = None
    if isinstance(prov, dict):
        return prov
    start = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else str(raw)
    return {"unreadable": start.encode("utf-8", "backslashreplace").decode()[:80]}


def _check_layout(run: Run) -> None:
    shapes = {k: run.f["params"][k].shape[1:] for k in run.param_names}
    check_layout(run.residue_vectors, run.neuron_logit_map, shapes, where=run.path,
                 error=FileFormatError)


def leading_rows(steps: np.ndarray, stop: int) -> int:
    """How many leading rows of an /onset ``steps`` dataset are written rows before step
    ``stop``: those up to the first that is −1 (resized, never written) or ≥ ``stop``."""
    ok = (steps >= 0) & (steps < stop)
    return len(steps) if ok.all() else int(np.argmin(ok))


def _onset_rows(run: Run) -> OnsetRows | None:
    g = run.f.get("onset")
    if g is None or not run.n:
        return None
    where = f"{run.path}: /onset"
    try:
        names = tuple(json.loads(text(g.attrs["signals"])))
        model = text(g.attrs["model"])
        for k in ("steps", "values", "score"):
            g[k].refresh()
        last = int(run.steps[-1])
        # rows past the last committed step (or resized and never written: step −1) are a
        # killed or running writer's, not yet committed
        steps = g["steps"][()].astype(np.int64)
        n = leading_rows(steps, last + 1)
        steps = steps[:n]
        values, score = g["values"][:n], g["score"][:n]
        memorised, flag = (int(v) for v in g["state"][()])
    except (KeyError, ValueError, TypeError) as e:
        raise FileFormatError(f"{where} is malformed ({e})") from None
    if values.shape != (n, len(names)) or score.shape != (n,) or np.any(np.diff(steps) <= 0):
        raise FileFormatError(f"{where}: expected increasing steps and one row of "
                              f"{len(names)} signals and a score each; found {values.shape} "
                              f"and {score.shape}")
    def upto(step: int) -> int | None:  # the state may run ahead of the committed rows
        return None if step < 0 or step > last else step

    return OnsetRows(steps, values, score, names, upto(memorised), upto(flag), model)


def _resume_state(run: Run) -> ResumeState:
    f, path = run.f, run.path
    if not run.n or "resume" not in f:
        raise GrokscanError(f"{path} holds no resume state (written without an optimizer "
                            "to track, or it has no checkpoint)")
    last = int(run.steps[-1])
    g = f["resume"]
    slots = [g] if "step" in g else [g[s] for s in ("0", "1") if s in g]
    for slot in slots:
        if int(slot["step"][0]) == last:
            return _read_state(run, slot, last)
    found = ", ".join(str(int(s["step"][0])) for s in slots)
    raise GrokscanError(f"{path}: no resume state of its last checkpoint (step {last}; the "
                        f"file holds states of step {found}), so it cannot be continued exactly")


def _read_state(run: Run, g, step: int) -> ResumeState:
    where = f"{run.path}: {g.name}"
    try:
        layout = json.loads(bytes(g["layout"][()]).decode())
        sizes = {}
        for name, key, shape in layout:
            if name not in run.param_names or not isinstance(key, str):
                raise ValueError(f"unknown parameter {name!r}")
            size = math.prod(shape)
            if size > math.prod(run.shape(name)) and size > 1:
                raise ValueError(f"{name}.{key} of shape {shape} is larger than the parameter")
            sizes[(name, key)] = size
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise FileFormatError(f"{where}/layout is malformed ({e})") from None
    ds = g["optimizer"]
    if ds.shape != (sum(sizes.values()),):
        raise FileFormatError(f"{where}/optimizer holds {ds.shape} values; its layout says "
                              f"{sum(sizes.values())}")
    for name in ("torch_rng", "batch_rng"):
        rng = g[name]
        if rng.dtype != np.uint8 or rng.ndim != 1 or rng.shape[0] > 1 << 16:
            raise FileFormatError(f"{where}/{name}: expected a generator state (uint8), found "
                                  f"{rng.dtype} {rng.shape}")
    return ResumeState(step, ds[()], layout, g["torch_rng"][()], g["batch_rng"][()])
