"""Factors of P read off constructed last-layer weights with known frequencies (factor.py)."""

import json
from math import gcd

import numpy as np
import pytest

from grokscan.errors import GrokscanError
from grokscan.factor.read import _factorise, read_factors
from grokscan.figures.factor import factor_evidence as plot_evidence


def weights(P, freqs, *, h=64, noise=0.02, seed=0, amps=None):
    """W (P, h): W[q] = c + Σ_k A_k (cos(θ) u_k + sin(θ) v_k) + noise, θ = 2πkq/P + φ_k.

    u_k, v_k have entries N(0, 1/h) (norm ≈ 1), φ_k is a random phase, c a constant row that
    centring removes; ``noise`` is the standard deviation of the Gaussian added to every entry.
    """
    rng = np.random.default_rng(seed)
    q = np.arange(P)
    W = 0.3 * rng.standard_normal(h)[None, :] * np.ones((P, 1))
    for k, A in zip(freqs, amps or [1.0] * len(freqs)):
        u, v = rng.standard_normal((2, h)) / np.sqrt(h)
        theta = 2 * np.pi * k * q / P + rng.uniform(0, 2 * np.pi)
        W = W + A * (np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v)
    return W + noise * rng.standard_normal((P, h))


def classes(P, m):
    """The residue classes mod m of 0..P-1, as read_factors lists clusters."""
    return tuple(tuple(range(i, P, m)) for i in range(m))


def plane(report, k):
    return next(e for e in report.evidence if e.projection == f"freq {k} plane")


@pytest.mark.parametrize("k", [2, 4, 5, 10])
def test_one_frequency_sharing_a_factor_with_20(k):
    r = read_factors(weights(20, [k]))
    d = gcd(k, 20)
    m = 20 // d  # k = 2: 10 clusters of 2; 4: 5 of 4; 5: 4 of 5; 10: 2 of 10
    for e in (plane(r, k), next(e for e in r.evidence if e.projection == "PC0-PC1")):
        assert (e.n_clusters, e.cluster_size) == (m, d)
        assert e.residues == classes(20, m)
    assert r.found and r.complete
    assert r.factors == {2: 2, 5: 1} and r.unresolved == {}
    assert r.divisors == tuple(sorted({m, d}))


