"""The Recorder: dense checkpoints of any PyTorch model from any training loop, into one HDF5
file (store/SCHEMA.md); the checkpoint writer (grokscan/store/writer.py) composed with the
schedule that says which steps are checkpointed and the in-loop onset record
(grokscan/onset/track.py).

    rec = Recorder("run.h5", model, task=data, schedule=Schedule(every=10))
    for step in range(steps + 1):
        loss = loss_fn(model(x), y); loss.backward()     # grads of the parameters at `step`
        if rec.due(step):
            rec.record(step, train_loss=loss.item(), test_acc=evaluate(model))
        opt.step(); opt.zero_grad()
    rec.close()

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import torch

from grokscan.config import RunConfig
from grokscan.errors import GrokscanError
from grokscan.hdf5.lock import WriterLock
from grokscan.onset.track import Track, source_from_file, source_of
from grokscan.store.layout import Layout
from grokscan.store.spec import ModelSpec
from grokscan.store.writer import Header, Writer


@dataclass(frozen=True)
class Schedule:
    """Which steps are checkpointed: step 0, every ``every`` steps, every ``dense_every``
    steps before ``dense_until`` (a denser start, where memorisation happens) and, with
    ``dense_memorised``, after memorisation (where grokking starts;
    :meth:`~grokscan.Schedule.due`)."""

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


def checked_layout(model, layout: Layout | None, task, config) -> Layout:
    """The layout to record (the model's own when None), checked against the model before
    anything is written: residue vectors of P entries each (P of the task, or of the config),
    and a neuron-logit map whose matrices compose into one logit per class, each read the way
    round it states or the only way its shape allows (grokscan.store.layout.resolve)."""
    from grokscan.store.layout import check_layout, resolve

    layout = layout if layout is not None else Layout.of(model)
    shapes = {k: tuple(v.shape) for k, v in model.named_parameters()}
    own = config if isinstance(config, RunConfig) else None
    p = getattr(task, "p", None) or getattr(getattr(own, "task", None), "p", None)
    check_layout(layout.residue_vectors, (), shapes, where="layout", p=p)
    n_classes = getattr(task, "n_classes", None) or (
        own.model.n_classes if own is not None and own.model.n_classes else None)
    return resolve(layout, shapes, n_classes=n_classes)


def checked_spec(model, spec: ModelSpec) -> ModelSpec:
    """The spec of a model of your own, checked before anything is written: its hidden
    modules exist, and what its callable builds has the model's parameters (names and
    shapes), so that analysis can run it again."""
    modules = dict(model.named_modules())
    if not spec.hidden:  # the input of the last Linear: what the logit layer reads
        linear = [k for k, m in modules.items() if isinstance(m, torch.nn.Linear)]
        if not linear:
            raise GrokscanError("model: hidden: the model has no torch.nn.Linear whose input "
                                "is the last hidden layer; name its hidden modules")
        spec = ModelSpec(spec.factory, spec.kwargs, (f"{linear[-1]}:input",), spec.inputs,
                         spec.builder)
    missing = [h for h in spec.hidden if h.split(":")[0] not in modules
               or h.count(":") > 1 or (":" in h and not h.endswith(":input"))]
    if missing:
        raise GrokscanError(f"model: hidden names {missing[0]!r}; expected a module of the "
                            f"model (or 'module:input'): {', '.join(k for k in modules if k)}")
    built = spec.build()
    want = {k: tuple(v.shape) for k, v in model.named_parameters()}
    got = {k: tuple(v.shape) for k, v in built.named_parameters()}
    if got != want:
        diff = sorted(set(want.items()) ^ set(got.items()))[0]
        raise GrokscanError(f"model: {spec.factory}(**kwargs) builds a model whose parameters "
                            f"differ from the recorded one's (first: {diff[0]} {diff[1]})")
    return spec


class Recorder:
    """Write checkpoints of ``model`` to ``path``.

    model: any torch.nn.Module; its named parameters become ``/params/<name>`` (and
    ``/grads/<name>`` from each parameter's ``.grad``). task: a task's data (grokscan.tasks,
    e.g. a ``ModularData``), or a dict of numpy arrays stored under ``/task`` (may be None).
    config: what builds the model: its RunConfig (grokscan's own models), a :class:`ModelSpec`
    (a model of your own: the callable that builds it, for analysis to run it again), or None
    (only the measures of the weights apply). schedule: which steps are checkpointed
    (:meth:`~grokscan.Recorder.due`). layout: where analysis finds the per-residue vectors and
    the neuron-logit map (:class:`Layout`; by default the model's own), checked against the
    model and the task's classes before anything is written.
    """

    def __init__(self, path, model: torch.nn.Module, *, task=None,
                 config: RunConfig | ModelSpec | None = None, schedule: Schedule | None = None,
                 grads: bool = True, force: bool = False, layout: Layout | None = None):
        self.model, self.schedule = model, schedule or Schedule()
        layout = checked_layout(model, layout, task, config)
        attrs = {"schedule": json.dumps(self.schedule.__dict__)}
        if isinstance(config, ModelSpec):
            attrs["model"] = checked_spec(model, config).to_json()
            config = None
        self.onset = Track(source_of(layout, task))
        header = Header(layout, config, attrs)
        self.writer = Writer(path, dict(model.named_parameters()), header, task=task,
                             grads=grads, force=force, sections=[self.onset])

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
        --resume; grokscan/store/writer.py ``Writer.reopen``), the onset record restored to
        where the file's committed checkpoints leave it. ``lock``: the writer's lock, if the
        caller already holds it."""
        self = cls.__new__(cls)
        self.model, self.schedule = model, schedule
        self.writer = Writer.reopen(path, dict(model.named_parameters()), lock=lock)
        try:
            w = self.writer
            self.onset = Track.resumed(w.f, w.last_step if w.n else 0, source_from_file(w.f))
        except BaseException:
            self.writer.abort()
            raise
        self.writer.sections.append(self.onset)
        return self

    # --- what the loop asks -------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.writer.path

    @property
    def n(self) -> int:
        """Checkpoints committed to the file."""
        return self.writer.n

    @property
    def last_step(self) -> int | None:
        return self.writer.last_step

    def due(self, step: int) -> bool:
        """Whether ``step`` is a checkpoint of the schedule (memorisation as ``observe`` saw
        it)."""
        return self.schedule.due(step, self.onset.memorised)

    def track(self, optimizer: torch.optim.Optimizer, batch_rng: torch.Generator | None = None):
        """Keep, with every checkpoint, the optimizer state, the torch generator and a sampling
        generator as they are when ``record`` is called, so that training can resume from
        that checkpoint. Call before the first ``record``."""
        self.writer.track(optimizer, batch_rng)

    def observe(self, step: int, **train_side: float) -> float:
        """Give the in-loop onset detector (grokscan/onset/live.py) the step's training-side
        numbers, ``train_loss`` and ``train_acc`` (of the batch just evaluated), after the
        backward pass and before the optimizer step; it adds the weight norm and the Fourier
        measures of the weights and of the gradient. Returns the score (NaN before the
        memorisation plateau is known); ``self.onset`` has the flag and its reason. Call it at
        every step from the first, before the ``record`` of a checkpoint step; the rows are
        written with the checkpoints (``/onset``)."""
        w = self.writer
        if w.n and "onset" not in w.f:  # begun without it: no dataset can be added
            self.onset.recorded = False  # once SWMR mode is on
            return math.nan
        params = w.params
        grads = {k: p.grad for k, p in params.items() if p.grad is not None}
        return self.onset.observe(step, params, grads, **train_side)

    def record(self, step: int, **scalars: float) -> None:
        """Append one checkpoint: every parameter, its ``.grad``, the scalars, the resume state
        (when ``track``ed), the onset record's new rows, and last the step. The scalar names
        are fixed by the first call; steps must increase. Call it when ``due(step)``."""
        self.writer.record(step, **scalars)

    # --- the end ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the file and give up the lock; a file that never got a checkpoint is
        removed (its ``.part``), one that did keeps every committed checkpoint."""
        self.writer.close()

    def abort(self) -> None:
        """Close without raising (on the way out of an error or an interrupt): every committed
        checkpoint stays."""
        self.writer.abort()

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is None:
            self.close()
        else:
            self.abort()
