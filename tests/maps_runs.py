"""Run files with constructed weights for the map families (neurons/maps, attention/maps):
an MLP whose neurons are known functions of (a, b), and a small transformer; each written by
the Recorder at three checkpoints, train accuracy 0.5, 1, 1 (memorisation: the second)."""

from __future__ import annotations

import numpy as np
import torch

from grokscan.config import ModelConfig, RunConfig, TrainConfig
from grokscan.recorder import Recorder, Schedule
from grokscan.tasks.modular import ModularConfig
from grokscan.training import prepare

P = 13
STEPS = (0, 10, 20)
TRAIN_ACC = (0.5, 1.0, 1.0)
# MLP neurons: (frequency k, weight ε of the frequency-5 term), activation
# 3 + cos(w_k a) + cos(w_k b) + ε (cos(w_5 a) + cos(w_5 b)), w_k = 2πk/P; the share of its
# variance in k's components is 1 / (1 + ε²). Neurons 6 and 7 are dead (always 0).
NEURONS = ((2, 0.0), (2, 0.5), (2, 0.7), (3, 0.3), (3, 0.0), (5, 0.0))
FREQS = (2, 3, 5)  # embedding column j: cos(w_k t) for k = FREQS[j]


def cos(k: int, t) -> np.ndarray:
    return np.cos(2 * np.pi * k * np.asarray(t) / P)


def expected_neuron(j: int, scale: float = 1.0) -> np.ndarray:
    """(P, P): neuron j of the constructed MLP over (a, b), its hidden weights times scale."""
    k, eps = NEURONS[j]
    a, b = np.meshgrid(np.arange(P), np.arange(P), indexing="ij")
    return 3 + scale * (cos(k, a) + cos(k, b) + eps * (cos(5, a) + cos(5, b)))


def _record(path, cfg, task, model, weights: list[dict], *, op: str = "add") -> None:
    with Recorder(path, model, task=task, config=cfg, schedule=Schedule(every=10),
                  grads=False) as rec:
        for step, acc, w in zip(STEPS, TRAIN_ACC, weights):
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_(torch.as_tensor(w[name], dtype=p.dtype))
            rec.record(step, train_acc=acc, test_acc=acc / 2, train_loss=1 - acc + 0.01,
                       test_loss=1.0)


def mlp_run(path, op: str = "add", *, dead: bool = False):
    """The MLP (input: the sum of the embeddings of a and b, 8 ReLU units): neuron j < 6 as
    NEURONS says, its hidden weights halved at the first two checkpoints; ``dead``: every
    neuron 0 everywhere at the end."""
    cfg = RunConfig(ModularConfig(ops=(op,), p=P, frac=0.5),
                    ModelConfig(kind="mlp", input="sum", d_embed=4, width=8),
                    TrainConfig(steps=20, every=10))
    cfg, task, _, model = prepare(cfg)
    base = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    E = np.zeros_like(base["embed.W_E"])
    for j, k in enumerate(FREQS):
        E[:P, j] = cos(k, np.arange(P))
    weights = []
    for scale in (0.5, 0.5, 1.0):
        W, bias = np.zeros_like(base["hidden.0.W"]), np.zeros_like(base["hidden.0.b"])
        for j, (k, eps) in enumerate(NEURONS):
            W[FREQS.index(k), j] += scale
            W[FREQS.index(5), j] += scale * eps
            bias[j] = 3.0
        if dead and scale == 1.0:
            W, bias = np.zeros_like(W), np.full_like(bias, -1.0)
        weights.append({**base, "embed.W_E": E, "hidden.0.W": W, "hidden.0.b": bias})
    _record(path, cfg, task, model, weights)
    return path


def transformer_run(path, op: str = "add"):
    """A transformer (d_model 8, 2 heads, 16 neurons) with random weights, W_Q zero at the
    second checkpoint (memorisation): there '=' attends to a, b and itself by 1/3 each."""
    cfg = RunConfig(ModularConfig(ops=(op,), p=P, frac=0.5),
                    ModelConfig(kind="transformer", d_embed=8, width=16, n_heads=2),
                    TrainConfig(steps=20, every=10))
    cfg, task, _, model = prepare(cfg)
    rng = np.random.default_rng(1)
    weights = []
    for i in range(3):
        w = {k: rng.standard_normal(v.shape).astype(np.float32) * (1.5 if "W_Q" in k or
                                                                   "W_K" in k else 0.5)
             for k, v in model.named_parameters()}
        if i == 1:
            w["blocks.0.attn.W_Q"][:] = 0
        weights.append(w)
    _record(path, cfg, task, model, weights)
    return path


def reference_transformer(params: dict, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An independent forward pass of the one-block transformer in numpy (float64): the
    attention pattern of the last position (n, heads, T) and the MLP neurons there (n, d_mlp)."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x = p["embed.W_E"][tokens] + p["pos_embed.W_pos"][: tokens.shape[1]]  # (n, T, d)
    q = np.einsum("nd,hde->nhe", x[:, -1], p["blocks.0.attn.W_Q"])
    k = np.einsum("ntd,hde->nhte", x, p["blocks.0.attn.W_K"])
    v = np.einsum("ntd,hde->nhte", x, p["blocks.0.attn.W_V"])
    scores = np.einsum("nhe,nhte->nht", q, k) / np.sqrt(q.shape[-1])
    pattern = np.exp(scores - scores.max(-1, keepdims=True))
    pattern /= pattern.sum(-1, keepdims=True)
    z = np.einsum("nht,nhte->nhe", pattern, v)
    resid = x[:, -1] + np.einsum("nhe,hed->nd", z, p["blocks.0.attn.W_O"])
    pre = resid @ p["blocks.0.mlp.W_in"] + p["blocks.0.mlp.b_in"]
    return pattern, np.maximum(pre, 0)