# Noise sweep behind MAX_QUALITY (factor.py), k = 2, 4, 5, 10 together, 40 seeds per level: all
# four planes read exactly in 40/40 up to σ = 0.07; 37/40 at 0.08, 29/40 at 0.10, 16/40 at
# 0.12, 5/40 at 0.15, while the factorisation 2^2 · 5 stays complete in 40/40 through 0.15 and
# no cluster was ever given a wrong member. σ is per entry of W against unit-norm frequency
# vectors, about the angular noise in radians; 10 clusters of 2 sit 0.63 rad apart.
@pytest.mark.parametrize("noise, seed", [(0.0, 0), (0.02, 1), (0.07, 2), (0.07, 3)])
def test_all_four_factor_frequencies_of_20_together(noise, seed):
    freqs = [2, 4, 5, 10]
    r = read_factors(weights(20, freqs, noise=noise, seed=seed))
    for k in freqs:
        assert plane(r, k).residues == classes(20, 20 // gcd(k, 20))
    assert {e.projection for e in r.evidence} >= {f"freq {k} plane" for k in freqs}
    assert r.divisors == (2, 4, 5, 10)
    assert r.factors == {2: 2, 5: 1} and r.complete


@pytest.mark.parametrize("freqs, amps", [([4, 5], None), ([4, 5], [1.0, 0.5]),
                                         ([2, 5], [0.5, 1.0]), ([10, 3], None),
                                         ([4, 3, 7], [1.0, 0.7, 0.7])])
def test_factor_frequencies_beside_others(freqs, amps):
    r = read_factors(weights(20, freqs, amps=amps))
    for k in freqs:
        if gcd(k, 20) > 1:
            assert plane(r, k).residues == classes(20, 20 // gcd(k, 20))
        else:  # a circle of 20 points is not clusters
            assert all(e.projection != f"freq {k} plane" for e in r.evidence)
    assert r.factors == {2: 2, 5: 1} and r.complete


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pc_pairs_show_the_papers_picture_when_amplitudes_differ(seed):
    # The stronger k = 4 takes PC0-PC1 (5 clusters of 4), k = 5 takes PC2-PC3 (4 clusters of 5).
    r = read_factors(weights(20, [4, 5], amps=[2.0, 1.0], seed=seed))
    pcs = {e.projection: e.residues for e in r.evidence if e.projection.startswith("PC")}
    assert pcs == {"PC0-PC1": classes(20, 5), "PC2-PC3": classes(20, 4)}


def test_a_frequency_at_the_noise_floor_is_not_read():
    # k = 4 at amplitude 0.5 under σ = 0.1, h = 256 stands only 1.9 times above the noise
    # floor, so its plane is not read (projected on span{C_4, S_4} directly, without leaving
    # each row out, it would show 5 tight clusters in every seed).
    for seed in range(3):
        r = read_factors(weights(20, [4], amps=[0.5], noise=0.1, h=256, seed=seed))
        assert not r.found
        assert all(e.projection.startswith("PC") for e in r.rejected)


@pytest.mark.parametrize("freqs, planes", [([2, 4, 5], {2: 6, 4: 3}), ([3, 6, 1], {3: 4})])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_half_of_a_small_spectrum_strong(freqs, planes, seed):
    # P = 12 has 6 frequencies; with 3 of them strong the median of all would sit between weak
    # and strong ones and no plane would pass NOISE_RATIO (0 of 10 seeds read anything so).
    # k = 6 (2 clusters of 6) is too likely by chance to count, condition (d).
    r = read_factors(weights(12, freqs, seed=seed))
    for k, m in planes.items():
        assert plane(r, k).residues == classes(12, m)
    assert r.factors == {2: 2, 3: 1} and r.complete


def test_21_is_3_times_7():
    r = read_factors(weights(21, [3, 7]))
    assert plane(r, 3).residues == classes(21, 7)  # gcd 3: 7 clusters of 3
    assert plane(r, 7).residues == classes(21, 3)  # gcd 7: 3 clusters of 7
    assert r.factors == {3: 1, 7: 1} and r.complete and r.divisors == (3, 7)


def test_prime_power_and_partial_factorisations():
    r = read_factors(weights(27, [9]))  # 3 clusters of 9: 3 | 27 and 9 | 27
    assert r.factors == {3: 3} and r.complete
    r = read_factors(weights(30, [6]))  # 5 clusters of 6: 30 = 5 · 6, 6 not split
    assert r.found and not r.complete
    assert r.factors == {5: 1} and r.unresolved == {6: 1}
    r = read_factors(weights(30, [6, 15]))  # adds 15 clusters of 2: 30 = 2 · 3 · 5
    assert r.factors == {2: 1, 3: 1, 5: 1} and r.complete


@pytest.mark.parametrize("P, freqs", [(20, [3]), (20, [1, 3, 7]), (21, [1, 2, 4]), (35, [1, 3]),
                                      (23, [2, 5, 7]), (23, [4]), (29, [3, 5]), (29, [1])])
@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_nothing_from_coprime_frequencies_or_prime_P(P, freqs, noise):
    r = read_factors(weights(P, freqs, noise=noise))
    assert not r.found and not r.complete
    assert r.evidence == () and r.factors == {} and r.divisors == ()
    assert r.rejected  # the projections were read, and each says why it was refused
    assert all(e.reason for e in r.rejected)


@pytest.mark.parametrize("P", [20, 21, 35])
@pytest.mark.parametrize("h", [16, 64, 256])
def test_nothing_from_random_weights(P, h):
    for seed in range(4):
        W = np.random.default_rng(seed).standard_normal((P, h))
        assert not read_factors(W).found, f"P = {P}, h = {h}, seed {seed}"


def test_nothing_from_zero_weights_or_tiny_P():
    assert not read_factors(np.zeros((20, 64))).found
    assert not read_factors(np.ones((20, 64))).found
    assert not read_factors(np.random.default_rng(0).standard_normal((3, 8))).found


def test_too_few_rows_to_tell_a_pattern_from_chance():
    # P = 8, k = 2: 4 clean clusters of 2, but random labels make 4 residue classes with
    # probability 4!·(2!)^4/8! ≈ 0.01, so it is not evidence; P = 12, k = 4 is (1.7e-4).
    r = read_factors(weights(8, [2], noise=0.0))
    assert not r.found
    assert any("chance" in e.reason for e in r.rejected)
    r = read_factors(weights(12, [4], noise=0.0))
    assert plane(r, 4).residues == classes(12, 3) and r.factors == {2: 2, 3: 1}


@pytest.mark.parametrize("P, divisors, factors, unresolved", [
    (20, [2, 10], {2: 2, 5: 1}, {}),
    (20, [4, 5], {2: 2, 5: 1}, {}),
    (20, [2, 4, 5, 10], {2: 2, 5: 1}, {}),
    (30, [5, 6], {5: 1}, {6: 1}),
    (36, [12, 3], {2: 2, 3: 2}, {}),
    (36, [6], {}, {6: 2}),
    (27, [3, 9], {3: 3}, {}),
    (20, [], {}, {}),
])
def test_gcd_refinement_of_divisors(P, divisors, factors, unresolved):
    assert _factorise(P, divisors) == (factors, unresolved)


def test_p_inferred_or_checked_and_dtype_free():
    W = weights(20, [4, 5])
    r = read_factors(W)
    assert r.p == 20
    assert read_factors(W, p=20) == r
    assert read_factors(W.astype(np.float32)).factors == r.factors


def test_report_is_deterministic_and_json():
    W = weights(20, [4, 10])
    r = read_factors(W)
    assert read_factors(W) == r
    d = json.loads(json.dumps(r.to_json(), allow_nan=False))
    assert d["factors"] == {"2": 2, "5": 1} and d["complete"] is True
    assert {e["projection"] for e in d["evidence"]} >= {"freq 4 plane", "freq 10 plane"}
    ev = next(e for e in d["evidence"] if e["projection"] == "freq 4 plane")
    assert ev["residues"] == [list(c) for c in classes(20, 5)] and ev["cluster_size"] == 4
    json.dumps(read_factors(weights(23, [3])).to_json(), allow_nan=False)


@pytest.mark.parametrize("W, p, match", [
    (np.zeros(20), None, "2-D"),
    (np.zeros((20, 8, 2)), None, "2-D"),
    (np.zeros((20, 8)), 21, "expected 21 rows"),
    (np.zeros((8, 20)), 20, "transposed"),
    (np.zeros((1, 8)), None, "at least 2 rows"),
    (np.array([["a", "b"], ["c", "d"]]), None, "numeric"),
])
def test_bad_input(W, p, match):
    with pytest.raises(GrokscanError, match=match):
        read_factors(W, p=p)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_located(bad):
    W = weights(20, [4])
    W[3, 7] = bad
    with pytest.raises(GrokscanError, match=r"finite.*\(3, 7\)"):
        read_factors(W)


def test_plot_evidence_draws_a_panel_per_projection():
    from matplotlib.figure import Figure

    r = read_factors(weights(20, [4, 5]))
    fig = plot_evidence(r)
    assert isinstance(fig, Figure)
    assert sum(ax.axison for ax in fig.axes) == len(r.evidence)
    fig = plot_evidence(r, rejected=True)
    assert sum(ax.axison for ax in fig.axes) == len(r.evidence) + len(r.rejected)
    assert isinstance(plot_evidence(read_factors(weights(23, [3]))), Figure)


def test_summary_line():
    assert read_factors(weights(20, [4, 5])).summary() == "P = 20 = 2^2 · 5"
    assert read_factors(weights(30, [6])).summary() == "P = 30 = 5 · (6) (partial)"
    assert read_factors(weights(23, [3])).summary() == "P = 23: no factors read"
