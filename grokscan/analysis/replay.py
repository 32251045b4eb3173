"""Rebuild a run's model from its checkpoint file and evaluate it at any checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch

from grokscan.config import RunConfig
from grokscan.errors import GrokscanError
from grokscan.models import check_shapes as check_model_shapes
from grokscan.models import for_split
from grokscan.store.reader import Run
from grokscan.tasks import Split, TaskData


@dataclass
class Replay:
    cfg: RunConfig  # with n_classes filled in
    model: torch.nn.Module  # in eval mode
    task: TaskData
    split: Split

    def load(self, params: dict[str, np.ndarray], *, step: int | None = None) -> None:
        """Set the model's parameters; NaN or inf weights are refused, naming the step."""
        load_params(self.model, params, step)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, *, dropout: float | None = None):
        """(logits, hidden activations per layer) as torch tensors."""
        return self.model(x, dropout=dropout, return_hidden=True)

    def grid(self, op: str) -> torch.Tensor:
        """Model inputs for every (a, b) in 0..P-1 of one operation; sample i = a·P + b."""
        return torch.from_numpy(self.task.residues.grid_inputs(op, self.cfg.model.kind))

    def inputs(self, which: str) -> torch.Tensor:
        """The model inputs of the train or the test set."""
        x = self.split.x_train if which == "train" else self.split.x_test
        return torch.from_numpy(np.ascontiguousarray(x))


def load_params(model: torch.nn.Module, params: dict[str, np.ndarray], step: int | None):
    """Copy ``params`` into the model's parameters; NaN or inf weights are refused, naming
    the parameter and the step."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            value = params[name]
            if not np.all(np.isfinite(value)):
                at = f" at step {step}" if step is not None else ""
                raise GrokscanError(f"parameter {name} holds NaN or inf{at}")
            p.copy_(torch.from_numpy(np.asarray(value)))


class UserReplay:
    """A model of the user's own (a file with a ``model`` spec, store/spec.py), rebuilt by
    the callable the user named and run as grokscan's replay runs its own: ``forward`` gives
    the logits and the outputs of the spec's hidden modules (read with forward hooks; with
    ``dropout``, dropout at that rate is applied to each of them, as grokscan's own models
    apply it after every hidden layer), on the task's inputs in the spec's encoding."""

    def __init__(self, model: torch.nn.Module, task: TaskData, spec):
        self.model, self.task, self.spec = model.eval(), task, spec
        self.split = task.split(spec.inputs)
        modules = dict(model.named_modules())
        # (module, whether its input rather than its output is the hidden layer)
        self._hidden = [(modules[h.split(":")[0]], h.endswith(":input")) for h in spec.hidden]
        n = task.n_classes if hasattr(task, "n_classes") else int(self.split.n_classes)
        # what the families read of grokscan's own config: the input kind and the classes
        self.cfg = SimpleNamespace(model=SimpleNamespace(kind=spec.inputs, n_classes=n))

    @classmethod
    def of(cls, run: Run, factory) -> UserReplay:
        spec = run.model_spec
        if run.task.kind == "custom":
            raise GrokscanError(f"{run.path}: the task was recorded as arrays; grokscan cannot "
                                "rebuild the inputs of the model (record a grokscan task)")
        model = factory(**spec.kwargs)
        have = {k: tuple(run.shape(k)) for k in run.param_names}
        built = {k: tuple(v.shape) for k, v in model.named_parameters()}
        if built != have:
            diff = sorted(set(have.items()) ^ set(built.items()))[0]
            raise GrokscanError(f"{run.path}: {spec.factory}(**kwargs) builds a model whose "
                                f"parameters differ from the file's (first: {diff[0]} "
                                f"{diff[1]})")
        return cls(model, run.task, spec)

    def load(self, params: dict[str, np.ndarray], *, step: int | None = None) -> None:
        """Set the model's parameters; NaN or inf weights are refused, naming the step."""
        load_params(self.model, params, step)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, *, dropout: float | None = None):
        """(logits, the hidden modules' outputs, each flattened to (n, width))."""
        seen = []

        def take(h):
            if dropout:
                h = torch.nn.functional.dropout(h, dropout, training=True)
            seen.append(h.reshape(len(h), -1))
            return h

        def before(module, args):  # the input of a module
            return (take(args[0]), *args[1:])

        def after(module, args, output):
            return take(output)

        handles = [m.register_forward_pre_hook(before) if is_input else
                   m.register_forward_hook(after) for m, is_input in self._hidden]
        try:
            logits = self.model(x)
        finally:
            for h in handles:
                h.remove()
        return logits, seen

    def grid(self, op: str) -> torch.Tensor:
        """Model inputs for every (a, b) in 0..P-1 of one operation; sample i = a·P + b."""
        return torch.from_numpy(self.task.residues.grid_inputs(op, self.spec.inputs))

    def inputs(self, which: str) -> torch.Tensor:
        """The model inputs of the train or the test set."""
        x = self.split.x_train if which == "train" else self.split.x_test
        return torch.from_numpy(np.ascontiguousarray(x))


def check_shapes(run: Run) -> None:
    """A FileFormatError unless the file's parameters are those of the model its config
    describes (checked on torch's meta device, before any checkpoint is read). Files without
    a config, or whose task is arrays, are not checked."""
    cfg = run.config
    if cfg is None or run.task.kind == "custom":
        return
    check_model_shapes(cfg, run.task.split(cfg.model.kind),
                       {k: tuple(run.shape(k)) for k in run.param_names}, run.path)


def replay(run: Run, model=None):
    """The model and data of ``run``, rebuilt from the file alone: a :class:`Replay` of
    grokscan's own model (its config), or a :class:`UserReplay` of a model of the user's own,
    built by ``model``, the callable the user named to trust (Options.model)."""
    cfg = run.config
    if cfg is None and run.model_spec is not None and model is not None:
        return UserReplay.of(run, model)
    if cfg is None:
        raise GrokscanError(f"{run.path} has no config (written by a Recorder without one); "
                            "only the weight-only measures apply")
    task = run.task
    split = task.split(cfg.model.kind)
    # analysis runs on the CPU, whatever device the run trained on
    cpu = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device="cpu"))
    cfg, model = for_split(cpu, split)
    model.eval()
    return Replay(cfg, model, task, split)

