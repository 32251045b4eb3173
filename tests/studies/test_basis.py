"""The group basis the onset corpus infers from the weights (grokscan/studies/corpus.py,
``sparsest_basis`` and the ``*_best`` signals), on embeddings whose basis is known by
construction: additive characters, multiplicative ones, and multiplicative ones of a shifted
residue t + s (xy + x + y = (x+1)(y+1) − 1 is multiplicative in t + 1); and what an affine map
of the residues does to the additive spectrum, for which no basis is a candidate."""

from types import SimpleNamespace

import numpy as np
import pytest

from grokscan.groups import discrete_log_table
from grokscan.metrics import fourier as fm
from grokscan.studies import corpus

rng = np.random.default_rng


def mixed(cols: np.ndarray, d: int, seed: int, noise: float = 0.0) -> np.ndarray:
    """The (P, m) character columns mixed into d dimensions, plus white noise."""
    g = rng(seed)
    W = cols @ g.standard_normal((cols.shape[1], d))
    return W + noise * np.linalg.norm(W) / np.sqrt(W.size) * g.standard_normal(W.shape)


def additive(p: int, freqs, d: int = 24, seed: int = 0, noise: float = 0.0) -> np.ndarray:
    """cos and sin(2πkt/P) for k in freqs."""
    angle = 2 * np.pi * np.outer(np.arange(p), freqs) / p
    return mixed(np.concatenate([np.cos(angle), np.sin(angle)], 1), d, seed, noise)


def multiplicative(p: int, freqs, shift: int = 0, d: int = 24, seed: int = 0,
                   noise: float = 0.0) -> np.ndarray:
    """The characters of Z_P^* at t + shift: cos and sin(2πk·log_g(t+shift)/(P-1)) for k in
    freqs, 0 at t = −shift."""
    _, log = discrete_log_table(p)
    u = (np.arange(p) + shift) % p
    angle = 2 * np.pi * np.outer(log[u], freqs) / (p - 1)
    cols = np.concatenate([np.cos(angle), np.sin(angle)], 1)
    cols[u == 0] = 0
    return mixed(cols, d, seed, noise)


@pytest.mark.parametrize("p, freqs", [(23, [2, 5]), (59, [4, 11, 17])])
def test_the_inferred_basis_is_the_one_the_embedding_was_built_in(p, freqs):
    """One checkpoint of each kind, side by side: additive, multiplicative, and
    multiplicative at two shifts (1, as for xy + x + y, and another), with and without 10 %
    noise."""
    kinds = [(np.nan, additive), (0.0, multiplicative), (1.0, multiplicative),
             (7.0, multiplicative)]
    E, want = [], []
    for noise in (0.0, 0.1):
        for seed, (s, make) in enumerate(kinds):
            kw = {} if make is additive else {"shift": int(s)}
            E.append(make(p, freqs, seed=seed, noise=noise, **kw))
            want.append(s)
    got = fm.sparsest_basis(np.stack(E), p)
    np.testing.assert_array_equal(got, want)


def test_no_multiplicative_basis_for_a_modulus_that_is_not_prime():
    E = np.stack([additive(24, [5]), rng(0).standard_normal((24, 24))])
    assert np.isnan(fm.sparsest_basis(E, 24)).all()


def test_an_empty_embedding_is_read_in_the_additive_basis():
    # a zero embedding has no spectrum: its entropy is 0 in every basis, and the additive
    # basis's larger deficit (log 12 against log 11) with the margin keeps it additive
    E = np.zeros((2, 13, 4))
    assert np.isnan(fm.sparsest_basis(E, 13)).all()


