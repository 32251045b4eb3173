"""The two parametrisations of the [a, b, =] transformer that grokscan imports, how each maps
onto grokscan's transformer (grokscan/models/transformer.py), and a forward pass of each
written here from its own source, independently of grokscan's model, that every import is
checked against.

``nanda``: Nanda et al.'s progress-measures code (arXiv:2301.05217; repository
mechanistic-interpretability-grokking/progress-measures-paper, ``transformers.py``: ``Embed``,
``PosEmbed``, ``Attention``, ``MLP``, ``Unembed``). ``embed.W_E`` (d_model, d_vocab), read as
``W_E[:, x]``; ``blocks.{i}.attn.W_Q``/``W_K``/``W_V`` (n_heads, d_head, d_model), applied as
``einsum('ihd,bpd->biph')``; ``W_O`` (d_model, n_heads·d_head) over the heads' outputs
flattened head-major (``'b i q h -> b q (i h)'``); ``blocks.{i}.mlp.W_in`` (d_mlp, d_model),
``b_in``, ``W_out`` (d_model, d_mlp), ``b_out``; ``unembed.W_U`` (d_model, d_vocab);
``pos_embed.W_pos`` (n_ctx, d_model). d_vocab = P + 1: residues 0..P−1 and '=' at P, and the
logits run over all P + 1 tokens, the last ('=') never a label (his ``take_metrics`` reads
``logits[:, -1, :-1]``). No LayerNorm, no attention biases.

``tl``: TransformerLens's ``HookedTransformer`` (TransformerLensOrg/TransformerLens,
``transformer_lens/components.py``: ``Embed``, ``Attention``, ``MLP``, ``Unembed``).
``embed.W_E`` (d_vocab, d_model); ``W_Q``/``W_K``/``W_V`` (n_heads, d_model, d_head) with
``b_Q``/``b_K``/``b_V`` (n_heads, d_head); ``W_O`` (n_heads, d_head, d_model), ``b_O``
(d_model); ``W_in`` (d_model, d_mlp), ``W_out`` (d_mlp, d_model); ``unembed.W_U`` (d_model,
d_vocab_out), ``b_U``; attention scores over √d_head; the grokking configuration of its demo
(``normalization_type=None``, d_vocab = P + 1 with '=' at P, d_vocab_out = P or P + 1).

grokscan's transformer with one operation reads tokens 0..P−1, the operation token P (unused
with one operation) and '=' at P + 1 (grokscan/tasks/modular.py), and has P logits: the
source's '=' row moves to P + 1, row P is zero, and an extra '=' logit is dropped.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from grokscan.errors import GrokscanError

KINDS = ("nanda", "tl")
BUFFERS = re.compile(r"^blocks\.\d+\.attn\.(mask|IGNORE)$")  # not parameters: left behind
ATTN = ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O")
MLP = ("W_in", "b_in", "W_out", "b_out")


@dataclass(frozen=True)
class Dims:
    """The sizes of a source model, read off its parameters."""

    kind: str  # "nanda" or "tl"
    d_model: int
    n_heads: int
    d_head: int
    d_mlp: int
    n_layers: int
    d_vocab: int  # input tokens: P + 1
    n_out: int  # logits: P or P + 1
    pos_embed: bool
    attn_bias: bool  # b_Q, b_K, b_V, b_O and b_U present

    @property
    def p(self) -> int:
        return self.d_vocab - 1


def _shape(sd: dict, name: str, where: str) -> tuple[int, ...]:
    if name not in sd:
        raise GrokscanError(f"{where}: no parameter {name} (expected the [a, b, =] transformer "
                            f"of Nanda's code or TransformerLens; found {_few(sd)})")
    return tuple(sd[name].shape)


def _few(sd: dict) -> str:
    names = sorted(sd)
    return ", ".join(names[:6]) + (f", … ({len(names)} in all)" if len(names) > 6 else "") \
        if names else "no tensors"


def detect(sd: dict, where: str) -> str:
    """"nanda" or "tl", from the rank of ``blocks.0.attn.W_O``; a GrokscanError for anything
    else (LayerNorm, rotary or grouped-query attention, unknown parameters)."""
    for name in sd:
        if re.search(r"(^|\.)ln|rotary|\._W_|\._b_", name):
            raise GrokscanError(f"{where}: parameter {name}: grokscan's transformer has no "
                                "LayerNorm, rotary or grouped-query attention (expected "
                                "Nanda's model or a HookedTransformer with "
                                "normalization_type=None)")
    rank = len(_shape(sd, "blocks.0.attn.W_O", where))
    if rank not in (2, 3):
        raise GrokscanError(f"{where}: blocks.0.attn.W_O has rank {rank}; expected 2 (Nanda's "
                            "(d_model, n_heads·d_head)) or 3 (TransformerLens's (n_heads, "
                            "d_head, d_model))")
    return "nanda" if rank == 2 else "tl"


def dims(sd: dict, kind: str, where: str) -> Dims:
    """The sizes of the model ``sd`` holds in parametrisation ``kind``, every parameter's
    shape checked against them; a GrokscanError naming the parameter otherwise."""
    n_layers = 1 + max(int(m.group(1)) for m in map(re.compile(r"^blocks\.(\d+)\.").match, sd)
                       if m) if any(k.startswith("blocks.") for k in sd) else 0
    if not n_layers:
        raise GrokscanError(f"{where}: no blocks.0 parameters (found {_few(sd)})")
    E, Q = _shape(sd, "embed.W_E", where), _shape(sd, "blocks.0.attn.W_Q", where)
    W_in = _shape(sd, "blocks.0.mlp.W_in", where)
    if kind == "nanda":
        (d_model, d_vocab), (n_heads, d_head, _), d_mlp = E, Q, W_in[0]
    else:
        (d_vocab, d_model), (n_heads, _, d_head), d_mlp = E, Q, W_in[1]
    n_out = _shape(sd, "unembed.W_U", where)[1]
    d = Dims(kind, d_model, n_heads, d_head, d_mlp, n_layers, d_vocab, n_out,
             "pos_embed.W_pos" in sd, kind == "tl" and "blocks.0.attn.b_Q" in sd)
    if d_vocab < 3 or n_out not in (d.p, d.p + 1):
        raise GrokscanError(f"{where}: embed.W_E has {d_vocab} tokens and unembed.W_U {n_out} "
                            "logits; expected P + 1 tokens (residues and '=') and P or P + 1 "
                            "logits")
    want = expected_shapes(d)
    for name in sorted(set(sd) | set(want)):
        if BUFFERS.match(name):
            continue
        have = tuple(sd[name].shape) if name in sd else None
        ok = have == want.get(name) or (name == "pos_embed.W_pos" and have is not None
                                        and len(have) == 2 and have[0] >= 3
                                        and have[1] == d_model)
        if not ok:
            raise GrokscanError(f"{where}: {name} has shape {have}; a {_NAMES[kind]} model "
                                f"of these sizes has {want.get(name)}")
    return d


_NAMES = {"nanda": "Nanda-code", "tl": "TransformerLens"}


def expected_shapes(d: Dims) -> dict[str, tuple[int, ...] | None]:
    """Every parameter's shape in the source's own parametrisation (W_pos: at least 3 rows)."""
    m, h, e, f = d.d_model, d.n_heads, d.d_head, d.d_mlp
    out: dict = {"embed.W_E": (m, d.d_vocab) if d.kind == "nanda" else (d.d_vocab, m),
                 "unembed.W_U": (m, d.n_out)}
    if d.pos_embed:
        out["pos_embed.W_pos"] = (3, m)
    if d.attn_bias:
        out["unembed.b_U"] = (d.n_out,)
    for i in range(d.n_layers):
        a, p = f"blocks.{i}.attn.", f"blocks.{i}.mlp."
        if d.kind == "nanda":
            out.update({a + "W_Q": (h, e, m), a + "W_K": (h, e, m), a + "W_V": (h, e, m),
                        a + "W_O": (m, h * e), p + "W_in": (f, m), p + "W_out": (m, f)})
        else:
            out.update({a + "W_Q": (h, m, e), a + "W_K": (h, m, e), a + "W_V": (h, m, e),
                        a + "W_O": (h, e, m), p + "W_in": (m, f), p + "W_out": (f, m)})
        out.update({p + "b_in": (f,), p + "b_out": (m,)})
        if d.attn_bias:
            out.update({a + "b_Q": (h, e), a + "b_K": (h, e), a + "b_V": (h, e),
                        a + "b_O": (m,)})
    return out


def to_grokscan(sd: dict, d: Dims) -> dict[str, np.ndarray]:
    """The source's parameters as grokscan's transformer names and lays them out (float32)."""
    def a(name):
        return sd[name].detach().cpu().double().numpy()

    p, nanda = d.p, d.kind == "nanda"
    E = a("embed.W_E").T if nanda else a("embed.W_E")
    W_E = np.zeros((p + 2, d.d_model))
    W_E[:p], W_E[p + 1] = E[:p], E[p]  # '=' from P to P + 1; row P: the unused op token
    out = {"embed.W_E": W_E, "unembed.W_U": a("unembed.W_U")[:, :p]}
    if d.pos_embed:
        out["pos_embed.W_pos"] = a("pos_embed.W_pos")[:3]
    if d.attn_bias:
        out["unembed.b_U"] = a("unembed.b_U")[:p]
    for i in range(d.n_layers):
        at, ml = f"blocks.{i}.attn.", f"blocks.{i}.mlp."
        for w in ("W_Q", "W_K", "W_V"):
            out[at + w] = a(at + w).transpose(0, 2, 1) if nanda else a(at + w)
        W_O = a(at + "W_O")
        out[at + "W_O"] = W_O.T.reshape(d.n_heads, d.d_head, d.d_model) if nanda else W_O
        if d.attn_bias:
            out.update({at + b: a(at + b) for b in ("b_Q", "b_K", "b_V", "b_O")})
        out[ml + "W_in"] = a(ml + "W_in").T if nanda else a(ml + "W_in")
        out[ml + "W_out"] = a(ml + "W_out").T if nanda else a(ml + "W_out")
        out[ml + "b_in"], out[ml + "b_out"] = a(ml + "b_in"), a(ml + "b_out")
    return {k: v.astype(np.float32) for k, v in out.items()}


def _act(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "relu":
        return x.clamp(min=0)
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))  # exact GELU, torch's and TL's "gelu"


def _causal(scores: torch.Tensor) -> torch.Tensor:  # (..., query, key)
    T = scores.shape[-1]
    keep = torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(~keep, float("-inf")).softmax(-1)


@torch.no_grad()
def source_logits(sd: dict, d: Dims, activation: str, tokens: np.ndarray) -> np.ndarray:
    """The source model's logits over the P answers at the last position, float64, computed
    in its own parametrisation (the module docstring) from ``tokens`` (n, 3) of the source's
    vocabulary ([a, b, P])."""
    P = {k: v.detach().cpu().double() for k, v in sd.items() if not BUFFERS.match(k)}
    t = torch.from_numpy(np.asarray(tokens, np.int64))
    nanda = d.kind == "nanda"
    x = P["embed.W_E"][:, t].permute(1, 2, 0) if nanda else P["embed.W_E"][t]
    if d.pos_embed:
        x = x + P["pos_embed.W_pos"][: t.shape[1]]
    for i in range(d.n_layers):
        x = x + (_nanda_attn if nanda else _tl_attn)(P, f"blocks.{i}.attn.", x, d)
        m = f"blocks.{i}.mlp."
        if nanda:
            h = _act(torch.einsum("md,bpd->bpm", P[m + "W_in"], x) + P[m + "b_in"], activation)
            x = x + torch.einsum("dm,bpm->bpd", P[m + "W_out"], h) + P[m + "b_out"]
        else:
            h = _act(x @ P[m + "W_in"] + P[m + "b_in"], activation)
            x = x + h @ P[m + "W_out"] + P[m + "b_out"]
    logits = x[:, -1] @ P["unembed.W_U"]
    if d.attn_bias:
        logits = logits + P["unembed.b_U"]
    return logits[:, : d.p].numpy()


def _nanda_attn(P: dict, a: str, x: torch.Tensor, d: Dims) -> torch.Tensor:
    # transformers.py, Attention.forward: scores[b, head, query, key], z flattened head-major
    k = torch.einsum("ihd,bpd->biph", P[a + "W_K"], x)
    q = torch.einsum("ihd,bpd->biph", P[a + "W_Q"], x)
    v = torch.einsum("ihd,bpd->biph", P[a + "W_V"], x)
    pattern = _causal(torch.einsum("biph,biqh->biqp", k, q) / math.sqrt(d.d_head))
    z = torch.einsum("biph,biqp->biqh", v, pattern)
    z_flat = z.permute(0, 2, 1, 3).reshape(z.shape[0], z.shape[2], -1)
    return torch.einsum("df,bqf->bqd", P[a + "W_O"], z_flat)


def _tl_attn(P: dict, a: str, x: torch.Tensor, d: Dims) -> torch.Tensor:
    # components.py, Attention: x @ W + b per head; scores / √d_head; z @ W_O summed + b_O
    def proj(w):
        y = torch.einsum("bpd,hde->bphe", x, P[a + "W_" + w])
        return y + P[a + "b_" + w] if d.attn_bias else y

    q, k, v = proj("Q"), proj("K"), proj("V")
    pattern = _causal(torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(d.d_head))
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    out = torch.einsum("bqhe,hed->bqd", z, P[a + "W_O"])
    return out + P[a + "b_O"] if d.attn_bias else out
