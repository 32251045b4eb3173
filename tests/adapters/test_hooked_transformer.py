"""The HookedTransformer adapter: a torch module with TransformerLens's parameter names and
shapes (transformer_lens itself is not needed) recorded with its layout filled in."""

from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from grokscan.analysis import Options, analyze
from grokscan.errors import GrokscanError
from grokscan.recorder import Recorder, Schedule
from grokscan.store.reader import Run
from grokscan.tasks.modular import ModularConfig, make_data

P, D, H, MLP = 13, 16, 2, 32


def tl_state_dict(seed: int, n_out: int = P) -> dict:
    """HookedTransformer's names and shapes (transformer_lens/components.py)."""
    g = torch.Generator().manual_seed(seed)
    e = D // H
    shapes = {"embed.W_E": (P + 1, D), "pos_embed.W_pos": (3, D),
              **{f"blocks.0.attn.W_{n}": (H, D, e) for n in "QKV"},
              **{f"blocks.0.attn.b_{n}": (H, e) for n in "QKV"},
              "blocks.0.attn.W_O": (H, e, D), "blocks.0.attn.b_O": (D,),
              "blocks.0.mlp.W_in": (D, MLP), "blocks.0.mlp.b_in": (MLP,),
              "blocks.0.mlp.W_out": (MLP, D), "blocks.0.mlp.b_out": (D,),
              "unembed.W_U": (D, n_out), "unembed.b_U": (n_out,)}
    return {k: torch.randn(*s, generator=g) for k, s in shapes.items()}


def nanda_state_dict() -> dict:
    """Nanda's layout: W_O (d_model, n_heads·d_head), W_E (d_model, d_vocab)."""
    sd = tl_state_dict(0)
    sd["embed.W_E"] = sd["embed.W_E"].T.contiguous()
    sd["blocks.0.attn.W_O"] = torch.zeros(D, D)
    return sd


def module_of(sd: dict, **cfg) -> nn.Module:
    """A module whose named parameters are ``sd``'s (buffers left out), with a ``cfg``."""
    root = nn.Module()
    for name, value in sd.items():
        if name.endswith(("mask", "IGNORE")):
            continue
        *path, leaf = name.split(".")
        mod = root
        for part in path:
            if not hasattr(mod, part):
                mod.add_module(part, nn.Module())
            mod = getattr(mod, part)
        mod.register_parameter(leaf, nn.Parameter(value.clone()))
    root.cfg = SimpleNamespace(**cfg)
    return root


def test_the_layout_of_a_hooked_transformer_is_filled_in_and_analysed(tmp_path):
    model = module_of(tl_state_dict(0), d_vocab=P + 1, d_vocab_out=P)
    path = tmp_path / "tl.h5"
    task = make_data(ModularConfig(p=P, frac=0.5), seed=0)
    with Recorder.for_hooked_transformer(model, path, task=task, grads=False,
                                         schedule=Schedule(every=1)) as rec:
        for step in range(2):
            rec.record(step, train_loss=1.0)
            with torch.no_grad():
                model.embed.W_E.mul_(0.5)
    with Run(path) as run:
        assert run.residue_vectors == [{"param": "embed.W_E", "start": 0, "stop": P,
                                        "operand": "a,b"}]
        assert run.neuron_logit_map == [{"param": "blocks.0.mlp.W_out", "axes": "in,out"},
                                        {"param": "unembed.W_U", "axes": "in,out"}]
        W_E = run.param("embed.W_E", -1)
    s = analyze(path, tmp_path / "out", Options(families=("fourier", "embedding/cosine"),
                                                quiet=True))
    assert s["left_out"] == {}
    E = W_E[:P] / np.linalg.norm(W_E[:P], axis=1, keepdims=True)
    with h5py.File(tmp_path / "out" / "metrics.h5", "r") as f:
        np.testing.assert_allclose(f["metrics/embedding/cosine/matrix"][-1], E @ E.T,
                                   atol=1e-5)


def test_p_comes_from_the_shapes_only_when_they_say_it():
    model = module_of(tl_state_dict(0, n_out=P + 1), d_vocab=P + 1, d_vocab_out=P + 1)
    from grokscan.adapters import hooked_transformer_layout

    with pytest.raises(GrokscanError, match="give p="):
        hooked_transformer_layout(model)
    assert hooked_transformer_layout(model, p=P).residue_vectors[0]["stop"] == P


def test_nanda_s_layout_is_refused_with_the_parameter_named(tmp_path):
    model = module_of(nanda_state_dict())
    with pytest.raises(GrokscanError, match=r"blocks\.0\.attn\.W_O has shape \(16, 16\)"):
        Recorder.for_hooked_transformer(model, tmp_path / "x.h5", p=P)
    assert not list(tmp_path.iterdir()) or not list(tmp_path.glob("x.h5*"))
