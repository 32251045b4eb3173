"""Models; ``for_split`` makes the one a RunConfig describes for a task's data.

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py)."""

from __future__ import annotations

import dataclasses
import math

import torch

from grokscan.config import ModelConfig, RunConfig
from grokscan.errors import FileFormatError, GrokscanError
from grokscan.models.mlp import MLP
from grokscan.models.transformer import Transformer
from grokscan.tasks.base import Split


def weight_norm(params) -> float:
    """‖θ‖₂ of a live model's parameters (an iterable of tensors), accumulated in float64 on
    their device: the ``weight_norm`` scalar of every checkpoint and of the in-loop record (a
    checkpoint's own in the analysis: grokscan.metrics.weights.weight_norm)."""
    with torch.no_grad():
        return float(torch.stack([torch.sum(p.detach().double() ** 2) for p in params])
                     .sum().sqrt())


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


MAX_PARAMS = 500_000_000  # 2 GB of float32: far beyond the models of the grokking papers


def shapes(cfg: RunConfig, split: Split) -> dict[str, tuple[int, ...]]:
    """The parameter shapes of the model ``cfg`` describes for ``split``, from a model built
    on torch's meta device: nothing is allocated."""
    mcfg = dataclasses.replace(cfg.model, n_classes=split.n_classes, d_in=split.d_in)
    with torch.device("meta"):
        model = build_model(mcfg, n_vocab=split.n_vocab, p=split.p, n_ctx=split.n_ctx,
                            seed=cfg.train.seed)
    return {k: tuple(v.shape) for k, v in model.named_parameters()}


def check_shapes(cfg: RunConfig, split: Split, have: dict, where: str) -> None:
    """A FileFormatError unless ``have`` ({name: shape}, a file's parameters) are those of the
    model ``cfg`` describes for ``split``, name for name and shape for shape."""
    want = shapes(cfg, split)
    for name in sorted(set(want) | set(have)):
        if want.get(name) != (tuple(have[name]) if name in have else None):
            raise FileFormatError(f"{where}: /params/{name} has shape {have.get(name)}; the "
                                  f"run's config builds {want.get(name)}")


def for_split(cfg: RunConfig, split: Split) -> tuple[RunConfig, torch.nn.Module]:
    """The model ``cfg`` describes for the data ``split``, on ``cfg.train.device``, and the
    config with the class count and the input size filled in from the data. A model of more
    than MAX_PARAMS parameters is refused before anything is allocated."""
    n = sum(math.prod(s) for s in shapes(cfg, split).values())
    if n > MAX_PARAMS:
        raise GrokscanError(f"the model would have {n:,} parameters ({4 * n / 2**30:.1f} GiB); "
                            f"grokscan builds at most {MAX_PARAMS:,}")
    mcfg = dataclasses.replace(cfg.model, n_classes=split.n_classes, d_in=split.d_in)
    cfg = dataclasses.replace(cfg, model=mcfg)
    model = build_model(mcfg, n_vocab=split.n_vocab, p=split.p, n_ctx=split.n_ctx,
                        seed=cfg.train.seed)
    return cfg, model.to(cfg.train.device)
