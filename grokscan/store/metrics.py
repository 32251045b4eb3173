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
from grokscan.hdf5.format import (
    LIBVER,
    METRICS_FORMAT,
    Reader,
    check_space,
    check_whole_steps,
    described,
    text,
)
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
        self.steps = _steps(f["steps"], f"{path}: /steps")
        self.n = len(self.steps)
        if not self.n:
            raise FileFormatError(f"{path}: /steps is empty (no checkpoint was analysed)")
        self.scalars = _scalars(f["scalars"], self.n, f"{path}: /scalars")
        if "run" in f:
            self.run_steps = _steps(f["run/steps"], f"{path}: /run/steps")
            self.run_scalars = _scalars(f["run/scalars"], len(self.run_steps),
                                        f"{path}: /run/scalars")
        else:
            self.run_steps, self.run_scalars = self.steps, self.scalars
        _attributes(self, f, path)

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
        n = len(self.numbers(f"moments/{path.rsplit('/', 1)[0]}", "steps", [], whole=True))
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
            raw = _text(value, f"{self.path}: /{group} attribute {name}")
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return raw
            except RecursionError:
                raise FileFormatError(f"{self.path}: /{group} attribute {name}: JSON nested "
                                      "too deeply") from None
        return value

    def numbers(self, group: str, name: str, default=None, *, whole: bool = False,
                lo: float | None = None, hi: float | None = None) -> np.ndarray | None:
        """A group attribute of numbers (one or a list) as a 1-D array, ``default`` when it is
        absent; finite numbers (whole ones with ``whole``) within [lo, hi], or a
        FileFormatError naming the attribute."""
        value = self.attr(group, name, None)
        if value is None:
            return None if default is None else np.asarray(default)
        where = f"{self.path}: /{group} attribute {name}"
        try:
            a = np.ravel(np.asarray(value))
            ok = a.dtype.kind in "iuf" and a.size <= MAX_ATTR_NUMBERS
            a = a.astype(np.float64) if ok else a
            ok = ok and bool(np.isfinite(a).all()) and (not whole or bool((a == a.round()).all()))
            ok = ok and (lo is None or bool((a >= lo).all())) and \
                (hi is None or bool((a <= hi).all()))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            within = f" in [{lo:g}, {hi:g}]" if lo is not None and hi is not None else ""
            raise FileFormatError(f"{where}: expected {'whole ' if whole else ''}numbers"
                                  f"{within}, got {shown(value)}")
        return a.astype(np.int64) if whole else a

    def texts(self, group: str, name: str) -> list[str]:
        """A group attribute that is a list of texts ([] when absent)."""
        value = self.attr(group, name, [])
        if isinstance(value, np.ndarray) and value.dtype.kind in "SUO":
            value = [text(v) for v in value.ravel()]
        return _texts(value, f"{self.path}: /{group} attribute {name}")

    def onset(self) -> dict | None:
        """What analyze's onset detector recorded (``metrics/onset``, SCHEMA.md): {"step",
        "memorisation" (None where it wrote −1), "reason", "score" (per analysed checkpoint),
        "detector" (its name; None in files written before detectors had names), "settings"
        (a dict)}; None when it did not run."""
        if "metrics/onset" not in self.f:
            return None

        def step(name):
            v = self.numbers("metrics/onset", name, [-1], whole=True)
            return None if v.size != 1 or v[0] < 0 else int(v[0])

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


def _steps(ds, where: str) -> np.ndarray:
    """A /steps dataset: whole steps ≥ 0 that increase (the report's moments and markers are
    searched over them)."""
    check_whole_steps(ds, where)
    steps = ds[()].astype(np.int64)
    back = np.flatnonzero(np.diff(steps) <= 0)
    if back.size:
        i = int(back[0])
        raise FileFormatError(f"{where} does not increase (step {steps[i + 1]} after "
                              f"{steps[i]}, row {i + 1})")
    if len(steps) and steps[0] < 0:
        raise FileFormatError(f"{where}: expected steps ≥ 0, got {steps[0]}")
    return steps


def _scalars(g, n: int, where: str) -> dict[str, np.ndarray]:
    """The scalars group: a row of real numbers per step for each (text, a compound or a
    second axis is refused)."""
    if not isinstance(g, h5py.Group):
        raise FileFormatError(f"{where}: expected a group of scalars, got a dataset")
    out = {}
    for k in sorted(g):
        ds = g[k]
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiu" or ds.shape != (n,):
            raise FileFormatError(f"{where}/{shown(k)}: expected {n} numbers, one a step, got "
                                  f"{described(ds)}")
        out[k] = ds[()]
    return out


MAX_ATTR_NUMBERS = 1 << 20  # numbers a group attribute may hold (a residue order: P)
MAX_P = 4096  # the largest modulus a run may have (grokscan.tasks.modular.ModularConfig)
BASES = ("additive", "multiplicative")


