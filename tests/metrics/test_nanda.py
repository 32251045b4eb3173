"""Nanda et al.'s restricted and excluded loss (arXiv:2301.05217 §5.1), against constructed
logits with known answers and against a transcription of his code (written here in torch, from
his notebook's functions: the Fourier basis, get_component_cos_xpy / sin_xpy, test_logits with
bias correction), independent of grokscan's implementation."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from grokscan.errors import GrokscanError
from grokscan.metrics import fourier as F

P = 23


def nll(z, labels, mask):
    return (logsumexp(z, axis=-1) - z[np.arange(len(labels)), labels])[mask].mean()


def grid(p=P):
    a, b = np.divmod(np.arange(p * p), p)
    return a, b, (a + b) % p


def nanda_reference(logits: torch.Tensor, p: int, freqs, train: torch.Tensor):
    """Restricted and excluded train loss the way his code computes them (additive case)."""
    x = torch.arange(p, dtype=torch.float64)
    basis = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        basis += [torch.cos(2 * torch.pi * k * x / p), torch.sin(2 * torch.pi * k * x / p)]
    basis = torch.stack([v / v.norm() for v in basis])

    def component(t, k, kind):
        cosx, sinx = basis[2 * k - 1], basis[2 * k]
        if kind == "cos":  # cos(w(x+y)) = cos x cos y - sin x sin y
            d = (cosx[:, None] * cosx[None, :] - sinx[:, None] * sinx[None, :]).flatten()
        else:  # sin(w(x+y)) = sin x cos y + cos x sin y
            d = (sinx[:, None] * cosx[None, :] + cosx[:, None] * sinx[None, :]).flatten()
        d = d / d.norm()
        return d[:, None] @ (d[None, :] @ t)

    def loss(z, original=None):
        if original is not None:  # bias correction
            z = (original - z).mean(0) + z
        labels = torch.tensor(grid(p)[2])
        return torch.nn.functional.cross_entropy(z[train], labels[train]).item()

    trig = sum(component(logits, k, kind) for k in freqs for kind in ("cos", "sin"))
    excluded = logits - trig
    return loss(trig, original=logits), loss(excluded)


def test_agrees_with_a_transcription_of_nandas_code():
    rng = np.random.default_rng(1)
    a, b, s = grid()
    c = np.arange(P)
    # a network-like table: two key frequencies, a class bias, and noise
    X = (4 * np.cos(2 * np.pi * 3 * (s[:, None] - c) / P)
         + 2 * np.cos(2 * np.pi * 8 * (s[:, None] - c) / P)
         + rng.normal(0, 1.5, (P * P, P)) + rng.normal(0, 1, P))
    train = rng.random(P * P) < 0.3
    phase, n = F.sample_phase(P)
    labels = s
    want_r, want_e = nanda_reference(torch.tensor(X), P, [3, 8], torch.tensor(train))
    got_r = nll(F.class_logits(X, phase=phase, n=n, freqs=[3, 8], mode="restricted"), labels,
                train)
    got_e = nll(F.class_logits(X, phase=phase, n=n, freqs=[3, 8], mode="excluded"), labels,
                train)
    assert got_r == pytest.approx(want_r, rel=1e-10)
    assert got_e == pytest.approx(want_e, rel=1e-10)
    assert got_r < nll(X, labels, train) < got_e  # the key frequencies carry the answer


def test_all_frequencies_kept_is_the_full_loss_and_none_excluded_too():
    rng = np.random.default_rng(2)
    a, b, s = grid()
    X = rng.normal(size=(P, P))[s]  # logits that are a function of a + b only, per class
    phase, n = F.sample_phase(P)
    everything = np.arange(1, P // 2 + 1)
    np.testing.assert_allclose(F.class_logits(X, phase=phase, n=n, freqs=everything,
                                              mode="restricted"), X, atol=1e-12)
    np.testing.assert_array_equal(F.class_logits(X, phase=phase, n=n, freqs=[],
                                                 mode="excluded"), X)


def test_logits_made_of_k_frequencies_are_kept_exactly_and_excluded_to_uniform():
    a, b, s = grid()
    c = np.arange(P)
    X = (3 * np.cos(2 * np.pi * 5 * (s[:, None] - c) / P)
         + np.cos(2 * np.pi * 9 * (s[:, None] - c) / P))
    phase, n = F.sample_phase(P)
    np.testing.assert_allclose(F.class_logits(X, phase=phase, n=n, freqs=[5, 9],
                                              mode="restricted"), X, atol=1e-12)
    Z = F.class_logits(X, phase=phase, n=n, freqs=[5, 9], mode="excluded")
    np.testing.assert_allclose(Z, 0, atol=1e-12)  # uniform: the largest loss, log P
    assert nll(Z, s, np.ones(P * P, bool)) == pytest.approx(np.log(P))
    # the trig coefficients are the amplitudes times the direction's norm √(P³/2)
    ph3, _ = F.grid_phase(P)
    coef = F.trig_coefficients(X, phase3=ph3, n=n, freqs=[5, 9, 2])
    np.testing.assert_allclose(coef, [3 * np.sqrt(P**3 / 2), np.sqrt(P**3 / 2), 0], atol=1e-9)


def test_train_and_test_differ_for_per_class_coefficients():
    # the 3-D variant (frequency_logits) gives every sample the same restricted loss; Nanda's
    # per-class projection does not, once the logits are not a pure function of a + b − c
    rng = np.random.default_rng(3)
    a, b, s = grid()
    X = rng.normal(size=(P * P, P)) + 3 * np.cos(2 * np.pi * 4 * (s[:, None] - np.arange(P)) / P)
    train = rng.random(P * P) < 0.4
    phase, n = F.sample_phase(P)
    Z = F.class_logits(X, phase=phase, n=n, freqs=[4], mode="restricted")
    assert abs(nll(Z, s, train) - nll(Z, s, ~train)) > 1e-3


def test_multiplication_in_the_discrete_log_basis():
    p = 13
    from grokscan.groups import discrete_log_table

    _, log = discrete_log_table(p)
    a, b = np.divmod(np.arange(p * p), p)
    ok = (a > 0) & (b > 0)
    labels = (a * b) % p
    c = np.arange(p)
    t = np.where(ok, (log[a] + log[b]) % (p - 1), 0)
    X = np.where(ok[:, None], 2 * np.cos(2 * np.pi * (t[:, None] - log[c]) / (p - 1)), 0.0)
    X[:, 0] = -5.0  # class 0 is never an answer on the non-zero grid
    phase, n = F.sample_phase(p, group="multiplicative")
    assert n == p - 1 and np.all((phase < 0) == ~ok)
    Z = F.class_logits(X, phase=phase, n=n, freqs=[1], mode="restricted")
    np.testing.assert_allclose(Z, X, atol=1e-12)
    assert (Z[ok].argmax(-1) == labels[ok]).all()


@pytest.mark.parametrize("kw, needle", [
    ({"phase": np.zeros(5, int)}, "phase: expected integers in 0..22 of shape (529,)"),
    ({"mode": "both"}, "mode: expected 'restricted' or 'excluded'"),
    ({"freqs": [12]}, "freqs: expected frequencies in 1..11"),
])
def test_bad_arguments(kw, needle):
    phase, n = F.sample_phase(P)
    args = {"phase": phase, "n": n, "freqs": [1], "mode": "restricted", **kw}
    with pytest.raises(GrokscanError) as e:
        F.class_logits(np.zeros((P * P, P)), **args)
    assert needle in str(e.value)
