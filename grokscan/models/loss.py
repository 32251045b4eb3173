"""The training loss, one function for the loop and for every measure that differentiates it
(per-sample gradients, the LLC): cross-entropy of β·logits, or the mean squared error of the
logits against one-hot targets (Omnigrok's MNIST recipe, Liu et al., arXiv:2210.01117 §4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("cross_entropy", "mse")


def loss(logits: torch.Tensor, y: torch.Tensor, *, beta: float = 1.0,
         kind: str = "cross_entropy") -> torch.Tensor:
    """The mean loss of logits (n, C) against labels (n,) int64. ``mse`` averages over the
    n × C entries, as torch.nn.MSELoss does (Omnigrok's code), and ignores β."""
    if kind == "mse":  # one-hot by comparison: F.one_hot reads its input's values, which
        # torch.func.vmap (the per-sample gradients) cannot
        target = (y[..., None] == torch.arange(logits.shape[-1], device=y.device))
        return F.mse_loss(logits, target.to(logits.dtype))
    return F.cross_entropy(beta * logits, y)
