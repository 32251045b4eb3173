"""Rebuild a run's model from its checkpoint file and evaluate it at any checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

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
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                value = params[name]
                if not np.all(np.isfinite(value)):
                    at = f" at step {step}" if step is not None else ""
                    raise GrokscanError(f"parameter {name} holds NaN or inf{at}")
                p.copy_(torch.from_numpy(np.asarray(value)))

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


def check_shapes(run: Run) -> None:
    """A FileFormatError unless the file's parameters are those of the model its config
    describes (checked on torch's meta device, before any checkpoint is read). Files without
    a config, or whose task is arrays, are not checked."""
    cfg = run.config
    if cfg is None or run.task.kind == "custom":
        return
    check_model_shapes(cfg, run.task.split(cfg.model.kind),
                       {k: tuple(run.shape(k)) for k in run.param_names}, run.path)


def replay(run: Run) -> Replay:
    """The model and data of ``run``, rebuilt from the file alone."""
    cfg = run.config
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