def _attributes(m: MetricsFile, f: h5py.File, path: str) -> None:
    """The root attributes, each checked against what analyze writes (store/SCHEMA.md) before
    the report draws or writes anything from them."""
    try:
        m.config = _config(_json(f, "config", None), f"{path}: config")
        m.ops = _operations(_json(f, "ops", []), f"{path}: ops")
        m.families = _texts(_json(f, "families", []), f"{path}: families")
        m.left_out = _text_map(_json(f, "left_out", {}), f"{path}: left_out")
        task = _json(f, "task", None)
        m.p = _modulus(f.attrs.get("p", 0), f"{path}: p")
        m.basis = _basis(_text(f.attrs.get("basis", "additive"), f"{path}: basis"), m.p,
                         f"{path}: basis")
        m.op_basis = {op: _basis(b, m.p, f"{path}: op_basis")
                      for op, b in _by_operation(_json(f, "op_basis", {}),
                                                 f"{path}: op_basis").items()}
        m.key_freqs = {op: _frequencies(ks, m.p, f"{path}: key_freqs")
                       for op, ks in _by_operation(_json(f, "key_freqs", {}),
                                                   f"{path}: key_freqs").items()}
    except json.JSONDecodeError as e:
        raise FileFormatError(f"{path}: an attribute is not valid JSON ({e})") from None
    m.task = _task(task, f"{path}: task") if task is not None else _task_v1(m.config, m.p)
    m.source = _text(f.attrs.get("source", ""), f"{path}: source")


def _json(f: h5py.File, name: str, default):
    where = f"{f.filename}: {name}"
    raw = _text(f.attrs.get(name), where)
    try:
        return json.loads(raw) if raw else default
    except RecursionError:
        raise FileFormatError(f"{where}: JSON nested too deeply") from None


def _text(value, where: str) -> str:
    """A text attribute as str: UTF-8 text, or a FileFormatError."""
    if isinstance(value, np.ndarray) or not isinstance(value, (str, bytes, type(None))):
        raise FileFormatError(f"{where}: expected text, got {shown(value)}")
    try:
        return text(value).encode("utf-8").decode("utf-8")
    except UnicodeError:
        raise FileFormatError(f"{where}: expected UTF-8 text, got {shown(value)}") from None


def _config(value, where: str) -> dict | None:
    """The run's configuration (null for a run recorded without one), checked as a run
    file's is: the report states it in words."""
    if value is None:
        return None
    from grokscan.config import RunConfig

    if not isinstance(value, dict):
        raise FileFormatError(f"{where}: expected a JSON object, got {shown(value)}")
    try:
        RunConfig.from_dict(value)
    except GrokscanError as e:
        raise FileFormatError(f"{where}: {e}") from None
    return value


def _texts(value, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FileFormatError(f"{where}: expected a list of names, got {shown(value)}")
    return value


def _text_map(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise FileFormatError(f"{where}: expected an object of texts, got {shown(value)}")
    return value


def _task(value, where: str) -> dict:
    """{"kind", "line", "class_label": text, "class_names": null or a list of texts}."""
    ok = isinstance(value, dict) and all(isinstance(value.get(k, ""), str)
                                         for k in ("kind", "line", "class_label"))
    names = value.get("class_names") if isinstance(value, dict) else None
    if not ok or not (names is None or isinstance(names, list)
                      and all(isinstance(n, str) for n in names)):
        raise FileFormatError(f"{where}: expected an object of kind, line, class_label (texts) "
                              f"and class_names (null or a list of texts), got {shown(value)}")
    return value


def _modulus(value, where: str) -> int:
    """P: 0 for a task without residues, else in [2, MAX_P]."""
    if not isinstance(value, (int, np.integer)) or not (value == 0 or 2 <= value <= MAX_P):
        raise FileFormatError(f"{where}: expected 0 (no residues) or a modulus in "
                              f"[2, {MAX_P}], got {shown(value)}")
    return int(value)


def _basis(value, p: int, where: str) -> str:
    from grokscan.groups import is_prime

    if value not in BASES:
        raise FileFormatError(f"{where}: expected additive or multiplicative, got "
                              f"{shown(value)}")
    if value == "multiplicative" and not is_prime(p):
        raise FileFormatError(f"{where}: the multiplicative basis needs a prime modulus, "
                              f"got P = {p}")
    return value


def _frequencies(value, p: int, where: str) -> list[int]:
    """Key frequencies: whole numbers in 1..P/2."""
    top = p // 2
    if not isinstance(value, list) or not all(
            isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= top for k in value):
        raise FileFormatError(f"{where}: expected frequencies in 1..{top} (P = {p}), got "
                              f"{shown(value)}")
    return value


def _operations(value, where: str) -> list[str]:
    """The ``ops`` attribute: a list of grokscan's operations, each checked (the report names
    a figure file and an HTML id after each)."""
    if not isinstance(value, list):
        raise FileFormatError(f"{where}: expected a list of operations, got {shown(value)}")
    ops = [operation(op, where) for op in value]
    if len(set(ops)) < len(ops):
        raise FileFormatError(f"{where}: expected each operation once, got {shown(value)}")
    return ops


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
