"""Fourier measures against spectra whose answer is known by construction."""

import numpy as np
import pytest
from scipy.special import logsumexp

import grokscan.metrics.fourier as F  # registers the fourier/* metrics
from grokscan.errors import GrokscanError
from grokscan.groups import discrete_log_table
from grokscan.metrics import METRICS

P = 23  # K = 11
rng = np.random.default_rng


def embedding_from_norms(basis, row_norms, d=40, seed=0):
    """A (p, d) embedding whose Fourier norms in ``basis`` are exactly ``row_norms``.

    W = Bᵀ C with C's rows of the given norms gives B W = C, as B is orthonormal.
    """
    C = rng(seed).standard_normal((len(row_norms), d))
    C *= (np.asarray(row_norms) / np.linalg.norm(C, axis=1))[:, None]
    return basis.T @ C


def sparse_norms(n, freqs, mu, nu):
    """A norms vector in basis order with given μ, ν at ``freqs`` and zeros elsewhere."""
    x = np.zeros(n)
    x[0] = 3.0  # the constant must not matter
    for k, m, v in zip(freqs, mu, nu):
        x[2 * k - 1], x[2 * k] = m, v
    return x


# --- bases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [2, 7, 12, 23, 24])
def test_additive_basis_is_orthonormal_with_expected_rows(p):
    B = F.additive_basis(p)
    assert B.shape == (p, p)
    np.testing.assert_allclose(B @ B.T, np.eye(p), atol=1e-12)
    t = np.arange(p)
    np.testing.assert_allclose(B[0], 1 / np.sqrt(p))
    if p > 2:
        np.testing.assert_allclose(B[1], np.sqrt(2 / p) * np.cos(2 * np.pi * t / p), atol=1e-12)
    if p % 2 == 0:  # Nyquist: only the cos row, (-1)^t / √p
        np.testing.assert_allclose(B[-1], (-1.0) ** t / np.sqrt(p), atol=1e-12)
        assert F.basis_labels(p)[-1] == ("cos", p // 2)
    else:
        assert F.basis_labels(p)[-1] == ("sin", p // 2)


def test_basis_labels_order():
    assert F.basis_labels(6) == [
        ("const", 0), ("cos", 1), ("sin", 1), ("cos", 2), ("sin", 2), ("cos", 3)
    ]


@pytest.mark.parametrize("p", [2, 7, 13, 23])
def test_multiplicative_basis_orthonormal_on_nonzero_residues(p):
    B = F.multiplicative_basis(p)
    assert B.shape == (p - 1, p)
    np.testing.assert_array_equal(B[:, 0], 0)
    np.testing.assert_allclose(B[:, 1:] @ B[:, 1:].T, np.eye(p - 1), atol=1e-12)
    if p > 3:  # row cos_1 is cos(2π log_g t / (p-1)), normalised
        g, log = discrete_log_table(p)
        expected = np.cos(2 * np.pi * log[1:] / (p - 1)) * np.sqrt(2 / (p - 1))
        np.testing.assert_allclose(B[1, 1:], expected, atol=1e-12)


def test_bases_reject_bad_moduli():
    with pytest.raises(GrokscanError):
        F.multiplicative_basis(21)
    with pytest.raises(GrokscanError):
        F.additive_basis(1)
    with pytest.raises(GrokscanError):
        F.additive_basis(7.5)


def test_fourier_norms_of_a_single_mode_and_shape_errors():
    B = F.additive_basis(P)
    W = embedding_from_norms(B, np.eye(P)[5] * 2.5)  # only row 5 = cos_3
    norms = F.fourier_norms(np.stack([W, 2 * W]), B)  # a leading checkpoint axis
    assert norms.shape == (2, P)
    np.testing.assert_allclose(norms[0], np.eye(P)[5] * 2.5, atol=1e-12)
    np.testing.assert_allclose(norms[1], np.eye(P)[5] * 5.0, atol=1e-12)
    with pytest.raises(GrokscanError):
        F.fourier_norms(W.T, B)  # (d, p) instead of (p, d)


def test_split_mu_nu_pads_nyquist_sin_for_even_n():
    mu, nu = F.split_mu_nu(np.arange(8.0))  # rows: const, c1 s1 c2 s2 c3 s3 c4
    np.testing.assert_array_equal(mu, [1, 3, 5, 7])
    np.testing.assert_array_equal(nu, [2, 4, 6, 0])


# --- scalar measures on known spectra ----------------------------------------------------------


def test_k_frequency_embedding_gives_exact_ffd_fcr_gini_entropy_keys():
    B = F.additive_basis(P)
    K = P // 2
    freqs = [2, 5, 9]
    mu, nu = [1.0, 0.8, 0.6], [0.7, 1.0, 0.9]  # all above η = 0.5 of the maxima
    W = embedding_from_norms(B, sparse_norms(P, freqs, mu, nu), d=10)  # d > 2k
    norms = F.fourier_norms(W, B)
    assert F.ffd(norms) == pytest.approx(3 / K, abs=0)
    # Eq. 6 by hand: min(μ/ν, ν/μ) at the three frequencies, 0 at the eight absent ones
    assert F.fcr(norms) == pytest.approx((0.7 / 1.0 + 0.8 / 1.0 + 0.6 / 0.9) / K, rel=1e-9)
    freq_top, frac = F.key_frequencies(norms, n_keys=3)
    assert sorted(freq_top.tolist()) == freqs
    assert frac == pytest.approx(1.0, abs=1e-12)
    mask = F.key_frequency_mask(norms, cover=0.99)
    np.testing.assert_array_equal(np.flatnonzero(mask) + 1, freqs)


def test_equal_norms_give_closed_form_entropy_and_gini():
    k = 3
    norms = sparse_norms(P, [1, 4, 10], [0.5] * k, [0.5] * k)
    assert F.spectral_entropy(norms) == pytest.approx(np.log(2 * k), rel=1e-12)
    # m equal non-zero values among N: mean|x_i - x_j| = 2c·m(N-m)/N², mean = cm/N
    N = P - 1
    assert F.gini(norms) == pytest.approx(1 - 2 * k / N, rel=1e-12)
    # a flat spectrum: Gini 0, maximal entropy
    flat = np.ones(P)
    assert F.gini(flat) == pytest.approx(0, abs=1e-12)
    assert F.spectral_entropy(flat) == pytest.approx(np.log(P - 1), rel=1e-12)


def test_pure_cosines_give_fcr_zero():
    B = F.additive_basis(P)
    W = embedding_from_norms(B, sparse_norms(P, [3, 7], [1.0, 0.6], [0.0, 0.0]))
    norms = F.fourier_norms(W, B)
    assert F.fcr(norms) == 0.0
    assert F.ffd(norms) == pytest.approx(2 / (2 * (P // 2)), abs=0)  # the sin indicators: 0/0


def test_even_n_nyquist_counting():
    n = 8  # K = 4; Nyquist sin counted in 2K and never passes
    assert F.ffd(np.ones(n)) == pytest.approx(7 / 8, abs=0)
    assert F.fcr(np.ones(n)) == pytest.approx(3 / 4, abs=1e-12)


def test_white_noise_is_dense():
    B = F.additive_basis(P)
    W = rng(1).standard_normal((P, 4000))
    norms = F.fourier_norms(W, B)
    assert F.ffd(norms) == pytest.approx(1.0, abs=0.05)
    assert F.spectral_entropy(norms) == pytest.approx(np.log(P - 1), abs=0.01)
    assert F.fcr(norms) > 0.9
    assert F.gini(norms) < 0.05


def test_gini_matches_quadratic_formula():
    x = np.abs(rng(2).standard_normal((4, 31)))
    tail = x[:, 1:]
    expected = [np.abs(r[:, None] - r[None, :]).mean() / (2 * r.mean()) for r in tail]
    np.testing.assert_allclose(F.gini(x), expected, rtol=1e-12)


def test_zero_spectrum_has_nothing_to_measure():
    z = np.zeros(P)
    for fn in (F.ffd, F.fcr, F.gini, F.spectral_entropy, F.key_fraction):
        assert fn(z) == 0.0
    freqs, _ = F.key_frequencies(z, n_keys=2)
    np.testing.assert_array_equal(freqs, [0, 0])
    assert not F.key_frequency_mask(z).any()


def test_registered_names():
    for name in ("ffd", "fcr", "gini", "entropy", "key_fraction"):
        assert f"fourier/{name}" in METRICS


# --- the multiplicative group ------------------------------------------------------------------


def test_multiplicative_embedding_is_sparse_only_in_its_own_basis():
    k = 4
    _, log = discrete_log_table(P)
    angle = 2 * np.pi * k * log[1:] / (P - 1)
    u, v = rng(3).standard_normal((2, 16))
    W = np.zeros((P, 16))
    W[1:] = np.cos(angle)[:, None] * u + np.sin(angle)[:, None] * (v * np.linalg.norm(u)
                                                                   / np.linalg.norm(v))
    mult = F.fourier_norms(W, F.multiplicative_basis(P))
    add = F.fourier_norms(W, F.additive_basis(P))
    assert F.ffd(mult) == pytest.approx(1 / ((P - 1) // 2), abs=0)
    freqs, frac = F.key_frequencies(mult, n_keys=1)
    assert freqs.tolist() == [k] and frac == pytest.approx(1.0, abs=1e-12)
    # log(P - t) = log t + (P-1)/2, so W is even (k even) in t ↦ P - t: in the additive basis
    # its sin norms vanish but its power spreads over all cos rows
    assert F.ffd(add) > 0.4
    assert F.spectral_entropy(add) > np.log(2) + 1.5


def shifted_characters(p, s, freqs, d=12, seed=0):
    """A (p, d) embedding of the characters of Z_p^* at t + s, frequencies ``freqs``: the
    columns cos and sin(2πk·log_g(t+s)/(p-1)) mixed by a random (2·len(freqs), d) matrix;
    residue −s (t + s = 0, no logarithm) is the zero vector."""
    _, log = discrete_log_table(p)
    u = (np.arange(p) + s) % p
    angle = 2 * np.pi * np.outer(log[u], freqs) / (p - 1)
    cols = np.concatenate([np.cos(angle), np.sin(angle)], axis=1)
    cols[u == 0] = 0
    return cols @ rng(seed).standard_normal((cols.shape[1], d))


@pytest.mark.parametrize("p", [2, 3, 13, 23])
def test_shifted_multiplicative_basis_is_the_basis_of_t_plus_s(p):
    B = F.multiplicative_basis(p)
    np.testing.assert_array_equal(F.multiplicative_basis(p, shift=0), B)
    for s in range(-1, p + 2):
        Bs = F.multiplicative_basis(p, shift=s)
        # residue t takes the column of t + s; residue −s, mapped to 0, is in no row
        np.testing.assert_array_equal(Bs, B[:, (np.arange(p) + s) % p])
        np.testing.assert_array_equal(Bs[:, -s % p], 0)
        keep = np.arange(p) != -s % p
        np.testing.assert_allclose(Bs[:, keep] @ Bs[:, keep].T, np.eye(p - 1), atol=1e-12)
    with pytest.raises(GrokscanError):
        F.multiplicative_basis(p, shift=1.5)


@pytest.mark.parametrize("s", [1, 6])
def test_characters_at_t_plus_s_are_sparse_only_in_the_basis_with_that_shift(s):
    freqs = [3, 7]  # of K = 11 for P = 23
    W = shifted_characters(P, s, freqs)
    own = F.fourier_norms(W, F.multiplicative_basis(P, shift=s))
    power = F.frequency_power(own)
    np.testing.assert_array_equal(np.flatnonzero(power > 1e-20 * power.sum()) + 1, freqs)
    assert own[0] < 1e-12 * own.max()  # a non-trivial character sums to 0: no constant
    assert F.spectral_entropy(own) <= np.log(2 * len(freqs)) + 1e-12
    # every other shift, and the additive basis, spread it over most of the frequencies
    for other in [F.multiplicative_basis(P, shift=r) for r in range(P) if r != s] + \
            [F.additive_basis(P)]:
        norms = F.fourier_norms(W, other)
        assert F.key_frequency_mask(norms, cover=0.9).sum() >= 5
        assert F.spectral_entropy(norms) > F.spectral_entropy(own) + 1.0


@pytest.mark.parametrize("p", [2, 3, 5, 23])
def test_shifted_multiplicative_norms_are_the_norms_in_each_shifted_basis(p):
    W = rng(1).standard_normal((3, 2, p, 7))
    got = F.shifted_multiplicative_norms(W, p)
    assert got.shape == (3, 2, p, p - 1)
    for s in range(p):
        want = F.fourier_norms(W, F.multiplicative_basis(p, shift=s))
        np.testing.assert_allclose(got[..., s, :], want, rtol=1e-10, atol=1e-12)
    # a norm that is exactly zero comes back to √eps·‖W‖
    sparse = F.shifted_multiplicative_norms(shifted_characters(23, 4, [2]), 23)[4]
    assert np.sort(sparse)[:-2].max() < 1e-7 * np.linalg.norm(sparse)
    assert F.shifted_multiplicative_norms(W.astype(np.float32), p).dtype == np.float32
    with pytest.raises(GrokscanError):
        F.shifted_multiplicative_norms(rng(0).standard_normal((21, 3)), 21)
    with pytest.raises(GrokscanError):
        F.shifted_multiplicative_norms(W, p + 1)


# --- neuron-activation spectrum ----------------------------------------------------------------


def test_neuron_spectrum_dominant_frequency():
    k, p = 5, P
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    acts = np.stack(
        [
            np.cos(2 * np.pi * k * (a + b) / p),  # Nanda's picture: one frequency, fraction 1
            np.sin(2 * np.pi * 2 * b / p) + 1.5,  # depends on b only, plus a constant
            rng(4).standard_normal((p, p)),  # white noise
            np.full((p, p), 0.7),  # constant: nothing to explain
        ],
        axis=-1,
    )
    power = F.neuron_spectrum(np.stack([acts, acts]), F.additive_basis(p))  # checkpoint axis
    assert power.shape == (2, p, p, 4)
    parseval = (acts**2).sum(axis=(0, 1))
    np.testing.assert_allclose(power.sum(axis=(-3, -2)), [parseval, parseval], rtol=1e-10)
    # rows index the basis on a, columns on b: neuron 1 sits at (const, sin_2) only
    assert power[0, 0, 4, 1] == pytest.approx(p**2 / 2) and power[0, 4, 0, 1] < 1e-20
    freq, frac = F.neuron_key_frequencies(power)
    assert freq[0].tolist()[:2] == [k, 2] and freq[0, 3] == 0
    np.testing.assert_allclose(frac[0, :2], 1.0, atol=1e-12)
    assert frac[0, 2] < 0.1  # each frequency holds ~8/(p²-1) of white noise
    assert frac[0, 3] == 0.0
    assert F.fraction_well_explained(frac[0]).item() == 0.5
    fr = F.neuron_frequency_fractions(power)
    assert fr.shape == (2, p // 2, 4)
    assert np.all(fr.sum(axis=-2) <= 1 + 1e-12)


def test_neuron_spectrum_nyquist_frequency_even_p():
    p = 12
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    acts = ((-1.0) ** (a + b))[..., None]
    freq, frac = F.neuron_key_frequencies(F.neuron_spectrum(acts, F.additive_basis(p)))
    assert freq.tolist() == [6] and frac[0] == pytest.approx(1.0)


# --- restricted and excluded loss --------------------------------------------------------------


def full_loss(logits, labels, mask=None):
    nll = logsumexp(logits, axis=-1) - logits[..., np.arange(len(labels)), labels]
    return nll.mean(-1) if mask is None else nll[..., mask].mean(-1)


@pytest.fixture
def addition():
    p = 13
    phase, n = F.grid_phase(p)
    a, b = np.divmod(np.arange(p * p), p)
    return p, phase, n, (a + b) % p


def test_grid_phase_is_zero_at_the_label(addition):
    p, phase, n, labels = addition
    assert n == p and np.all(phase[np.arange(p * p), labels] == 0)
    ph, n = F.grid_phase(7, group="multiplicative", b_sign=-1)
    a, b = np.divmod(np.arange(49), 7)
    ok = (a > 0) & (b > 0)
    q = (a[ok] * np.array([pow(int(x), -1, 7) for x in b[ok]])) % 7  # a / b
    assert n == 6 and np.all(ph[np.flatnonzero(ok), q] == 0)
    assert np.all(ph[~ok] == -1) and np.all(ph[:, 0] == -1)


def test_phase_function_logits_are_kept_whole_by_all_frequencies(addition):
    p, phase, n, labels = addition
    f = rng(5).standard_normal(n) * 3  # an arbitrary function of a + b - c
    offset = rng(6).standard_normal((p * p, 1)) * 10  # per-sample constants
    logits = np.stack([f[phase] + offset, 0.5 * f[phase]])  # a checkpoint axis
    mask = rng(7).random(p * p) < 0.3
    everything = range(1, n // 2 + 1)
    for m in (None, mask):
        full = full_loss(logits, labels, m)
        kw = dict(phase=phase, n=n, mask=m)
        restricted = F.frequency_loss(logits, labels, freqs=everything, mode="restricted", **kw)
        excluded = F.frequency_loss(logits, labels, freqs=[], mode="excluded", **kw)
        assert restricted.shape == (2,)
        np.testing.assert_allclose(restricted, full, rtol=1e-10)
        np.testing.assert_allclose(excluded, full, rtol=1e-12)


def test_restricted_all_frequencies_is_the_phase_average(addition):
    # general logits: all frequencies keep exactly the phase-averaged centred logits
    p, phase, n, labels = addition
    X = rng(8).standard_normal((p * p, p))
    centred = X - X.mean(-1, keepdims=True)
    g = np.bincount(phase.ravel(), centred.ravel(), n) / np.bincount(phase.ravel(), None, n)
    expected = X.mean(-1, keepdims=True) + g[phase]
    got = F.frequency_logits(X, phase=phase, n=n, freqs=np.arange(1, 7), mode="restricted")
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_known_frequency_logits(addition):
    p, phase, n, labels = addition
    keys = [2, 5]
    logits = 4 * np.cos(2 * np.pi * 2 * phase / p) + 3 * np.cos(2 * np.pi * 5 * phase / p)
    full = full_loss(logits, labels)
    kw = dict(phase=phase, n=n, freqs=keys)
    assert F.frequency_loss(logits, labels, mode="restricted", **kw) == pytest.approx(full)
    assert F.frequency_loss(logits, labels, mode="excluded", **kw) == pytest.approx(np.log(p))
    # removing one key leaves the other: the loss sits between the two
    one = F.frequency_loss(logits, labels, phase=phase, n=n, freqs=[2], mode="excluded")
    assert full < one < np.log(p)


def test_multiplicative_restricted_and_excluded_loss():
    p = 11
    phase, n = F.grid_phase(p, group="multiplicative")
    a, b = np.divmod(np.arange(p * p), p)
    labels = (a * b) % p
    logits = np.where(phase >= 0, 5 * np.cos(2 * np.pi * 3 * phase / n), -20.0)
    mask = (a > 0) & (b > 0)
    full = full_loss(logits, labels, mask)
    kw = dict(phase=phase, n=n, freqs=[3], mask=mask)
    assert F.frequency_loss(logits, labels, mode="restricted", **kw) == pytest.approx(full)
    # without frequency 3 the ten non-zero classes are uniform; class 0 keeps its -20
    uniform = np.log(10 + np.exp(-20.0))
    assert F.frequency_loss(logits, labels, mode="excluded", **kw) == pytest.approx(uniform)


def test_frequency_loss_rejects_bad_input(addition):
    p, phase, n, labels = addition
    X = np.zeros((p * p, p))
    with pytest.raises(GrokscanError):
        F.frequency_loss(X, labels, phase=phase, n=n, freqs=[7], mode="restricted")
    with pytest.raises(GrokscanError):
        F.frequency_loss(X, labels, phase=phase, n=n, freqs=[1], mode="both")
    with pytest.raises(GrokscanError):
        F.frequency_loss(X[:, :-1], labels, phase=phase, n=n, freqs=[1], mode="excluded")
    with pytest.raises(GrokscanError):
        F.frequency_loss(X, labels, phase=phase, n=n, freqs=[1], mode="excluded",
                         mask=np.zeros(p * p, bool))
