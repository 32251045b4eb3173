"""The Recorder: dense checkpoints of any PyTorch model into one HDF5 file (store/SCHEMA.md).

    rec = Recorder("run.h5", model, task=data, schedule=Schedule(every=10))
    for step in range(steps + 1):
        loss = loss_fn(model(x), y); loss.backward()     # grads of the parameters at `step`
        if rec.due(step):
            rec.record(step, train_loss=loss.item(), test_acc=evaluate(model))
        opt.step(); opt.zero_grad()
    rec.close()

What a user has is never lost or misread (store/SCHEMA.md, "Writing, and crashes"):

- one writer per file: a lock beside it (store/lock.py), taken before anything is touched;
- the file appears under its name only with its first checkpoint, written until then as
  ``<name>.part``, so that a run killed at its start leaves the previous file (``--force``)
  or nothing, never an empty run;
- each checkpoint is written in one go, then the state to resume from it (in one of two
  slots, the other still holding the previous checkpoint's), then its step, the commit marker,
  then a flush: a reader (live, in SWMR mode, or after a crash) trusts exactly the rows whose
  step is written, and every committed row can be resumed from;
- a resume appends after the last committed checkpoint and never removes one.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import h5py
import numpy as np
import torch

from grokscan._version import __version__
from grokscan.config import RunConfig
from grokscan.errors import GrokscanError
from grokscan.onset.track import Track, source_from_file, source_of
from grokscan.store._format import CHECKPOINTS, SWMR_LIBVER, H5File, check_space
from grokscan.store._superblock import clear_writer_flags, writer_flags
from grokscan.store.layout import Layout, check_layout
from grokscan.store.lock import WriterLock
from grokscan.tasks.custom import CustomData

VERSION = 3  # the checkpoint format version written (store/SCHEMA.md)
STATE = ("optimizer", "layout", "torch_rng", "batch_rng")  # a resume slot's vectors
SLOTS = ("0", "1")  # checkpoint i keeps its resume state in slot i % 2


@dataclass(frozen=True)
class Schedule:
    """Which steps are checkpointed: step 0, every ``every`` steps, every ``dense_every``
    steps before ``dense_until`` (a denser start, where memorisation happens) and, with
    ``dense_memorised``, after memorisation (where grokking starts; :meth:`due`)."""

    every: int = 10
    dense_until: int = 0
    dense_every: int = 1
    dense_memorised: int = 0  # steps of dense checkpoints once train accuracy reaches 0.99

    def __post_init__(self):
        if self.every < 1 or self.dense_every < 1:
            raise GrokscanError(
                f"checkpoint intervals must be at least 1, got every={self.every}, "
                f"dense_every={self.dense_every}"
            )

    def __contains__(self, step: int) -> bool:
        if step < self.dense_until and step % self.dense_every == 0:
            return True
        return step % self.every == 0

    def due(self, step: int, memorised: int | None) -> bool:
        """Whether ``step`` is checkpointed, given the step of memorisation (None: not yet):
        also every ``dense_every`` steps for ``dense_memorised`` steps after it."""
        if memorised is not None and memorised < step <= memorised + self.dense_memorised \
                and (step - memorised) % self.dense_every == 0:
            return True
        return step in self


def _resizable(group, name, shape, dtype, fill=0):
    return group.create_dataset(
        name, shape=(0, *shape), maxshape=(None, *shape), chunks=(1, *shape) if shape else (256,),
        dtype=dtype, fillvalue=fill,
    )


class Recorder(H5File):
    """Write checkpoints of ``model`` to ``path``.

    model: any torch.nn.Module; its named parameters become ``/params/<name>`` (and
    ``/grads/<name>`` from each parameter's ``.grad``). task: a task's data (grokscan.tasks,
    e.g. a ``ModularData``), or a dict of numpy arrays stored under ``/task`` (may be None).
    config: the RunConfig (grokscan's own models) or None. layout: where analysis finds the
    per-residue vectors and the neuron-logit map (:class:`Layout`; by default the model's own).
    """

    def __init__(self, path, model: torch.nn.Module, *, task=None, config: RunConfig | None = None,
                 schedule: Schedule | None = None, grads: bool = True, force: bool = False,
                 layout: Layout | None = None):
        path = os.fspath(path)
        self.lock = WriterLock(path).acquire()
        self.path, self.part = path, path + ".part"
        self._setup(model, schedule, grads, n=0, scalars=None)
        try:
            if os.path.exists(path) and not force:
                raise GrokscanError(f"{path} exists; pass --force to overwrite it, or --resume")
            self.f = h5py.File(self.part, "w", libver=SWMR_LIBVER)
            layout = layout if layout is not None else Layout.of(model)
            shapes = {k: tuple(v.shape) for k, v in self.params.items()}
            p = getattr(getattr(config, "task", None), "p", None)
            check_layout(layout.residue_vectors, layout.neuron_logit_map, shapes,
                         where="layout", p=p)
            self.onset = Track(source_of(layout, task))
            self._header(config, layout)
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

    def _setup(self, model, schedule, grads: bool, *, n: int, scalars) -> None:
        self.model, self.schedule = model, schedule or Schedule()
        self.params = dict(model.named_parameters())
        self.grads, self.n, self._scalars = grads, n, scalars
        self.last_step: int | None = None
        self._optimizer = self._batch_rng = None
        self.f = None
        self.onset: Track | None = None

    def _header(self, config: RunConfig | None, layout: Layout) -> None:
        f = self.f
        f.attrs.update(format=CHECKPOINTS, format_version=VERSION, grokscan_version=__version__,
                       torch_version=str(torch.__version__), torch_threads=torch.get_num_threads(),
                       deterministic=torch.are_deterministic_algorithms_enabled())
        f.attrs["config"] = config.to_json() if config is not None else "null"
        f.attrs["schedule"] = json.dumps(self.schedule.__dict__)
        f.attrs["residue_vectors"] = json.dumps(list(layout.residue_vectors))
        f.attrs["neuron_logit_map"] = json.dumps(list(layout.neuron_logit_map))
        f.attrs["param_names"] = json.dumps(list(self.params))

    @classmethod
    def for_hooked_transformer(cls, model, path, *, p: int | None = None, **kwargs) -> Recorder:
        """A Recorder of a TransformerLens HookedTransformer on [a, b, =], its layout filled in
        (grokscan.adapters.hooked_transformer_layout: rows 0..P−1 of embed.W_E, W_out · W_U);
        ``kwargs`` as ``Recorder`` takes them."""
        from grokscan.adapters import hooked_transformer_layout

        return cls(path, model, layout=hooked_transformer_layout(model, p), **kwargs)

    @classmethod
    def reopen(cls, path, model: torch.nn.Module, *, schedule: Schedule,
               lock: WriterLock | None = None) -> Recorder:
        """Append to an existing checkpoint file after its last committed checkpoint (for
        --resume). Rows a killed writer left half-written (no step) are dropped; no committed
        checkpoint is. ``lock``: the writer's lock, if the caller already holds it."""
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
            self._setup(model, schedule, "grads" in f, n=n, scalars=sorted(f["scalars"]) or None)
            self.f = f
            self.last_step = int(steps[n - 1]) if n else None
            for ds in self._rows():
                ds.resize(n, axis=0)
            self.onset = Track.resumed(f, self.last_step if n else 0, source_from_file(f))
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

    def due(self, step: int) -> bool:
        """Whether ``step`` is a checkpoint of the schedule (memorisation as ``observe`` saw
        it)."""
        return self.schedule.due(step, self.onset.memorised if self.onset else None)

    def observe(self, step: int, **train_side: float) -> float:
        """Give the in-loop onset detector (grokscan/onset/live.py) the step's training-side
        numbers, ``train_loss`` and ``train_acc`` (of the batch just evaluated), after the
        backward pass and before the optimizer step; it adds the weight norm and the Fourier
        measures of the weights and of the gradient. Returns the score (NaN before the
        memorisation plateau is known); ``self.onset`` has the flag and its reason. Call it at
        every step from the first, before the ``record`` of a checkpoint step; the rows are
        written with the checkpoints (``/onset``)."""
        if self.onset is None:
            raise GrokscanError("observe(): this Recorder has no onset track")
        if self.n and "onset" not in self.f:  # begun without it: no dataset can be added
            self.onset.recorded = False         # once SWMR mode is on
            return math.nan
        grads = {k: p.grad for k, p in self.params.items() if p.grad is not None}
        return self.onset.observe(step, self.params, grads, **train_side)

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
            if self.onset is not None and self.onset.rows and "onset" not in f:
                self.onset.create(f)  # (a file without scalars, reopened, has it already)
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
        if self.onset is not None:
            self.onset.write(f)
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
    """Clear the writer flags a killed writer left in ``path`` (store/_superblock.py), so that
    any HDF5 tool opens it; refused while a live writer holds the file. Returns whether the
    file needed it. The checkpoints are not touched."""
    from grokscan.store._format import open_checked

    path = os.fspath(path)
    with WriterLock(path):
        f, _ = open_checked(path, CHECKPOINTS, tuple(range(1, VERSION + 1)),
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
