"""Nanda et al.'s one-layer transformer (arXiv:2301.05217 §3): token and position embeddings,
attention and a ReLU MLP per block, no LayerNorm, logits read at the last position.

Parameter names follow TransformerLens: ``embed.W_E`` (n_vocab, d_model), ``pos_embed.W_pos``
(n_ctx, d_model), ``blocks.{i}.attn.W_Q``/``W_K``/``W_V`` (n_heads, d_model, d_head),
``blocks.{i}.attn.W_O`` (n_heads, d_head, d_model), ``blocks.{i}.mlp.W_in`` (d_model, d_mlp),
``b_in``, ``W_out`` (d_mlp, d_model), ``b_out``, ``unembed.W_U`` (d_model, n_classes).
With ``ModelConfig.attn_bias`` (off by default, as in Nanda's model) also the biases a
TransformerLens ``HookedTransformer`` carries: ``blocks.{i}.attn.b_Q``/``b_K``/``b_V``
(n_heads, d_head), ``blocks.{i}.attn.b_O`` (d_model) and ``unembed.b_U`` (n_classes).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from grokscan.config import ModelConfig
from grokscan.models.activations import make_activation
from grokscan.models.mlp import hidden_dropout


def _normal(shape, fan_in: int, scale: float) -> nn.Parameter:
    # Nanda's initialisation: N(0, 1/fan_in)
    return nn.Parameter(torch.randn(shape) * (scale / math.sqrt(fan_in)))


def _zeros(shape, on: bool) -> nn.Parameter | None:
    return nn.Parameter(torch.zeros(shape)) if on else None


class Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, scale: float, bias: bool = False):
        super().__init__()
        if d_model % n_heads:
            from grokscan.errors import GrokscanError

            raise GrokscanError(
                f"d_model ({d_model}) must be a multiple of the number of heads ({n_heads})"
            )
        d_head = d_model // n_heads
        self.W_Q = _normal((n_heads, d_model, d_head), d_model, scale)
        self.W_K = _normal((n_heads, d_model, d_head), d_model, scale)
        self.W_V = _normal((n_heads, d_model, d_head), d_model, scale)
        self.W_O = _normal((n_heads, d_head, d_model), d_head, scale)
        self.b_Q = _zeros((n_heads, d_head), bias)
        self.b_K = _zeros((n_heads, d_head), bias)
        self.b_V = _zeros((n_heads, d_head), bias)
        self.b_O = _zeros(d_model, bias)

    def _project(self, x, W, b):  # (B, T, d_model) -> (B, h, T, d_head)
        y = torch.einsum("btd,hde->bhte", x, W)
        return y if b is None else y + b[:, None, :]

    def pattern(self, x):
        """The attention pattern (B, h, T, T): row t the weights query t gives to keys 0..t."""
        q = self._project(x, self.W_Q, self.b_Q)
        k = self._project(x, self.W_K, self.b_K)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, h, T, T)
        T = x.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        return scores.masked_fill(~causal, float("-inf")).softmax(-1)

    def forward(self, x, pattern=None):  # x: (B, T, d_model)
        pattern = self.pattern(x) if pattern is None else pattern
        v = self._project(x, self.W_V, self.b_V)
        z = pattern @ v  # (B, h, T, d_head)
        out = torch.einsum("bhte,hed->btd", z, self.W_O)
        return out if self.b_O is None else out + self.b_O


class MLPBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d_model, d_mlp, s = cfg.d_embed, cfg.width, cfg.init_scale
        self.W_in = _normal((d_model, d_mlp), d_model, s)
        self.b_in = nn.Parameter(torch.zeros(d_mlp)) if cfg.bias else None
        self.W_out = _normal((d_mlp, d_model), d_mlp, s)
        self.b_out = nn.Parameter(torch.zeros(d_model)) if cfg.bias else None
        self.act = make_activation(cfg.activation, cfg.act_a)

    def neurons(self, x):
        z = x @ self.W_in
        return self.act(z + self.b_in if self.b_in is not None else z)

    def out(self, h):
        y = h @ self.W_out
        return y + self.b_out if self.b_out is not None else y


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn = Attention(cfg.d_embed, cfg.n_heads, cfg.init_scale, cfg.attn_bias)
        self.mlp = MLPBlock(cfg)


class Embed(nn.Module):
    def __init__(self, n_vocab: int, d_model: int, scale: float):
        super().__init__()
        self.W_E = _normal((n_vocab, d_model), d_model, scale)


class PosEmbed(nn.Module):
    def __init__(self, n_ctx: int, d_model: int, scale: float):
        super().__init__()
        self.W_pos = _normal((n_ctx, d_model), d_model, scale)


class Unembed(nn.Module):
    def __init__(self, d_model: int, n_classes: int, scale: float, bias: bool = False):
        super().__init__()
        self.W_U = _normal((d_model, n_classes), d_model, scale)
        self.b_U = _zeros(n_classes, bias)

    def forward(self, x):
        y = x @ self.W_U
        return y if self.b_U is None else y + self.b_U


class Transformer(nn.Module):
    """Inputs: token ids (n, T), [a, b, =] or [a, op, b, =]."""

    def __init__(self, cfg: ModelConfig, *, n_vocab: int, p: int, n_ctx: int):
        super().__init__()
        self.cfg, self.p = cfg, p
        s = cfg.init_scale
        self.embed = Embed(n_vocab, cfg.d_embed, s)
        if cfg.pos_embed:
            self.pos_embed = PosEmbed(n_ctx, cfg.d_embed, s)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.unembed = Unembed(cfg.d_embed, cfg.n_classes, s, cfg.attn_bias)

    def forward(self, tokens, *, dropout: float | None = None, return_hidden: bool = False):
        """Logits at the last position (n, n_classes); with ``return_hidden`` also each block's
        MLP neuron activations at the last position, (n, d_mlp). ``dropout`` as in MLP.forward."""
        logits, hidden, _ = self._run(tokens, dropout)
        return (logits, hidden) if return_hidden else logits

    def attention_patterns(self, tokens) -> list[torch.Tensor]:
        """Each block's attention pattern (n, n_heads, T, T) on ``tokens`` (no dropout)."""
        return self._run(tokens, None)[2]

    def _run(self, tokens, dropout):
        x = self.embed.W_E[tokens]
        if self.cfg.pos_embed:
            x = x + self.pos_embed.W_pos[: tokens.shape[1]]
        hidden, patterns = [], []
        for block in self.blocks:
            patterns.append(block.attn.pattern(x))
            x = x + block.attn(x, patterns[-1])
            h = block.mlp.neurons(x)
            hidden.append(h[:, -1])
            h = hidden_dropout(h, dropout, self.cfg.dropout, self.training)
            x = x + block.mlp.out(h)
        return self.unembed(x[:, -1]), hidden, patterns

    def residue_vectors(self) -> list[dict]:
        return [{"param": "embed.W_E", "start": 0, "stop": self.p, "operand": "a,b"}]

    def neuron_logit_map(self) -> list[dict]:
        """W_out of the last block, then W_U (x @ W): the last hidden layer to the logits."""
        return [{"param": f"blocks.{len(self.blocks) - 1}.mlp.W_out", "axes": "in,out"},
                {"param": "unembed.W_U", "axes": "in,out"}]
