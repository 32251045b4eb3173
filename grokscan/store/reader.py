"""Run: read a checkpoint file (store/SCHEMA.md), read-only, also while training writes it."""

from __future__ import annotations

import json
from functools import cached_property

import numpy as np

from grokscan import tasks
from grokscan.config import RunConfig
from grokscan.errors import FileFormatError, GrokscanError
from grokscan.store._format import CHECKPOINTS, Reader, text

VERSIONS = (1,)  # the checkpoint format versions this grokscan reads


class Run(Reader):
    """A checkpoint file, opened read-only.

    ``n`` is the number of committed checkpoints (rows whose step is written); every accessor
    returns those rows only. ``refresh()`` picks up checkpoints that a live writer added.
    """

    FORMAT, VERSIONS, WHAT = CHECKPOINTS, VERSIONS, "a grokscan checkpoint file"
    REQUIRED = ("steps", "params", "scalars", "task")

    def _validate(self):
        f, path = self.f, self.path
        self.param_names: list[str] = json.loads(f.attrs["param_names"])
        for name in self.param_names:
            if name not in f["params"]:
                raise FileFormatError(f"{path}: missing dataset /params/{name}")
        self.refresh()

    # --- metadata ----------------------------------------------------------------------------
    @cached_property
    def config(self) -> RunConfig | None:
        """The run's configuration, checked (None for a Recorder given none)."""
        raw = text(self.f.attrs.get("config", "null"))
        if raw == "null":
            return None
        try:
            return RunConfig.from_json(raw)
        except GrokscanError as e:
            raise FileFormatError(f"{self.path}: the config attribute is unreadable: {e}") from None

    @property
    def residue_vectors(self) -> list[dict]:
        return json.loads(self.f.attrs["residue_vectors"])

    @property
    def neuron_logit_map(self) -> list[str]:
        return json.loads(self.f.attrs["neuron_logit_map"])

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
        self.n = int(bad[0]) if bad.size else len(steps)
        self.steps = steps[: self.n].astype(np.int64)
        return self.n

    def param(self, name: str, sel=slice(None)) -> np.ndarray:
        """Parameter ``name`` at the checkpoints ``sel`` (an index, slice or sorted index
        array into the committed rows): shape (n_sel, *param_shape) or param_shape."""
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

    def __repr__(self) -> str:
        return f"Run({self.path!r}, n={self.n})"
