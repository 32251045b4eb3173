import dataclasses

import pytest
import torch

from grokscan.config import ModelConfig
from grokscan.errors import GrokscanError
from grokscan.models import build_model
from grokscan.models.activations import ACTIVATIONS


def _mlp(**kw):
    cfg = ModelConfig(**{"d_embed": 8, "width": 16, "n_classes": 7, **kw})
    return build_model(cfg, n_vocab=7 + 1 + 1, p=7, n_ctx=2, seed=0)


def test_mlp_names_and_shapes_follow_the_maths():
    shapes = {k: tuple(v.shape) for k, v in _mlp(depth=2).named_parameters()}
    assert shapes == {"embed.W_E": (9, 8), "hidden.0.W": (16, 16), "hidden.0.b": (16,),
                      "hidden.1.W": (16, 16), "hidden.1.b": (16,), "unembed.W_U": (16, 7),
                      "unembed.b_U": (7,)}


def test_onehot_mlp_equals_an_explicit_one_hot_matmul():
    m = _mlp(input="onehot")
    x = torch.tensor([[0, 3], [6, 6], [2, 5]])
    onehot = torch.cat([torch.nn.functional.one_hot(x[:, 0], 7),
                        torch.nn.functional.one_hot(x[:, 1], 7)], 1).float()
    h = torch.relu(onehot @ m.hidden[0].W + m.hidden[0].b)
    want = h @ m.unembed.W_U + m.unembed.b_U
    torch.testing.assert_close(m(x), want)
    assert m.residue_vectors()[1] == {"param": "hidden.0.W", "start": 7, "stop": 14,
                                      "operand": "b"}


def test_logits_from_a_hidden_layer_equal_the_forward_pass_with_the_same_dropout():
    m = _mlp(depth=3).eval()
    x = torch.tensor([[a, b] for a in range(7) for b in range(7)])
    _, hidden = m(x, return_hidden=True)
    torch.manual_seed(5)
    want = m(x, dropout=0.4)
    torch.manual_seed(5)  # the masks are drawn in the same order: the same passes
    torch.testing.assert_close(m.logits_from(hidden[0], 0, dropout=0.4), want)
    assert not torch.allclose(want, m(x))
    for layer in range(3):  # without dropout, the tail of the forward pass from any layer
        torch.testing.assert_close(m.logits_from(hidden[layer], layer), m(x))


def test_sum_and_concat_inputs():
    x = torch.tensor([[1, 2]])
    m = _mlp(input="sum")
    h = torch.relu((m.embed.W_E[1] + m.embed.W_E[2]) @ m.hidden[0].W + m.hidden[0].b)
    torch.testing.assert_close(m(x)[0], h @ m.unembed.W_U + m.unembed.b_U)
    m = _mlp(input="concat")
    h = torch.relu(torch.cat([m.embed.W_E[1], m.embed.W_E[2]]) @ m.hidden[0].W + m.hidden[0].b)
    torch.testing.assert_close(m(x)[0], h @ m.unembed.W_U + m.unembed.b_U)


def test_transformer_names_shapes_and_causality():
    cfg = ModelConfig(kind="transformer", d_embed=16, width=32, n_heads=4, n_classes=7)
    m = build_model(cfg, n_vocab=9, p=7, n_ctx=3, seed=0)
    shapes = {k: tuple(v.shape) for k, v in m.named_parameters()}
    assert shapes["embed.W_E"] == (9, 16) and shapes["unembed.W_U"] == (16, 7)
    assert shapes["blocks.0.attn.W_Q"] == (4, 16, 4) and shapes["blocks.0.attn.W_O"] == (4, 4, 16)
    assert shapes["blocks.0.mlp.W_in"] == (16, 32) and shapes["blocks.0.mlp.W_out"] == (32, 16)
    logits, hidden = m(torch.tensor([[1, 2, 8]]), return_hidden=True)
    assert logits.shape == (1, 7) and hidden[0].shape == (1, 32)
    assert m.neuron_logit_map() == [{"param": "blocks.0.mlp.W_out", "axes": "in,out"},
                                    {"param": "unembed.W_U", "axes": "in,out"}]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_runs_and_matches_its_formula(name):
    m = _mlp(activation=name, act_a=0.3)
    x = torch.linspace(-2, 2, 9)
    y = m.hidden[0].act(x)
    want = {"relu": torch.relu(x), "gelu": torch.nn.functional.gelu(x), "square": x**2,
            "quad": x + 0.3 * x**2, "abscube": x.abs() ** 3, "cube": x**3,
            "signsquare": x * x.abs(), "relu3": torch.relu(x) + 0.3 * x.abs() ** 3}[name]
    torch.testing.assert_close(y, want)
    assert m(torch.tensor([[1, 2]])).shape == (1, 7)


