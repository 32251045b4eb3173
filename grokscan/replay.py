"""Rebuild a run's model from its checkpoint file and evaluate it at any checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grokscan.config import RunConfig
from grokscan.errors import GrokscanError
from grokscan.store.reader import Run
from grokscan.train import Split, build, make_split


@dataclass
class Replay:
    cfg: RunConfig  # with n_classes filled in
    model: torch.nn.Module  # in eval mode
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

    def grid(self, op_index: int) -> torch.Tensor:
        """Model inputs for every (a, b) in 0..P-1 of one operation; sample i = a·P + b."""
        p, n_ops = self.split.p, len(self.cfg.task.ops)
        a, b = np.divmod(np.arange(p * p), p)
        cols = [a] + ([np.full_like(a, p + op_index)] if n_ops > 1 else []) + [b]
        if self.cfg.model.kind == "transformer":
            cols.append(np.full_like(a, p + n_ops))
        return torch.from_numpy(np.stack(cols, 1)).long()


def replay(run: Run) -> Replay:
    """The model and data of ``run``, rebuilt from the file alone."""
    cfg = run.config
    if cfg is None:
        raise GrokscanError(f"{run.path} has no config (written by a Recorder without one); "
                            "only the weight-only measures apply")
    split = make_split(cfg, run.task)
    cfg, model = build(cfg, split)
    model.eval()
    return Replay(cfg, model, split)
