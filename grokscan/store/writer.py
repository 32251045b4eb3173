"""The checkpoint writer: a model's parameters, their gradients and the scalars of each
checkpoint appended to one HDF5 file (store/SCHEMA.md); the file's mechanics and nothing of
when to write or what to watch (grokscan/recorder.py composes it with a schedule and the onset
record).

What a user has is never lost or misread (store/SCHEMA.md, "Writing, and crashes"):

- one writer per file: a lock beside it (grokscan/hdf5/lock.py), taken before anything is
  touched;
- the file appears under its name only with its first checkpoint, written until then as
  ``<name>.part``, so that a run killed at its start leaves the previous file (``--force``)
  or nothing, never an empty run;
- each checkpoint is written in one go, then the state to resume from it (in one of two
  slots, the other still holding the previous checkpoint's), then the rows of its sections
  (the onset record), then its step, the commit marker, then a flush: a reader (live, in SWMR
  mode, or after a crash) trusts exactly the rows whose step is written, and every committed
  row can be resumed from;
- a resume appends after the last committed checkpoint and never removes one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Protocol

import h5py
import numpy as np
import torch

from grokscan._version import __version__
from grokscan.config import RunConfig
from grokscan.errors import GrokscanError
from grokscan.hdf5.format import CHECKPOINTS_FORMAT, SWMR_LIBVER, H5File, check_space
from grokscan.hdf5.lock import WriterLock
from grokscan.hdf5.superblock import clear_writer_flags, writer_flags
from grokscan.store.layout import Layout, check_layout, logit_entries
from grokscan.tasks.custom import CustomData
from grokscan.threads import flushing

VERSION = 4  # the checkpoint format version written (store/SCHEMA.md)
STATE = ("optimizer", "layout", "torch_rng", "batch_rng")  # a resume slot's vectors
SLOTS = ("0", "1")  # checkpoint i keeps its resume state in slot i % 2


class Section(Protocol):
    """A group of the file that grows with the checkpoints beside /params (the onset record,
    grokscan/onset/track.py): its datasets are created with the first checkpoint (none can be
    once SWMR mode is on), and its rows written with each one, before the step commits it."""

    def create(self, f: h5py.File) -> None: ...

    def write(self, f: h5py.File) -> None: ...


def _resizable(group, name, shape, dtype, fill=0):
    return group.create_dataset(
        name, shape=(0, *shape), maxshape=(None, *shape), chunks=(1, *shape) if shape else (256,),
        dtype=dtype, fillvalue=fill,
    )


@dataclass(frozen=True)
class Header:
    """What a new file says of itself besides its checkpoints (store/SCHEMA.md, root
    attributes): where analysis finds the per-residue vectors and the neuron-logit map (checked
    against the parameters' shapes before anything is written), the RunConfig (grokscan's own
    models) or None, and more root attributes (a schedule, an import's provenance)."""

    layout: Layout
    config: RunConfig | None = None
    attrs: dict = field(default_factory=dict)


class Writer(H5File):
    """Write checkpoints of the parameters ``params`` ({dotted name: torch parameter}) to
    ``path``: ``/params/<name>``, and ``/grads/<name>`` from each parameter's ``.grad``.

    header: :class:`Header`. task: a task's data (grokscan.tasks, e.g. a ``ModularData``), or a
    dict of numpy arrays stored under ``/task`` (may be None). sections: the groups that grow
    with the checkpoints besides the parameters (:class:`Section`).
    """

    def __init__(self, path, params: dict, header: Header, *, task=None, grads: bool = True,
                 force: bool = False, sections=()):
        path = os.fspath(path)
        self.lock = WriterLock(path).acquire()
        self.path, self.part = path, path + ".part"
        self._setup(params, grads, n=0, scalars=None, sections=sections)
        try:
            if os.path.exists(path) and not force:
                raise GrokscanError(f"{path} exists; pass --force to overwrite it, or --resume")
            self.f = h5py.File(self.part, "w", libver=SWMR_LIBVER)
            shapes = {k: tuple(v.shape) for k, v in self.params.items()}
            layout = header.layout
            p = getattr(getattr(header.config, "task", None), "p", None)
            check_layout(layout.residue_vectors, layout.neuron_logit_map, shapes,
                         where="layout", p=p)
            self._header(header)
            _write_task(self.f.create_group("task"), task)
            _resizable(self.f, "steps", (), "i8", fill=-1)
            for group in ("params", "grads") if grads else ("params",):
                g = self.f.create_group(group)
                for name, p in self.params.items():
                    _resizable(g, name, tuple(p.shape), "f4")
            self.f.create_group("scalars")
        except BaseException as e:
            self._abandon()
            if isinstance(e, OSError):
                raise GrokscanError(f"{self.part}: cannot create it ({e.strerror or e})") from None
            raise

    def _setup(self, params: dict, grads: bool, *, n: int, scalars, sections=()) -> None:
        self.params = dict(params)
        self.grads, self.n, self._scalars = grads, n, scalars
        self.sections = list(sections)
        self.last_step: int | None = None
        self._optimizer = self._batch_rng = None
        self.f = None

    def _header(self, header: Header) -> None:
        config, layout = header.config, header.layout
        f = self.f
        f.attrs.update(format=CHECKPOINTS_FORMAT, format_version=VERSION,
                       grokscan_version=__version__, torch_version=str(torch.__version__),
                       torch_threads=torch.get_num_threads(),
                       deterministic=torch.are_deterministic_algorithms_enabled(),
                       flush_denormal=flushing())
        f.attrs["config"] = config.to_json() if config is not None else "null"
        f.attrs.update(header.attrs)
        f.attrs["residue_vectors"] = json.dumps(list(layout.residue_vectors))
        f.attrs["neuron_logit_map"] = json.dumps(list(logit_entries(layout.neuron_logit_map)))
        f.attrs["param_names"] = json.dumps(list(self.params))

    @classmethod
    def reopen(cls, path, params: dict, *, lock: WriterLock | None = None) -> Writer:
        """Append to an existing checkpoint file after its last committed checkpoint (for
        --resume). Rows a killed writer left half-written (no step) are dropped; no committed
        checkpoint is. ``lock``: the writer's lock, if the caller already holds it. Its
        sections are the caller's to restore from the file and add (``sections``)."""
        self = cls.__new__(cls)
        path = os.fspath(path)
        self.lock = lock or WriterLock(path).acquire()
        self.path, self.part = path, None
        try:
            if writer_flags(path):  # left by a killed writer: the lock proves it is gone
                clear_writer_flags(path)
            f = h5py.File(path, "a", libver=SWMR_LIBVER)
            steps = f["steps"][()]
            bad = np.flatnonzero(steps < 0)
            n = int(bad[0]) if bad.size else len(steps)
            self._setup(params, "grads" in f, n=n, scalars=sorted(f["scalars"]) or None)
            self.f = f
            self.last_step = int(steps[n - 1]) if n else None
            for ds in self._rows():
                ds.resize(n, axis=0)
            if self._scalars:
                self._upgrade_resume_state()
                f.swmr_mode = True
        except BaseException as e:
            self._abandon()
            if isinstance(e, OSError):
                raise GrokscanError(f"{path}: cannot open it to append ({e})") from None
            raise
        return self

    def _upgrade_resume_state(self) -> None:
        """Files of format version 1 kept one resume state; version 2 keeps two slots (a file
        resumed keeps its version otherwise: one of version 2 gets no /onset)."""
        f = self.f
        if f.attrs.get("format_version") != 1:
            return
        if "resume" in f:
            del f["resume"]
        self._create_slots()
        f.attrs["format_version"] = 2

    def _rows(self):
        f = self.f
        yield from (f["params"][n] for n in self.params)
        if self.grads:
            yield from (f["grads"][n] for n in self.params)
        yield from (f["scalars"][n] for n in self._scalars or [])
        yield f["steps"]

    def record(self, step: int, **scalars: float) -> None:
        """Append one checkpoint: every parameter, its ``.grad``, the scalars, the resume state
        (when ``track``ed), and last the step. The scalar names are fixed by the first call;
        steps must increase. Call it when ``due(step)``."""
        step = int(step)
        if self.last_step is not None and step <= self.last_step:
            raise GrokscanError(f"record(): steps must increase; got step {step} after "
                                f"{self.last_step}")
        if self._scalars is not None and sorted(scalars) != self._scalars:
            raise GrokscanError(
                f"record(): expected the scalars {self._scalars}, got {sorted(scalars)}")
        try:
            check_space(self.part or self.path, self._bytes())
        except GrokscanError as e:
            raise GrokscanError(f"{e}; the {self.n} checkpoints before step {step} are kept"
                                ) from None
        try:
            self._write(step, scalars)
        except (OSError, RuntimeError) as e:  # HDF5 reports a failed write as either
            raise GrokscanError(f"{self.path}: cannot write the checkpoint of step {step} "
                                f"({getattr(e, 'strerror', None) or e}); the {self.n} "
                                "checkpoints before it are kept") from None

    def _bytes(self) -> int:
        """About what one checkpoint adds to the file: parameters, gradients, the optimizer's
        state, and room for the metadata."""
        n = sum(p.numel() for p in self.params.values())
        state = 0
        if self._optimizer is not None:
            state = sum(torch.as_tensor(v).numel() for st in self._optimizer.state.values()
                        for v in st.values())
        return 4 * (n * (2 if self.grads else 1) + state) + (256 << 10)

    def _write(self, step: int, scalars: dict) -> None:
        f, n = self.f, self.n
        if self._scalars is None:  # every dataset must exist before SWMR mode starts
            self._scalars = sorted(scalars)
            for name in self._scalars:
                _resizable(f["scalars"], name, (), "f8", fill=np.nan)
            if self._optimizer is not None:
                self._create_slots()
            for section in self.sections:
                section.create(f)
        with torch.no_grad():
            for name, p in self.params.items():
                _append(f["params"][name], n, p.detach().cpu().numpy())
                if self.grads:
                    g = p.grad
                    g = np.zeros(p.shape, np.float32) if g is None else g.detach().cpu().numpy()
                    _append(f["grads"][name], n, g)
        for name in self._scalars:
            _append(f["scalars"][name], n, float(scalars[name]))
        self._write_state(step, SLOTS[n % 2])
        for section in self.sections:
            section.write(f)
        f.flush()  # every row and the state on disk before the step that commits them
        _append(f["steps"], n, step)
        if not f.swmr_mode:
            f.swmr_mode = True
        f.flush()
        self.n, self.last_step = n + 1, step
        if self.part is not None:  # the first checkpoint: the file appears under its name
            os.replace(self.part, self.path)
            self.part = None

    # --- the state needed to resume: the optimizer's moments and the random generators -----
    # Their sizes are known only after the first optimizer step, and no dataset can be created
    # once SWMR mode is on, so each is a resizable 1-D vector created with the first checkpoint.

    def track(self, optimizer: torch.optim.Optimizer, batch_rng: torch.Generator | None = None):
        """Keep, with every checkpoint, the optimizer state, the torch generator and a sampling
        generator as they are when ``record`` is called, so that training can resume from
        that checkpoint. Call before the first ``record``."""
        self._optimizer, self._batch_rng = optimizer, batch_rng

    def _create_slots(self) -> None:
        g = self.f.require_group("resume")
        for slot in SLOTS:
            s = g.create_group(slot)
            for name in STATE:
                s.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(1 << 14,),
                                 dtype="f4" if name == "optimizer" else "u1")
            s.create_dataset("step", data=np.array([-1], dtype=np.int64))

    def _write_state(self, step: int, slot: str) -> None:
        if self._optimizer is None:
            return
        flat, layout = _flatten_optimizer(self._optimizer, self.params)
        rng = self._batch_rng.get_state().numpy() if self._batch_rng is not None else b""
        values = {
            "optimizer": flat,
            "layout": np.frombuffer(json.dumps(layout).encode(), np.uint8),
            "torch_rng": torch.get_rng_state().numpy(),
            "batch_rng": np.frombuffer(bytes(rng), np.uint8),
        }
        g = self.f["resume"][slot]
        g["step"][0] = -1  # the slot is incomplete until its step is written again
        for name, v in values.items():
            g[name].resize(len(v), axis=0)
            g[name][:] = v
        g["step"][0] = step

    def abort(self) -> None:
        """Close without raising (on the way out of an error or an interrupt): every committed
        checkpoint stays; a ``.part`` that got none is removed; the lock is given up."""
        self._abandon()

    def __exit__(self, kind, *exc):
        if kind is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        """Close the file and give up the lock; a file that never got a checkpoint is
        removed (its ``.part``), one that did keeps every committed checkpoint."""
        try:
            if self.f is not None and self.f.id.valid:
                self.f.close()
        except OSError as e:
            raise GrokscanError(f"{self.path}: cannot close it ({e.strerror or e}); the "
                                f"{self.n} checkpoints written are kept") from None
        finally:
            self._abandon()

    def _abandon(self) -> None:
        """Close quietly, remove a ``.part`` that holds no checkpoint, release the lock."""
        try:
            if getattr(self, "f", None) is not None and self.f.id.valid:
                self.f.close()
        except OSError:
            pass
        if getattr(self, "part", None) and os.path.exists(self.part):
            os.remove(self.part)
        self.lock.release()


