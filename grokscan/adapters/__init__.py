"""Recording models of other libraries with the layout analysis needs, in one call:
:func:`layout_of` (grokscan's own models, a TransformerLens ``HookedTransformer``, or a stack of
``torch.nn`` modules: an ``nn.Embedding`` or one-hot inputs into ``nn.Linear`` layers).

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
                  neuron_logit_map=({"param": f"blocks.{last}.mlp.W_out", "axes": "in,out"},
                                    {"param": "unembed.W_U", "axes": "in,out"}))


def mlp_layout(model, p: int | None = None) -> Layout:
    """The layout of a stack of ``torch.nn`` modules on (a, b): the residues are rows 0..P−1
    of its first ``nn.Embedding`` (shared by a and b), or, with no embedding, the columns
    0..P−1 (a) and P..2P−1 (b) of its first ``nn.Linear`` (one-hot inputs); the neuron-logit
    map is the weight of its last ``nn.Linear``, read as torch stores it, (out, in). ``p``:
    the modulus (None: the last layer's outputs, one per class). A model without those is a
    GrokscanError that says what was expected."""
    import torch

    modules = [(k, m) for k, m in model.named_modules() if k]
    linear = [(k, m) for k, m in modules if isinstance(m, torch.nn.Linear)]
    if not linear:
        raise GrokscanError("the model has no torch.nn.Linear layer; expected an embedding or "
                            "one-hot inputs into Linear layers (or give a Layout)")
    last, out = linear[-1]
    p = p or out.out_features
    emb = [(k, m) for k, m in modules if isinstance(m, torch.nn.Embedding)]
    if emb:
        name, e = emb[0]
        if e.num_embeddings < p:
            raise GrokscanError(f"{name} has {e.num_embeddings} rows; expected at least P = {p}")
        rv = ({"param": f"{name}.weight", "start": 0, "stop": p, "operand": "a,b"},)
    else:
        name, first = linear[0]
        if first.in_features < 2 * p:
            raise GrokscanError(f"{name} takes {first.in_features} inputs and the model has no "
                                f"embedding; expected one-hot inputs of 2P = {2 * p}")
        rv = ({"param": f"{name}.weight", "start": 0, "stop": p, "operand": "a", "axis": 1},
              {"param": f"{name}.weight", "start": p, "stop": 2 * p, "operand": "b",
               "axis": 1})
    return Layout(rv, ({"param": f"{last}.weight", "axes": "out,in"},))


def layout_of(model, p: int | None = None) -> Layout:
    """Where analysis finds a model's per-residue vectors and its neuron-logit map, in one
    call: grokscan's own models declare them; a TransformerLens ``HookedTransformer`` (its
    parameter names) and a stack of ``torch.nn`` modules are read by their shapes.

    Parameters
    ----------
    model : torch.nn.Module
        The model to record.
    p : int, optional
        The modulus P; None: found from the model (its logits, one per class).

    Returns
    -------
    Layout
        Its ``residue_vectors`` and ``neuron_logit_map``, each matrix read the way round it
        is stored.

    Examples
    --------
    >>> import torch, grokscan
    >>> net = torch.nn.Sequential(torch.nn.Embedding(23, 16), torch.nn.Flatten(),
    ...                           torch.nn.Linear(32, 64), torch.nn.ReLU(),
    ...                           torch.nn.Linear(64, 23))
    >>> grokscan.layout_of(net).neuron_logit_map
    ({'param': '4.weight', 'axes': 'out,in'},)
    """
    if hasattr(model, "residue_vectors"):
        return Layout.of(model)
    names = {k for k, _ in model.named_parameters()}
    if "embed.W_E" in names and "unembed.W_U" in names:
        return hooked_transformer_layout(model, p)
    return mlp_layout(model, p)


__all__ = ["hooked_transformer_layout", "layout_of", "mlp_layout"]
