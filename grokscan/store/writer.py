"""The Recorder: dense checkpoints of any PyTorch model into one HDF5 file (store/SCHEMA.md).

    rec = Recorder("run.h5", model, task=data, schedule=Schedule(every=10))
    for step in range(steps + 1):
        loss = loss_fn(model(x), y); loss.backward()     # grads of the parameters at `step`
        if rec.due(step):
            rec.record(step, train_loss=loss.item(), test_acc=evaluate(model))
        opt.step(); opt.zero_grad()
    rec.close()

Each checkpoint is written in one go and flushed; the step is written last, so that a reader
(live, in SWMR mode, or after a crash) trusts exactly the rows whose step is there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import h5py
import numpy as np
import torch

from grokscan._version import __version__
from grokscan.config import RunConfig
from grokscan.errors import GrokscanError
from grokscan.store._format import CHECKPOINTS, H5File
from grokscan.tasks.custom import CustomData

VERSION = 1  # the checkpoint format version written (store/SCHEMA.md)


@dataclass(frozen=True)
class Schedule:
    """Which steps are checkpointed: step 0, every ``every`` steps, and every ``dense_every``
    steps before ``dense_until`` (a denser start, where memorisation happens)."""

    every: int = 10
    dense_until: int = 0
    dense_every: int = 1

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


def _resizable(group, name, shape, dtype, fill=0):
    return group.create_dataset(
        name, shape=(0, *shape), maxshape=(None, *shape), chunks=(1, *shape) if shape else (256,),
        dtype=dtype, fillvalue=fill,
    )


@dataclass(frozen=True)
class Layout:
    """Where analysis finds a model's per-residue vectors and its neuron-logit map
    (store/SCHEMA.md, root attributes ``residue_vectors`` and ``neuron_logit_map``).

    residue_vectors: dicts ``{"param", "start", "stop", "operand"}``: rows start:stop of that
    parameter are the vectors of residues 0..P-1; neuron_logit_map: the parameter names whose
    matrix product maps the last hidden layer to the logits. grokscan's own models provide
    both (``Layout.of(model)``); for any other model, give them, or leave them empty and only
    the measures that need neither apply.
    """

    residue_vectors: tuple = ()
    neuron_logit_map: tuple = ()

    @classmethod
    def of(cls, model) -> Layout:
        """The layout a model declares (``model.residue_vectors()``, ``neuron_logit_map()``),
        empty where it declares none."""
        rv = model.residue_vectors() if hasattr(model, "residue_vectors") else []
        nl = model.neuron_logit_map() if hasattr(model, "neuron_logit_map") else []
        return cls(tuple(rv), tuple(nl))


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
        if os.path.exists(path) and not force:
            raise GrokscanError(f"{path} exists; pass --force to overwrite it, or --resume")
        self.path, self.model, self.schedule = path, model, schedule or Schedule()
        self.params = dict(model.named_parameters())
        self.grads = grads
        self.n = 0  # committed checkpoints
        self._scalars: list[str] | None = None
        self.f = h5py.File(path, "w", libver="latest")
        f = self.f
        f.attrs["format"] = CHECKPOINTS
        f.attrs["format_version"] = VERSION
        f.attrs["grokscan_version"] = __version__
        f.attrs["config"] = config.to_json() if config is not None else "null"
        f.attrs["schedule"] = json.dumps(self.schedule.__dict__)
        layout = layout if layout is not None else Layout.of(model)
        f.attrs["residue_vectors"] = json.dumps(list(layout.residue_vectors))
        f.attrs["neuron_logit_map"] = json.dumps(list(layout.neuron_logit_map))
        f.attrs["param_names"] = json.dumps(list(self.params))
        _write_task(f.create_group("task"), task)
        _resizable(f, "steps", (), "i8", fill=-1)
        for group in ("params", "grads") if grads else ("params",):
            g = f.create_group(group)
            for name, p in self.params.items():
                _resizable(g, name, tuple(p.shape), "f4")
        f.create_group("scalars")

    @classmethod
    def reopen(cls, path, model: torch.nn.Module, *, keep: int, schedule: Schedule) -> Recorder:
        """Append to an existing file after its first ``keep`` checkpoints (for --resume)."""
        self = cls.__new__(cls)
        self.path, self.model, self.schedule = os.fspath(path), model, schedule
        self.params = dict(model.named_parameters())
        self.f = _open_for_append(self.path)
        self.grads = "grads" in self.f
        self._scalars = sorted(self.f["scalars"])
        self.n = keep
        for ds in self._rows():
            ds.resize(keep, axis=0)
        self.f.swmr_mode = True
        return self

    def due(self, step: int) -> bool:
        return step in self.schedule

    def _rows(self):
        f = self.f
        yield from (f["params"][n] for n in self.params)
        if self.grads:
            yield from (f["grads"][n] for n in self.params)
        yield from (f["scalars"][n] for n in self._scalars or [])
        yield f["steps"]

    def record(self, step: int, **scalars: float) -> None:
        """Append one checkpoint: the step, every parameter, its ``.grad``, and the scalars.

        The scalar names are fixed by the first call. Call it when ``due(step)``.
        """
        if self._scalars is None:  # every dataset must exist before SWMR mode starts
            self._scalars = sorted(scalars)
            for name in self._scalars:
                _resizable(self.f["scalars"], name, (), "f8", fill=np.nan)
        elif sorted(scalars) != self._scalars:
            raise GrokscanError(
                f"record(): expected the scalars {self._scalars}, got {sorted(scalars)}"
            )
        n = self.n
        f = self.f
        with torch.no_grad():
            for name, p in self.params.items():
                _append(f["params"][name], n, p.detach().cpu().numpy())
                if self.grads:
                    g = p.grad
                    g = np.zeros(p.shape, np.float32) if g is None else g.detach().cpu().numpy()
                    _append(f["grads"][name], n, g)
        for name in self._scalars:
            _append(f["scalars"][name], n, float(scalars[name]))
        _append(f["steps"], n, step)  # the commit marker, written last
        self.n = n + 1
        if not f.swmr_mode:
            self._create_resume_datasets()
            f.swmr_mode = True
        f.flush()

    # --- the state needed to resume: the optimizer's moments and the random generators -----
    # Their sizes are known only after the first optimizer step, and no dataset can be created
    # once SWMR mode is on, so each is a resizable 1-D vector created with the first checkpoint.
    _optimizer = None
    _batch_rng = None
    _STATE = ("optimizer", "layout", "torch_rng", "batch_rng")

    def track(self, optimizer: torch.optim.Optimizer, batch_rng: torch.Generator | None = None):
        """Keep the optimizer state (and a sampling generator) of the latest checkpoint in the
        file, so that training can resume from it. Call before the first ``record``."""
        self._optimizer, self._batch_rng = optimizer, batch_rng

    def _create_resume_datasets(self):
        if self._optimizer is None:
            return
        g = self.f.create_group("resume")
        for name in self._STATE:
            g.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(1 << 16,),
                             dtype="f4" if name == "optimizer" else "u1")
        g.create_dataset("step", data=np.array([-1], dtype=np.int64))

    def save_state(self, step: int) -> None:
        """Write the resume state that goes with the checkpoint just recorded at ``step``."""
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
        g = self.f["resume"]
        g["step"][0] = -1  # the state is incomplete until the step is written again
        for name, v in values.items():
            g[name].resize(len(v), axis=0)
            g[name][:] = v
        g["step"][0] = step
        self.f.flush()



def _open_for_append(path: str) -> h5py.File:
    """Open a checkpoint file for appending. A writer killed in SWMR mode leaves the file's
    consistency flags set, and HDF5 then refuses to open it for writing (its h5clear tool
    would reset them); we copy every object into a fresh file and swap it in atomically.
    Nothing is lost: the copy holds every row the original held."""
    try:
        return h5py.File(path, "a", libver="latest")
    except OSError as e:
        if "already open for write" not in str(e):
            raise GrokscanError(f"{path}: cannot open it to append ({e})") from None
    tmp = path + ".resume.tmp"
    with h5py.File(path, "r", libver="latest", swmr=True) as src, \
            h5py.File(tmp, "w", libver="latest") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for key in src:
            src.copy(src[key], dst, name=key)
    os.replace(tmp, path)
    return h5py.File(path, "a", libver="latest")


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
    """Load the vector written by the Recorder back into ``opt.state``."""
    offset = 0
    for name, key, shape in layout:
        p = params[name]
        size = int(np.prod(shape)) if shape else 1
        t = torch.from_numpy(np.array(flat[offset: offset + size])).reshape(shape)
        offset += size
        opt.state[p][key] = t.to(p.device)
