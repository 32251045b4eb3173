"""The metrics file, OUT/metrics.h5 (store/SCHEMA.md, "The metrics file"): its writer, which
``grokscan analyze`` streams blocks of checkpoints into, and its reader, which the report and
``grokscan info`` use. Version 2 is written; versions 1 and 2 are read.
"""

from __future__ import annotations

import csv
import json
import os
import re

import h5py
import numpy as np

from grokscan._version import __version__
from grokscan.errors import FileFormatError, GrokscanError
from grokscan.hdf5.format import LIBVER, METRICS_FORMAT, Reader, check_space, text
from grokscan.names import shown
from grokscan.tasks.modular import OPS

VERSION = 2
VERSIONS = (1, 2)


class MetricsWriter:
    """Writes OUT/metrics.h5 under a temporary name, renamed into place by ``close()`` when
    every row was written; ``abort()`` (or a ``with`` block left by an error) removes it.

    attrs: the root attributes (other than numbers and text, stored as JSON text); steps,
    scalars: the analysed checkpoints; run_steps, run_scalars: every checkpoint of the run; samples:
    ``/samples/<name>`` arrays; groups: {family: group attributes} (numpy arrays as they are,
    other than text as JSON text).
    """

    def __init__(self, path, *, attrs: dict, steps, scalars: dict, run_steps, run_scalars: dict,
                 samples: dict, groups: dict):
        self.path = os.fspath(path)
        self.tmp = self.path + ".tmp"
        self.f = h5py.File(self.tmp, "w", libver=LIBVER)
        self.n, self.total = 0, len(steps)
        self.datasets: dict[str, h5py.Dataset] = {}
        f = self.f
        f.attrs.update({"format": METRICS_FORMAT, "format_version": VERSION,
                        "grokscan_version": __version__})
        f.attrs.update({k: v if isinstance(v, (str, int, float)) else json.dumps(v)
                        for k, v in attrs.items()})
        f["steps"] = np.asarray(steps, np.int64)
        for k, v in scalars.items():
            f[f"scalars/{k}"] = v
        f["run/steps"] = np.asarray(run_steps, np.int64)
        for k, v in run_scalars.items():
            f[f"run/scalars/{k}"] = v
        for k, v in samples.items():
            f[f"samples/{k}"] = v
        for name, group_attrs in groups.items():
            g = f.require_group(f"metrics/{name}")
            g.attrs.update({k: v if isinstance(v, (str, np.ndarray)) else json.dumps(v)
                            for k, v in group_attrs.items()})

    def write(self, block: dict[str, np.ndarray], n_block: int) -> None:
        """Append the rows of one block: {"family/name": (n_block, ...)}."""
        check_space(self.tmp, sum(np.asarray(v).nbytes for v in block.values()))
        for key, value in block.items():
            if key not in self.datasets:
                # rows a subset family does not compute stay NaN
                fill = np.nan if value.dtype.kind == "f" else None
                self.datasets[key] = self.f.create_dataset(
                    f"metrics/{key}", shape=(self.total, *value.shape[1:]), dtype=value.dtype,
                    fillvalue=fill)
            self.datasets[key][self.n: self.n + n_block] = value
        self.n += n_block

    def put(self, key: str, value: np.ndarray, attrs: dict) -> None:
        """Write the whole of ``metrics/<key>`` (one row per analysed step) at once, with
        attributes on its group (what a result over every checkpoint adds: the onset)."""
        value = np.asarray(value)
        if value.shape[:1] != (self.total,):
            raise GrokscanError(f"metrics/{key}: expected one row per analysed step "
                                f"({self.total}), got shape {value.shape}")
        self.f[f"metrics/{key}"] = value
        self.f[f"metrics/{key}"].parent.attrs.update(
            {k: v if isinstance(v, (str, int, float)) else json.dumps(v)
             for k, v in attrs.items()})

    def put_moments(self, family: str, arrays: dict[str, np.ndarray], attrs: dict) -> None:
        """Write a MOMENTS family's arrays to ``moments/<family>/<name>`` (a leading axis of
        moments, not of analysed steps), with attributes on its group."""
        check_space(self.tmp, sum(np.asarray(v).nbytes for v in arrays.values()))
        g = self.f.require_group(f"moments/{family}")
        for k, v in arrays.items():
            g[k] = np.asarray(v)
        g.attrs.update({k: v if isinstance(v, (str, np.ndarray)) else json.dumps(v)
                        for k, v in attrs.items()})

    def put_onset_live(self, rows, result: dict) -> None:
        """The run's in-loop onset record (``Run.onset_rows()``) under ``/onset_live``: its
        steps, score and signals, the flag, memorisation, reason and model as attributes
        (grokscan/onset/track.py read_back)."""
        check_space(self.tmp, rows.values.nbytes + 2 * rows.steps.nbytes)
        g = self.f.create_group("onset_live")
        g["steps"], g["score"], g["values"] = rows.steps, rows.score, rows.values
        g.attrs.update(signals=json.dumps(list(rows.names)), model=rows.model,
                       step=-1 if result["step"] is None else result["step"],
                       memorisation=-1 if result["memorisation"] is None
                       else result["memorisation"], reason=result["reason"])

    def close(self) -> None:
        """Publish the file if complete; otherwise remove the partial one."""
        self.f.close()
        if self.n == self.total:
            os.replace(self.tmp, self.path)
        else:
            self.abort()

    def abort(self) -> None:
        if self.f.id.valid:
            self.f.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is None:
            self.close()
        else:
            self.abort()