def test_relu3_coefficients_are_trainable_per_layer():
    names = [k for k, _ in _mlp(activation="relu3", depth=2).named_parameters()]
    assert {"hidden.0.act.a", "hidden.0.act.c", "hidden.1.act.a"} <= set(names)


def test_init_scale_and_seed():
    a, b = _mlp(), _mlp(init_scale=7.0)
    torch.testing.assert_close(b.hidden[0].W, 7 * a.hidden[0].W)
    assert torch.equal(_mlp().hidden[0].W, a.hidden[0].W)


def test_bad_models_are_refused():
    with pytest.raises(GrokscanError, match="model.activation: expected one of relu, gelu"):
        _mlp(activation="tanhh")
    with pytest.raises(GrokscanError, match="multiple of the number of heads"):
        cfg = dataclasses.replace(ModelConfig(kind="transformer"), d_embed=10, n_classes=7)
        build_model(cfg, n_vocab=9, p=7, n_ctx=3, seed=0)


def test_the_activation_names_are_the_config_choices():
    """--activation offers exactly the activations the models build."""
    import dataclasses as dc

    choices = {f.name: f for f in dc.fields(ModelConfig)}["activation"].metadata["choices"]
    assert set(choices) == set(ACTIVATIONS)


def test_transformer_biases_are_off_by_default_and_act_as_transformer_lens_adds_them():
    plain = build_model(ModelConfig(kind="transformer", d_embed=8, width=16, n_heads=2,
                                    n_classes=5), n_vocab=7, p=5, n_ctx=3, seed=0)
    names = dict(plain.named_parameters())
    assert not any(n.endswith(("b_Q", "b_K", "b_V", "b_O", "b_U")) for n in names)
    cfg = ModelConfig(kind="transformer", d_embed=8, width=16, n_heads=2, n_classes=5,
                      attn_bias=True)
    m = build_model(cfg, n_vocab=7, p=5, n_ctx=3, seed=0)
    params = dict(m.named_parameters())
    assert {k: tuple(v.shape) for k, v in params.items() if "b_" in k and "mlp" not in k} == {
        "blocks.0.attn.b_Q": (2, 4), "blocks.0.attn.b_K": (2, 4), "blocks.0.attn.b_V": (2, 4),
        "blocks.0.attn.b_O": (8,), "unembed.b_U": (5,)}
    # the same seed draws the same weights with or without the biases
    for k, v in names.items():
        assert torch.equal(v, params[k]), k
    with torch.no_grad():
        for k, v in params.items():
            if "b_" in k:
                v.normal_()
    x = torch.tensor([[0, 3, 6], [4, 1, 6]])
    # an independent forward pass, head by head, as TransformerLens writes it
    P = {k: v.detach().double() for k, v in params.items()}
    r = P["embed.W_E"][x] + P["pos_embed.W_pos"][:3]
    heads = []
    for h in range(2):
        q = r @ P["blocks.0.attn.W_Q"][h] + P["blocks.0.attn.b_Q"][h]
        k = r @ P["blocks.0.attn.W_K"][h] + P["blocks.0.attn.b_K"][h]
        v = r @ P["blocks.0.attn.W_V"][h] + P["blocks.0.attn.b_V"][h]
        s = q @ k.transpose(-1, -2) / 2.0
        s = s.masked_fill(torch.ones(3, 3).triu(1).bool(), float("-inf"))
        heads.append(s.softmax(-1) @ v @ P["blocks.0.attn.W_O"][h])
    r = r + sum(heads) + P["blocks.0.attn.b_O"]
    hid = torch.relu(r @ P["blocks.0.mlp.W_in"] + P["blocks.0.mlp.b_in"])
    r = r + hid @ P["blocks.0.mlp.W_out"] + P["blocks.0.mlp.b_out"]
    want = r[:, -1] @ P["unembed.W_U"] + P["unembed.b_U"]
    torch.testing.assert_close(m(x).double(), want, rtol=1e-5, atol=1e-5)
