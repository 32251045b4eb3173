"""Models in the parametrisations grokscan imports, built here with their own names and
shapes, and their forward passes written out head by head, independently of grokscan."""

import math
import random

import numpy as np
import torch

P, D, H, MLP = 13, 16, 2, 32  # modulus, d_model, heads, d_mlp
E = D // H  # d_head


def nanda_state_dict(seed: int) -> dict:
    """Nanda's progress-measures Transformer (transformers.py): W_E (d_model, d_vocab), W_Q/K/V
    (heads, d_head, d_model), W_O (d_model, heads·d_head), W_in (d_mlp, d_model), W_out
    (d_model, d_mlp), W_U (d_model, d_vocab), and the attention mask buffer."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) / math.sqrt(shape[-1])

    return {"embed.W_E": r(D, P + 1), "pos_embed.W_pos": r(3, D),
            "blocks.0.attn.W_K": r(H, E, D), "blocks.0.attn.W_Q": r(H, E, D),
            "blocks.0.attn.W_V": r(H, E, D), "blocks.0.attn.W_O": r(D, H * E),
            "blocks.0.attn.mask": torch.ones(3, 3).tril(),
            "blocks.0.mlp.W_in": r(MLP, D), "blocks.0.mlp.b_in": r(MLP),
            "blocks.0.mlp.W_out": r(D, MLP), "blocks.0.mlp.b_out": r(D),
            "unembed.W_U": r(D, P + 1)}


def tl_state_dict(seed: int, n_out: int = P) -> dict:
    """A HookedTransformer (normalization_type=None, d_vocab P + 1, d_vocab_out ``n_out``)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) / math.sqrt(shape[-1])

    return {"embed.W_E": r(P + 1, D), "pos_embed.W_pos": r(3, D),
            "blocks.0.attn.W_Q": r(H, D, E), "blocks.0.attn.W_K": r(H, D, E),
            "blocks.0.attn.W_V": r(H, D, E), "blocks.0.attn.W_O": r(H, E, D),
            "blocks.0.attn.b_Q": r(H, E), "blocks.0.attn.b_K": r(H, E),
            "blocks.0.attn.b_V": r(H, E), "blocks.0.attn.b_O": r(D),
            "blocks.0.attn.mask": torch.ones(3, 3).tril().bool(),
            "blocks.0.attn.IGNORE": torch.tensor(-1e5),
            "blocks.0.mlp.W_in": r(D, MLP), "blocks.0.mlp.b_in": r(MLP),
            "blocks.0.mlp.W_out": r(MLP, D), "blocks.0.mlp.b_out": r(D),
            "unembed.W_U": r(D, n_out), "unembed.b_U": r(n_out)}


def _softmax_causal(s: np.ndarray) -> np.ndarray:
    s = np.where(np.tril(np.ones_like(s)) > 0, s, -np.inf)
    s = np.exp(s - s.max(-1, keepdims=True))
    return s / s.sum(-1, keepdims=True)


def relu(x):
    return np.maximum(x, 0)


def gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def forward(sd: dict, kind: str, a: int, b: int, act=relu) -> np.ndarray:
    """One example [a, b, '=' = P], every product written out; the P answer logits."""
    w = {k: v.double().numpy() for k, v in sd.items()}
    tok = [a, b, P]
    if kind == "nanda":
        x = np.stack([w["embed.W_E"][:, t] for t in tok]) + w["pos_embed.W_pos"]
        heads = []
        for h in range(H):
            q, k, v = (x @ w[f"blocks.0.attn.W_{n}"][h].T for n in "QKV")
            heads.append(_softmax_causal(q @ k.T / math.sqrt(E)) @ v)
        x = x + np.concatenate(heads, axis=1) @ w["blocks.0.attn.W_O"].T
        hid = act(x @ w["blocks.0.mlp.W_in"].T + w["blocks.0.mlp.b_in"])
        x = x + hid @ w["blocks.0.mlp.W_out"].T + w["blocks.0.mlp.b_out"]
        return (x[-1] @ w["unembed.W_U"])[:P]
    x = np.stack([w["embed.W_E"][t] for t in tok]) + w["pos_embed.W_pos"]
    out = w["blocks.0.attn.b_O"].copy()
    for h in range(H):
        q, k, v = (x @ w[f"blocks.0.attn.W_{n}"][h] + w[f"blocks.0.attn.b_{n}"][h] for n in "QKV")
        out = out + _softmax_causal(q @ k.T / math.sqrt(E)) @ v @ w["blocks.0.attn.W_O"][h]
    x = x + out
    hid = act(x @ w["blocks.0.mlp.W_in"] + w["blocks.0.mlp.b_in"])
    x = x + hid @ w["blocks.0.mlp.W_out"] + w["blocks.0.mlp.b_out"]
    return (x[-1] @ w["unembed.W_U"] + w["unembed.b_U"])[:P]


def nanda_split(frac: float, seed: int) -> list[tuple[int, int, int]]:
    """gen_train_test of his transformers.py, as he wrote it."""
    pairs = [(i, j, P) for i in range(P) for j in range(P)]
    random.seed(seed)
    random.shuffle(pairs)
    return pairs[: int(frac * len(pairs))]