def columns(f: h5py.File) -> dict[str, np.ndarray]:
    """The table of a metrics file, one value per analysed checkpoint: ``step``, the recorded
    scalars, then every metric of one number per checkpoint, named by its path under
    /metrics (``fourier/gini_embed``)."""
    cols = {"step": f["steps"][()]}
    cols.update({k: f["scalars"][k][()] for k in sorted(f["scalars"])})

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
            cols[name] = obj[()]

    if "metrics" in f:
        f["metrics"].visititems(visit)
    return cols


def write_csv(h5_path: str, csv_path: str) -> None:
    """metrics.csv: :func:`columns`, one row per analysed checkpoint; written under a
    temporary name and renamed when complete."""
    with h5py.File(h5_path, "r") as f:
        cols = columns(f)
    tmp = csv_path + ".tmp"
    check_space(csv_path, 32 * len(cols) * len(cols["step"]))
    try:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(list(cols))
            for row in zip(*cols.values()):
                w.writerow([int(v) if isinstance(v, np.integer) else f"{v:.8g}" for v in row])
        os.replace(tmp, csv_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _json(f: h5py.File, name: str, default):
    raw = text(f.attrs.get(name))
    return json.loads(raw) if raw else default


class MetricsFile(Reader):
    """A metrics file (OUT/metrics.h5 of ``grokscan analyze``; the file or its folder), opened
    read-only and validated once (format, version, steps, scalars).

    ``get(path)`` returns a dataset as an array, or None when it is absent; a dataset whose
    first axis is not one row per analysed step is refused with its path. ``run_steps`` and
    ``run_scalars`` are those of every checkpoint of the run (of the analysed ones for a
    version-1 file, which did not store them).
    """

    FORMAT, VERSIONS, WHAT = METRICS_FORMAT, VERSIONS, "a grokscan metrics file"
    REQUIRED = ("steps", "scalars")

    def __init__(self, path):
        path = os.fspath(path)
        if os.path.isdir(path):
            self.path = os.path.join(path, "metrics.h5")
            if not os.path.exists(self.path):
                raise GrokscanError(f"{path} holds no metrics.h5 (make it with `grokscan "
                                    f"analyze run.h5 -o {path}`)")
        elif os.path.exists(path):
            self.path = path
        else:
            raise GrokscanError(f"{path}: no such file or folder (expected a metrics.h5 of "
                                "`grokscan analyze`, or the folder holding it)")
        super().__init__(self.path)

    def table(self):
        """The per-checkpoint numbers as a pandas DataFrame (metrics.csv's table): one row per
        analysed checkpoint, indexed by ``step``; the recorded scalars, then every metric of
        one number per checkpoint (columns named by their path, ``fourier/gini_embed``)."""
        import pandas as pd

        return pd.DataFrame(columns(self.f)).set_index("step")

    def _validate(self):
        f, path = self.f, self.path
        self.steps = f["steps"][()].astype(np.int64)
        self.n = len(self.steps)
        if not self.n:
            raise FileFormatError(f"{path}: /steps is empty (no checkpoint was analysed)")
        self.scalars = {k: self.get(f"scalars/{k}") for k in sorted(f["scalars"])}
        if "run" in f:
            self.run_steps = f["run/steps"][()].astype(np.int64)
            self.run_scalars = {k: f["run/scalars"][k][()] for k in sorted(f["run/scalars"])}
            if any(len(v) != len(self.run_steps) for v in self.run_scalars.values()):
                raise FileFormatError(f"{path}: /run/scalars and /run/steps differ in length")
        else:
            self.run_steps, self.run_scalars = self.steps, self.scalars
        try:
            self.config = _json(f, "config", None)
            self.key_freqs = _by_operation(_json(f, "key_freqs", {}), f"{path}: key_freqs")
            self.op_basis = _by_operation(_json(f, "op_basis", {}), f"{path}: op_basis")
            self.ops = _operations(_json(f, "ops", []), f"{path}: ops")
            self.families = _json(f, "families", [])
            self.left_out = _json(f, "left_out", {})
            self.task = _json(f, "task", None) or _task_v1(self.config, int(f.attrs.get("p", 0)))
        except json.JSONDecodeError as e:
            raise FileFormatError(f"{path}: an attribute is not valid JSON ({e})") from None
        self.p = int(f.attrs.get("p", 0))
        self.basis = text(f.attrs.get("basis", "additive"))
        self.source = text(f.attrs.get("source", ""))

    @property
    def task_kind(self) -> str:
        return self.task.get("kind", "unknown")

    def has(self, path: str) -> bool:
        return isinstance(self.f.get(path), h5py.Dataset)

    def _dataset(self, path: str) -> h5py.Dataset | None:
        ds = self.f.get(path)
        if not isinstance(ds, h5py.Dataset):
            return None
        if ds.ndim == 0 or ds.shape[0] != self.n:
            raise FileFormatError(f"{self.path}: /{path} has shape {ds.shape}; expected one row "
                                  f"per analysed step ({self.n})")
        return ds

    def get(self, path: str) -> np.ndarray | None:
        ds = self._dataset(path)
        return None if ds is None else ds[()]

    def rows(self, path: str, idx) -> np.ndarray:
        """Rows ``idx`` (ascending, distinct) of a per-step dataset, reading only those."""
        return self._dataset(path)[np.asarray(idx, dtype=np.int64)]

    def moment(self, path: str) -> np.ndarray | None:
        """A dataset of ``/moments`` (a MOMENTS family: one row per moment of the group's
        ``steps``), or None when absent; a first axis of another length is refused."""
        ds = self.f.get(f"moments/{path}")
        if not isinstance(ds, h5py.Dataset):
            return None
        n = len(np.ravel(self.attr(f"moments/{path.rsplit('/', 1)[0]}", "steps", [])))
        if ds.ndim == 0 or ds.shape[0] != n:
            raise FileFormatError(f"{self.path}: /moments/{path} has shape {ds.shape}; "
                                  f"expected one row per moment ({n})")
        return ds[()]

    def names(self, group: str) -> list[str]:
        """The datasets directly in ``group`` (none if absent), in natural order (h2 < h10)."""
        g = self.f.get(group)
        if not isinstance(g, h5py.Group):
            return []
        keys = [k for k in g if isinstance(g[k], h5py.Dataset)]
        return sorted(keys, key=lambda s: [int(t) if t.isdigit() else t
                                           for t in re.split(r"(\d+)", s)])

    def attr(self, group: str, name: str, default=None):
        """A group attribute, JSON-decoded when it is text."""
        g = self.f.get(group)
        value = default if g is None else g.attrs.get(name, default)
        if isinstance(value, (str, bytes)):
            try:
                return json.loads(text(value))
            except json.JSONDecodeError:
                return text(value)
        return value

    def onset(self) -> dict | None:
        """What analyze's onset detector recorded (``metrics/onset``, SCHEMA.md): {"step",
        "memorisation" (None where it wrote −1), "reason", "score" (per analysed checkpoint),
        "detector" (its name; None in files written before detectors had names), "settings"
        (a dict)}; None when it did not run."""
        if "metrics/onset" not in self.f:
            return None

        def step(name):
            v = self.attr("metrics/onset", name, -1)
            return None if v is None or int(v) < 0 else int(v)

        settings = self.attr("metrics/onset", "settings", {})
        detector = self.attr("metrics/onset", "detector", None)
        return {"step": step("step"), "memorisation": step("memorisation"),
                "reason": str(self.attr("metrics/onset", "reason", "")),
                "score": self.get("metrics/onset/score"),
                "detector": None if detector is None else str(detector),
                "settings": settings if isinstance(settings, dict) else {}}

    def onset_live(self) -> dict | None:
        """The run's in-loop onset record as analyze copied it (``/onset_live``, SCHEMA.md):
        {"steps", "score", "values" {signal: (m,)}, "step", "memorisation" (None where −1),
        "reason", "threshold", "model" (what it was fitted on)}; None when the run has none."""
        g = self.f.get("onset_live")
        if not isinstance(g, h5py.Group):
            return None
        try:
            names = json.loads(text(g.attrs["signals"]))
            model = json.loads(text(g.attrs["model"]))
            values = g["values"][()]
            out = {"steps": g["steps"][()], "score": g["score"][()],
                   "values": {k: values[:, i] for i, k in enumerate(names)},
                   "reason": text(g.attrs["reason"]), "threshold": float(model["threshold"]),
                   "model": str(model.get("fitted_on", ""))}
            for k in ("step", "memorisation"):
                v = int(g.attrs[k])
                out[k] = None if v < 0 else v
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise FileFormatError(f"{self.path}: /onset_live is malformed ({e})") from None
        return out


def _operations(value, where: str) -> list[str]:
    """The ``ops`` attribute: a list of grokscan's operations, each checked (the report names
    a figure file and an HTML id after each)."""
    if not isinstance(value, list):
        raise FileFormatError(f"{where}: expected a list of operations, got {shown(value)}")
    return [operation(op, where) for op in value]


def operation(value, where: str) -> str:
    """``value`` if it is one of grokscan's operations (it names figure files); a
    FileFormatError otherwise."""
    if isinstance(value, str) and value in OPS:
        return value
    raise FileFormatError(f"{where}: expected one of grokscan's operations (grokscan ops), "
                          f"got {shown(value)}")


def _by_operation(value, where: str) -> dict:
    """``op_basis``, ``key_freqs``: an object whose keys are grokscan's operations."""
    if not isinstance(value, dict):
        raise FileFormatError(f"{where}: expected an object by operation, got {shown(value)}")
    for op in value:
        operation(op, where)
    return value


def _task_v1(config: dict | None, p: int) -> dict:
    """The task description of a version-1 file, which stored only the run's config."""
    t = (config or {}).get("task", {})
    kind = t.get("kind", "modular" if p else "unknown")
    if kind == "ising":
        return {"kind": "ising", "line": "Ising energy classes", "class_label": "energy class",
                "class_names": None}
    if kind == "modular" and t.get("ops"):
        ops = list(t["ops"])
        what = ops[0] if len(ops) == 1 else f"{', '.join(ops)} (one multi-task model)"
        return {"kind": "modular", "line": f"{what} mod {t.get('p')}, train fraction "
                f"{t.get('frac')}", "class_label": "answer c", "class_names": None}
    return {"kind": kind, "line": "", "class_label": "class", "class_names": None}