def test_the_best_signals_are_measured_in_the_inferred_basis():
    """_spectra on a stand-in run of three checkpoints (additive, multiplicative, shifted by
    3): basis_mul and basis_shift label them; the *_best signals are the *_add or *_mul ones
    where those bases were chosen and the shifted basis's measures where it was, and the
    logit map (built in the same basis as the embedding) is measured in it too."""
    p, h = 23, 16
    E = np.stack([additive(p, [3]), multiplicative(p, [3]), multiplicative(p, [3], shift=3)])
    L = np.stack([additive(p, [4], d=h, seed=9), multiplicative(p, [4], d=h, seed=9),
                  multiplicative(p, [4], shift=3, d=h, seed=9)])  # (n, P, h)
    values = {"E": E, "U": np.swapaxes(L, -1, -2)}  # the logit map W_L (h, C), in,out
    run = SimpleNamespace(task=SimpleNamespace(residues=SimpleNamespace(p=p)),
                          residue_vectors=[{"param": "E", "start": 0, "stop": p}],
                          neuron_logit_map=[{"param": "U", "axes": "in,out"}],
                          param=lambda k, rows: values[k][rows])
    out = corpus._spectra(run, np.arange(3))
    assert {k for k in corpus.SIGNALS if "_add" in k or "_mul" in k or "_best" in k
            or k.startswith("basis_")} == set(out)
    np.testing.assert_array_equal(out["basis_mul"], [0, 1, 1])
    np.testing.assert_array_equal(out["basis_shift"], [np.nan, 0, 3])
    for m in ("entropy", "gini", "ffd"):
        assert out[f"{m}_best"][0] == out[f"{m}_add"][0]
        assert out[f"{m}_best"][1] == out[f"{m}_mul"][1]
    shifted = fm.fourier_norms(E[2], fm.multiplicative_basis(p, shift=3))
    assert out["entropy_best"][2] == fm.spectral_entropy(shifted) < np.log(2) + 1e-9
    assert out["ffd_best"][2] == fm.ffd(shifted) == 1 / ((p - 1) // 2)
    assert out["entropy_mul"][2] > out["entropy_best"][2] + 1
    # the logit map's single frequency is found in each chosen basis: entropy at most log 2
    assert (out["entropy_logit_best"] < np.log(2) + 1e-9).all()
    assert (out["gini_logit_best"] > 0.9).all()


def test_the_shift_is_a_label_and_no_candidate():
    from grokscan.studies import candidates

    assert {c.signal for c in candidates(corpus.SIGNALS)} == set(corpus.SIGNALS) - {
        "train_acc", "basis_shift"}


def entropy_of_power(norms) -> np.ndarray:
    """The entropy of the normalised power per frequency, μ_k² + ν_k²."""
    w = fm.frequency_power(norms)
    q = w / w.sum(-1, keepdims=True)
    return -np.sum(q * np.log(np.where(q > 0, q, 1)), axis=-1)


@pytest.mark.parametrize("c, d", [(3, 0), (30, 0), (1, 5), (7, 11), (30, 1)])
def test_an_affine_map_of_the_residues_permutes_the_additive_frequencies(c, d):
    """E'(t) = E(c·t + d) has at frequency k the power E has at c⁻¹·k (folded into 1..K): the
    same spectrum, reordered. Entropy and Gini are row-wise (each frequency's cos and sin
    apart) and so are unchanged only when d = 0: a translation multiplies each frequency's
    coefficient by a phase, which moves norm between its cos and its sin, and for a generic
    embedding changes them, the entropy by at most log 2 (it is the entropy of the power per
    frequency, which is invariant, plus at most log 2 for the split of each frequency). For an
    embedding of full circles (cos and sin of each frequency with equal norm, orthogonal) the
    split is even and nothing changes."""
    p = 31
    t = np.arange(p)
    B = fm.additive_basis(p)
    E = rng(0).standard_normal((p, 16))
    n0, n1 = fm.fourier_norms(E, B), fm.fourier_norms(E[(c * t + d) % p], B)
    k = np.arange(1, p // 2 + 1)
    src = k * pow(c, -1, p) % p
    src = np.minimum(src, p - src)  # frequency j and p − j are one frequency
    np.testing.assert_allclose(fm.frequency_power(n1), fm.frequency_power(n0)[src - 1],
                               rtol=1e-10)
    h0, h1 = fm.spectral_entropy(n0), fm.spectral_entropy(n1)
    assert entropy_of_power(n1) == pytest.approx(entropy_of_power(n0), abs=1e-12)
    for h in (h0, h1):
        assert entropy_of_power(n0) - 1e-12 <= h <= entropy_of_power(n0) + np.log(2) + 1e-12
    if d == 0:  # rows permuted, a sin's sign at most flipped
        np.testing.assert_allclose(np.sort(n1[1:]), np.sort(n0[1:]), rtol=1e-10)
        assert h1 == pytest.approx(h0, abs=1e-12)
        assert fm.gini(n1) == pytest.approx(fm.gini(n0), abs=1e-12)
    else:
        assert abs(h1 - h0) > 1e-4  # generic weights: the claim of invariance would fail
    ring = np.stack([np.cos(2 * np.pi * 2 * t / p), np.sin(2 * np.pi * 2 * t / p),
                     3 * np.cos(2 * np.pi * 9 * t / p), 3 * np.sin(2 * np.pi * 9 * t / p)], 1)
    r0, r1 = fm.fourier_norms(ring, B), fm.fourier_norms(ring[(c * t + d) % p], B)
    assert fm.spectral_entropy(r1) == pytest.approx(fm.spectral_entropy(r0), abs=1e-12)
    assert fm.gini(r1) == pytest.approx(fm.gini(r0), abs=1e-12)


def test_a_model_trained_on_xy_plus_x_plus_y_is_read_in_the_basis_of_t_plus_1(tmp_path):
    """xy + x + y = (x+1)(y+1) − 1: a small MLP's embedding becomes sparse in the
    multiplicative basis of t + 1, not in the additive or the unshifted one (P = 41: from
    step 300, while test accuracy is still near chance)."""
    import grokscan

    path = str(tmp_path / "run.h5")
    grokscan.train(path, op="xy+x+y", wd=1.0, threads=1, p=41, frac=0.5, d_embed=32,
                   width=128, steps=600, every=100, lr=1e-2, seed=0)
    with grokscan.open_run(path) as run:
        out = corpus._spectra(run, np.arange(len(run.steps)))
    assert out["basis_shift"][-1] == 1 and out["basis_mul"][-1] == 1
    assert out["entropy_best"][-1] < min(out["entropy_add"][-1], out["entropy_mul"][-1]) - 0.2


@pytest.mark.parametrize("p, d", [(23, 8), (23, 64), (97, 8), (97, 64)])
def test_vectors_with_no_structure_stay_in_the_additive_basis(p, d):
    """Gaussian vectors: with P shifts to choose from one is always a little sparser than the
    additive basis; the margin keeps noise from being read as a multiplicative structure."""
    E = np.random.default_rng(p * d).normal(size=(300, p, d))
    assert np.isnan(fm.sparsest_basis(E, p)).mean() >= 0.99
