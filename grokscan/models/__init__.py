"""Models; ``for_split`` makes the one a RunConfig describes for a task's data."""

from __future__ import annotations

import dataclasses

import torch

from grokscan.config import ModelConfig, RunConfig
from grokscan.errors import GrokscanError
from grokscan.models.mlp import MLP
from grokscan.models.transformer import Transformer
from grokscan.tasks.base import Split


def build_model(cfg: ModelConfig, *, n_vocab: int, p: int, n_ctx: int, seed: int):
    """A model initialised from ``seed`` (the same seed gives the same weights, bitwise).

    n_vocab: token vocabulary (0 for float inputs); p: residues; n_ctx: tokens per example.
    The config's fields are checked when it is made (grokscan/config.py).
    """
    torch.manual_seed(seed)
    if cfg.kind == "transformer":
        if n_vocab == 0:
            raise GrokscanError("the transformer takes token inputs; this task gives floats "
                                "(use --model mlp)")
        return Transformer(cfg, n_vocab=n_vocab, p=p, n_ctx=n_ctx)
    return MLP(cfg, n_vocab=n_vocab, p=p)


def for_split(cfg: RunConfig, split: Split) -> tuple[RunConfig, torch.nn.Module]:
    """The model ``cfg`` describes for the data ``split``, on ``cfg.train.device``, and the
    config with the class count and the input size filled in from the data."""
    mcfg = dataclasses.replace(cfg.model, n_classes=split.n_classes, d_in=split.d_in)
    cfg = dataclasses.replace(cfg, model=mcfg)
    model = build_model(mcfg, n_vocab=split.n_vocab, p=split.p, n_ctx=split.n_ctx,
                        seed=cfg.train.seed)
    return cfg, model.to(cfg.train.device)
