"""The forecast's spectral signals on constructed embeddings whose structure is known: the
basis inferred from the weights is the one the embedding was built in."""

from types import SimpleNamespace

import numpy as np
import pytest

from grokscan.groups import discrete_log_table
from grokscan.metrics import fourier as fm
from grokscan.onset.forecast import Spectrum, spectral

P, D = 23, 6


def _embedding(kind: str, k: int = 3) -> np.ndarray:
    """(P, D): residue t at (cos, sin) of frequency k of t (additive) or of its discrete log
    (multiplicative; 0 at t = 0), padded with zeros."""
    E = np.zeros((P, D))
    if kind == "additive":
        theta = 2 * np.pi * k * np.arange(P) / P
        E[:, 0], E[:, 1] = np.cos(theta), np.sin(theta)
    else:
        _, log = discrete_log_table(P)
        theta = 2 * np.pi * k * log[1:] / (P - 1)
        E[1:, 0], E[1:, 1] = np.cos(theta), np.sin(theta)
    return E


def _spectrum() -> Spectrum:
    res = SimpleNamespace(p=P, basis="additive")
    return Spectrum(res, [{"param": "E", "start": 0, "stop": P}])


@pytest.mark.parametrize("kind, basis", [("additive", "add"), ("multiplicative", "mul")])
def test_the_inferred_basis_is_the_one_the_embedding_was_built_in(kind, basis):
    s = _spectrum()
    params = {"E": _embedding(kind)[None]}
    add, mul = s.signal("entropy_add", params), s.signal("entropy_mul", params)
    best = s.signal("entropy_best", params)
    assert best == (add if basis == "add" else mul) and best < max(add, mul)
    # the sparse basis holds one frequency: its entropy is that of a pure (cos, sin) pair
    ref = fm.additive_basis(P) if basis == "add" else fm.multiplicative_basis(P)
    assert best == pytest.approx(float(fm.spectral_entropy(fm.fourier_norms(
        _embedding(kind)[None], ref))[0]))
    assert best < 1.0 < max(add, mul)


def test_signal_names():
    assert spectral("fourier/gini_embed") == ("gini", "task")
    assert spectral("entropy_best") == ("entropy", "best")
    assert spectral("ffd_mul") == ("ffd", "mul")
    assert spectral("weight_norm") is None and spectral("train_loss") is None
    # a multiplicative basis needs P prime: NaN, and the best is the additive one
    s = Spectrum(SimpleNamespace(p=21, basis="additive"), [{"param": "E", "start": 0,
                                                           "stop": 21}])
    params = {"E": np.random.default_rng(0).normal(size=(1, 21, 4))}
    assert np.isnan(s.signal("gini_mul", params)[0])
    assert s.signal("gini_best", params) == s.signal("gini_add", params)
