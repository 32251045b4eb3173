"""Recording models of other libraries with the layout analysis needs.

``hooked_transformer_layout(model, p)`` gives the :class:`grokscan.store.layout.Layout` of a
TransformerLens ``HookedTransformer`` trained on [a, b, =] inputs
(``Recorder.for_hooked_transformer`` records with it). Nothing here imports transformer_lens:
a model is recognised by its parameter names and shapes (TransformerLensOrg/TransformerLens,
components.py): ``embed.W_E`` (d_vocab, d_model), ``blocks.{i}.attn.W_O`` (n_heads, d_head,
d_model), ``blocks.{i}.mlp.W_out`` (d_mlp, d_model), ``unembed.W_U`` (d_model, d_vocab_out).
"""

from __future__ import annotations

from grokscan.errors import GrokscanError
from grokscan.store.layout import Layout


def _p_of(model, shapes: dict, p: int | None) -> int:
    d_vocab = shapes["embed.W_E"][0]
    n_out = shapes["unembed.W_U"][1]
    if p is None:
        cfg = getattr(model, "cfg", None)
        if n_out == d_vocab - 1 and getattr(cfg, "d_vocab_out", n_out) == n_out:
            return n_out  # d_vocab = P + 1 ('=') and P answers: the layout says P
        raise GrokscanError(f"the model has {d_vocab} input tokens and {n_out} logits, which "
                            "do not say P; give p=")
    if not 2 <= p <= min(d_vocab, n_out):
        raise GrokscanError(f"p = {p}: the model has {d_vocab} input tokens and {n_out} logits; "
                            f"expected P ≤ both")
    return p


def hooked_transformer_layout(model, p: int | None = None) -> Layout:
    """The layout of a HookedTransformer on [a, b, =]: residues 0..P−1 are rows 0..P−1 of
    ``embed.W_E``; the neuron-logit map is W_out of the last block times W_U. ``p``: the
    modulus (None: P = d_vocab_out when d_vocab = d_vocab_out + 1). A model that is not laid
    out as TransformerLens lays it out is a GrokscanError that names the parameter."""
    shapes = {k: tuple(v.shape) for k, v in model.named_parameters()}
    for name in ("embed.W_E", "unembed.W_U", "blocks.0.attn.W_O", "blocks.0.mlp.W_out"):
        if name not in shapes:
            raise GrokscanError(f"the model has no parameter {name}; expected a TransformerLens "
                                "HookedTransformer with an MLP in each block")
    if len(shapes["blocks.0.attn.W_O"]) != 3:
        raise GrokscanError(f"blocks.0.attn.W_O has shape {shapes['blocks.0.attn.W_O']}; a "
                            "HookedTransformer's is (n_heads, d_head, d_model) (Nanda's own "
                            "code stores W_E as (d_model, d_vocab): use grokscan import, or a "
                            "Layout with \"axis\": 1)")
    d_model = shapes["embed.W_E"][1]
    if shapes["unembed.W_U"][0] != d_model:
        raise GrokscanError(f"embed.W_E is {shapes['embed.W_E']} and unembed.W_U "
                            f"{shapes['unembed.W_U']}; expected (d_vocab, d_model) and "
                            "(d_model, d_vocab_out)")
    p = _p_of(model, shapes, p)
    last = max(int(k.split(".")[1]) for k in shapes if k.startswith("blocks."))
    return Layout(residue_vectors=({"param": "embed.W_E", "start": 0, "stop": p,
                                    "operand": "a,b"},),
                  neuron_logit_map=(f"blocks.{last}.mlp.W_out", "unembed.W_U"))


__all__ = ["hooked_transformer_layout"]
