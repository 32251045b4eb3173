"""Activation functions (Salah & Yevick, arXiv:2411.05353 §2; Yevick, arXiv:2403.19896);
``ACTIVATIONS`` lists the `--activation` names."""

from __future__ import annotations

import torch
from torch import nn


class Elementwise(nn.Module):
    def __init__(self, fn, name: str):
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


class Quad(nn.Module):
    """phi(x) = x + a*x^2 (Salah & Yevick, arXiv:2411.05353; b = 1), with a fixed."""

    def __init__(self, a: float):
        super().__init__()
        self.a = a

    def forward(self, x):
        return x + self.a * x * x


class ReLU3(nn.Module):
    """ReLU generalised by an even cubic term (Yevick, arXiv:2403.19896).

    The paper's exact formula is not available to us; we use
    phi(x) = c * ReLU(x) + gamma * a * |x|^3 with trainable, layer-dependent a and c (initialised
    to 1) and a global strength gamma fixed by ``--act-a``.
    """

    def __init__(self, gamma: float):
        super().__init__()
        self.gamma = gamma
        self.a = nn.Parameter(torch.ones(()))
        self.c = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.c * torch.relu(x) + self.gamma * self.a * x.abs() ** 3


ACTIVATIONS = {
    "relu": "ReLU",
    "gelu": "GELU",
    "square": "x^2 (Gromov 2023)",
    "quad": "x + a*x^2, a = --act-a (Salah & Yevick)",
    "abscube": "|x|^3 (groks)",
    "cube": "x^3 (does not grok)",
    "signsquare": "x^2 * sign(x) (does not grok)",
    "relu3": "c*ReLU(x) + gamma*a*|x|^3, trainable a and c per layer, gamma = --act-a",
}


def make_activation(name: str, a: float) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    if name == "quad":
        return Quad(a)
    if name == "relu3":
        return ReLU3(a)
    fns = {
        "square": lambda x: x * x,
        "abscube": lambda x: x.abs() ** 3,
        "cube": lambda x: x**3,
        "signsquare": lambda x: x * x.abs(),
    }
    if name not in fns:
        from grokscan.errors import GrokscanError

        raise GrokscanError(
            f"unknown activation {name!r}; expected one of: {', '.join(ACTIVATIONS)}"
        )
    return Elementwise(fns[name], name)