def repair(path) -> bool:
    """Clear the writer flags a killed writer left in ``path`` (hdf5/superblock.py), so that
    any HDF5 tool opens it; refused while a live writer holds the file. Returns whether the
    file needed it. The checkpoints are not touched."""
    from grokscan.hdf5.format import open_checked

    path = os.fspath(path)
    with WriterLock(path):
        f, _ = open_checked(path, CHECKPOINTS_FORMAT, tuple(range(1, VERSION + 1)),
                            "a grokscan checkpoint file")
        f.close()
        return clear_writer_flags(path)


def _append(ds, n: int, value) -> None:
    ds.resize(n + 1, axis=0)
    ds[n] = value


def _write_task(g, task) -> None:
    """A task's data (:class:`grokscan.tasks.TaskData`), or the user's arrays, under /task."""
    if task is None:
        task = CustomData(kind="none")
    elif isinstance(task, dict):
        task = CustomData(dict(task))
    task.write(g)


def _flatten_optimizer(opt, params: dict) -> tuple[np.ndarray, list]:
    """All tensors of the optimizer state in parameter order, as one float32 vector."""
    index = {id(p): name for name, p in params.items()}
    parts, layout = [], []
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p, {})
            for key in sorted(state):
                t = torch.as_tensor(state[key]).detach().cpu().float()
                parts.append(t.reshape(-1).numpy())
                layout.append([index[id(p)], key, list(t.shape)])
    flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return flat.astype(np.float32), layout


def restore_optimizer(opt, params: dict, flat: np.ndarray, layout: list) -> None:
    """Load the vector written by the Recorder back into ``opt.state`` (the layout is checked
    by the reader, grokscan.store.reader.ResumeState)."""
    offset = 0
    for name, key, shape in layout:
        p = params[name]
        size = int(np.prod(shape)) if shape else 1
        t = torch.from_numpy(np.array(flat[offset: offset + size])).reshape(shape)
        offset += size
        opt.state[p][key] = t.to(p.device)
