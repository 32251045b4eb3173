"""Run: read a checkpoint file (store/SCHEMA.md), read-only, also while training writes it."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from grokscan.config import RunConfig
from grokscan.errors import FileFormatError
from grokscan.store.writer import FORMAT, VERSION


def open_h5(path, what: str = "a grokscan checkpoint file") -> h5py.File:
    """Open an HDF5 file read-only (SWMR when the file allows it), or raise FileFormatError with
    a one-line message that names the file and what is wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileFormatError(f"{path}: no such file (expected {what})")
    if os.path.isdir(path):
        raise FileFormatError(f"{path} is a directory (expected {what})")
    try:
        is_h5 = h5py.is_hdf5(path)
    except OSError as e:
        raise FileFormatError(f"{path}: cannot read ({e})") from None
    if not is_h5:
        raise FileFormatError(f"{path} is not an HDF5 file (expected {what})")
    errors = []
    # A plain open checks the file's length against the superblock (it catches truncation);
    # it fails while a writer holds the file in SWMR mode, and then the SWMR open reads it.
    for kw in ({}, {"libver": "latest", "swmr": True}):
        try:
            return h5py.File(path, "r", **kw)
        except OSError as e:
            msg = str(e)
            if "truncated" in msg:
                detail = msg[msg.index("truncated"):].rstrip(")")
                raise FileFormatError(f"{path} is truncated ({detail})") from None
            errors.append(msg)
    msg = errors[0]
    raise FileFormatError(f"{path}: HDF5 cannot open it ({msg})") from None


class Run:
    """A checkpoint file, opened read-only.

    ``n`` is the number of committed checkpoints (rows whose step is written); every accessor
    returns those rows only. ``refresh()`` picks up checkpoints that a live writer added.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.f = open_h5(self.path)
        try:
            self._validate()
            self.refresh()
        except (RuntimeError, OSError, KeyError, ValueError) as e:
            self.f.close()
            raise FileFormatError(f"{self.path} is damaged: {e}") from None
        except Exception:
            self.f.close()
            raise

    def _validate(self):
        f, path = self.f, self.path
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT:
            raise FileFormatError(
                f"{path} is not a grokscan checkpoint file: expected the root attribute "
                f"format = {FORMAT!r}, got {fmt!r}"
            )
        version = int(f.attrs.get("format_version", -1))
        if version != VERSION:
            raise FileFormatError(
                f"{path} has checkpoint format version {version}; this grokscan reads version "
                f"{VERSION}"
            )
        for key in ("steps", "params", "scalars", "task"):
            if key not in f:
                raise FileFormatError(f"{path}: missing /{key} (the file is incomplete)")
        self.param_names: list[str] = json.loads(f.attrs["param_names"])
        for name in self.param_names:
            if name not in f["params"]:
                raise FileFormatError(f"{path}: missing dataset /params/{name}")

    # --- metadata ----------------------------------------------------------------------------
    @property
    def config(self) -> RunConfig | None:
        text = self.f.attrs["config"]
        return None if text == "null" else RunConfig.from_json(text)

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

    @property
    def task(self) -> dict:
        """The task group: attributes and small datasets, as a dict of numpy values."""
        g = self.f["task"]
        out = {k: (json.loads(v) if k == "ops" else v) for k, v in g.attrs.items()}
        out.update({k: g[k][()] for k in g})
        return out

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

    def close(self) -> None:
        if self.f.id.valid:
            self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"Run({self.path!r}, n={self.n})"
