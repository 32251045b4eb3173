"""Models; ``build_model`` makes the one a RunConfig describes."""

from __future__ import annotations

import torch

from grokscan.config import ModelConfig
from grokscan.errors import GrokscanError
from grokscan.models.activations import ACTIVATIONS
from grokscan.models.mlp import MLP
from grokscan.models.transformer import Transformer

MODELS = ("mlp", "transformer")
INPUTS = ("concat", "sum", "onehot")


def build_model(cfg: ModelConfig, *, n_vocab: int, p: int, n_ctx: int, seed: int):
    """A model initialised from ``seed`` (the same seed gives the same weights, bitwise).

    n_vocab: token vocabulary (0 for float inputs); p: residues; n_ctx: tokens per example.
    """
    if cfg.kind not in MODELS:
        raise GrokscanError(f"unknown model {cfg.kind!r}; expected one of: {', '.join(MODELS)}")
    if cfg.activation not in ACTIVATIONS:
        raise GrokscanError(
            f"unknown activation {cfg.activation!r}; expected one of: {', '.join(ACTIVATIONS)}"
        )
    if cfg.input not in INPUTS:
        raise GrokscanError(f"unknown input {cfg.input!r}; expected one of: {', '.join(INPUTS)}")
    if not 0 <= cfg.dropout < 1:
        raise GrokscanError(f"--dropout must lie in [0, 1), got {cfg.dropout}")
    if min(cfg.width, cfg.depth, cfg.d_embed) < 1:
        raise GrokscanError("--width, --depth and --d-embed must be at least 1")
    torch.manual_seed(seed)
    if cfg.kind == "transformer":
        if n_vocab == 0:
            raise GrokscanError("the transformer takes token inputs; use --model mlp for Ising")
        return Transformer(cfg, n_vocab=n_vocab, p=p, n_ctx=n_ctx)
    return MLP(cfg, n_vocab=n_vocab, p=p)
