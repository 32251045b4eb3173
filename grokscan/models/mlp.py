"""The MLP: a shared embedding of a and b (concatenated or summed) or one-hot inputs, then
``depth`` hidden layers of ``width`` units, then the unembedding to the classes.

Parameter names (the HDF5 dataset names too): ``embed.W_E`` (n_vocab, d_embed),
``hidden.{i}.W`` (d_in, width), ``hidden.{i}.b`` (width,), ``unembed.W_U`` (width, n_classes),
``unembed.b_U`` (n_classes,). Weights act as x @ W. With one-hot inputs there is no embedding:
``hidden.0.W`` has one row per input token (a's P rows, then b's P rows, then one per operation),
so its rows are the per-residue vectors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from grokscan.config import ModelConfig
from grokscan.models.activations import make_activation


def _uniform(shape, fan_in: int, scale: float) -> nn.Parameter:
    # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), times the init scale.
    bound = scale / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


def hidden_dropout(h: torch.Tensor, rate: float | None, configured: float,
                   training: bool) -> torch.Tensor:
    """Dropout after a hidden layer: ``rate``, when given, always (Monte-Carlo dropout, even in
    eval mode); else the configured rate, in training only."""
    if rate is not None:
        return F.dropout(h, rate, training=True)
    if configured:
        return F.dropout(h, configured, training=training)
    return h


class Unembed(nn.Module):
    def __init__(self, d_in: int, n_classes: int, bias: bool, scale: float):
        super().__init__()
        self.W_U = _uniform((d_in, n_classes), d_in, scale)
        self.b_U = _uniform((n_classes,), d_in, scale) if bias else None

    def forward(self, x):
        y = x @ self.W_U
        return y + self.b_U if self.b_U is not None else y


class Embed(nn.Module):
    def __init__(self, n_vocab: int, d: int, scale: float):
        super().__init__()
        # nn.Embedding's default N(0, 1)
        self.W_E = nn.Parameter(torch.randn(n_vocab, d) * scale)

    def forward(self, tokens):
        return self.W_E[tokens]


class Hidden(nn.Module):
    def __init__(self, d_in: int, cfg: ModelConfig):
        super().__init__()
        self.W = _uniform((d_in, cfg.width), d_in, cfg.init_scale)
        self.b = _uniform((cfg.width,), d_in, cfg.init_scale) if cfg.bias else None
        self.act = make_activation(cfg.activation, cfg.act_a)

    def forward(self, x):
        z = x @ self.W
        return self.act(z + self.b if self.b is not None else z)


class MLP(nn.Module):
    """Inputs: token ids (n, 2) = [a, b] or (n, 3) = [a, op, b] for a modular task (n_vocab > 0),
    or floats (n, d_in) for the Ising task (n_vocab = 0)."""

    def __init__(self, cfg: ModelConfig, *, n_vocab: int, p: int):
        super().__init__()
        self.cfg, self.n_vocab, self.p = cfg, n_vocab, p
        if n_vocab == 0:
            d_in = cfg.d_in
        elif cfg.input == "onehot":
            n_ops = n_vocab - p - 1
            d_in = 2 * p + (n_ops if n_ops > 1 else 0)  # a's P rows, b's P rows, one per op
        else:
            self.embed = Embed(n_vocab, cfg.d_embed, cfg.init_scale)
            d_in = cfg.d_embed  # for "sum"; "concat" multiplies by the number of tokens below
        if n_vocab and cfg.input == "concat":
            d_in = cfg.d_embed * self.n_tokens
        widths = [d_in] + [cfg.width] * cfg.depth
        self.hidden = nn.ModuleList(Hidden(widths[i], cfg) for i in range(cfg.depth))
        self.unembed = Unembed(cfg.width, cfg.n_classes, cfg.bias, cfg.init_scale)

    @property
    def n_tokens(self) -> int:
        # [a, b] or [a, op, b]: the operation tokens are the ids from p up to n_vocab - 1 ('=')
        return 2 if self.n_vocab - self.p - 1 <= 1 else 3

    def first_layer_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.n_vocab == 0:
            return x
        if self.cfg.input == "onehot":
            # one-hot(a) || one-hot(b) || one-hot(op) @ W is a sum of rows of W
            W = self.hidden[0].W
            idx = x.clone()
            idx[:, -1] = x[:, -1] + self.p  # b's rows follow a's
            if x.shape[1] == 3:
                idx[:, 1] = x[:, 1] + self.p  # ops (ids p..) land after b's rows
            return W[idx].sum(1)
        e = self.embed(x)  # (n, T, d_embed)
        return e.flatten(1) if self.cfg.input == "concat" else e.sum(1)

    def forward(self, x, *, dropout: float | None = None, return_hidden: bool = False):
        """Logits (n, n_classes); with ``return_hidden`` also the list of hidden activations,
        each (n, width). ``dropout`` overrides the configured rate and applies it even in eval
        mode (for Monte-Carlo dropout)."""
        h = self.first_layer_input(x)
        hidden = []
        for i, layer in enumerate(self.hidden):
            if i == 0 and self.n_vocab and self.cfg.input == "onehot":
                z = h + layer.b if layer.b is not None else h
                h = layer.act(z)
            else:
                h = layer(h)
            hidden.append(h)
            h = self._dropout(h, dropout)
        logits = self.unembed(h)
        return (logits, hidden) if return_hidden else logits

    def logits_from(self, h: torch.Tensor, layer: int, *, dropout: float | None = None):
        """The logits, given hidden layer ``layer``'s activations ``h`` (as ``forward`` returns
        them, before dropout). With the same RNG state this equals ``forward(x, dropout=...)``;
        Monte-Carlo dropout uses it to skip the layers before ``layer`` on every pass."""
        h = self._dropout(h, dropout)
        for block in self.hidden[layer + 1:]:
            h = self._dropout(block(h), dropout)
        return self.unembed(h)

    def _dropout(self, h: torch.Tensor, rate: float | None) -> torch.Tensor:
        return hidden_dropout(h, rate, self.cfg.dropout, self.training)

    def residue_vectors(self) -> list[dict]:
        """Where the per-residue vectors live (see store/SCHEMA.md)."""
        if self.n_vocab == 0:
            return []
        if self.cfg.input == "onehot":
            return [
                {"param": "hidden.0.W", "start": 0, "stop": self.p, "operand": "a"},
                {"param": "hidden.0.W", "start": self.p, "stop": 2 * self.p, "operand": "b"},
            ]
        return [{"param": "embed.W_E", "start": 0, "stop": self.p, "operand": "a,b"}]

    def neuron_logit_map(self) -> list[dict]:
        """Parameters whose product maps the last hidden layer to the logits (x @ W)."""
        return [{"param": "unembed.W_U", "axes": "in,out"}]
