"""The map families (neurons/maps, attention/maps) of ``grokscan analyze``: on constructed
models whose neurons and attention are known in closed form or by an independent forward pass,
the neurons chosen per key frequency, the moments, and the families left out where they cannot
run."""

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from maps_runs import NEURONS, P, expected_neuron, mlp_run, reference_transformer, transformer_run

from grokscan.analysis import Options, analyze
from grokscan.analysis.families.moments import select_neurons
from grokscan.cli import main
from grokscan.metrics import fourier as fm
from grokscan.store.reader import Run

MAPS = ("neurons/maps", "attention/maps")


def fft_share(grid: np.ndarray, k: int) -> float:
    """The share of a (P, P) grid's non-constant power on frequency k's 2-D components (k or 0
    on each axis, not both 0), from numpy's complex FFT: an independent reference."""
    power = np.abs(np.fft.fft2(grid)) ** 2
    n = len(grid)
    rows = {0, k % n, (-k) % n}
    total = power.sum() - power[0, 0]
    kept = sum(power[u, v] for u in rows for v in rows) - power[0, 0]
    return float(kept / total)


def test_the_shares_of_constructed_grids():
    a, b = np.meshgrid(np.arange(P), np.arange(P), indexing="ij")
    w = 2 * np.pi / P
    basis = fm.additive_basis(P)
    pure = np.cos(w * 3 * (a + b))  # Nanda's neuron of frequency 3: cos(w_3(a + b))
    mixed = pure + np.cos(w * 5 * a)  # half its variance at frequency 5
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((P, P))
    grids = np.stack([pure, mixed, noise], -1)
    frac = fm.neuron_frequency_fractions(fm.neuron_spectrum(grids, basis))
    np.testing.assert_allclose(frac[2, :2], [1.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(frac[2, 2], fft_share(noise, 3), rtol=1e-10)
    phase, n = fm.sample_phase(P)
    assert fm.phase_share(pure.ravel(), phase=phase, n=n, k=3) == pytest.approx(1.0)
    assert fm.phase_share(mixed.ravel(), phase=phase, n=n, k=3) == pytest.approx(0.5)
    # cos(w_3 a) + cos(w_3 b): all of it at frequency 3, none of it a function of a + b
    sep = (np.cos(w * 3 * a) + np.cos(w * 3 * b)).ravel()
    assert fm.phase_share(sep, phase=phase, n=n, k=3) == pytest.approx(0.0, abs=1e-12)
    assert fm.phase_share(np.ones(P * P), phase=phase, n=n, k=3) == 0.0


def test_the_neurons_chosen_per_key_frequency():
    freq = np.array([2, 2, 2, 3, 3, 5, 0, 7, 7, 7])
    frac = np.array([0.9, 0.5, 0.95, 0.6, 0.6, 0.99, 0.0, 0.8, 0.7, 0.1])
    idx, ks = select_neurons(freq, frac, [2, 3, 4])  # 4: no neuron has it
    assert idx.tolist() == [2, 0, 3, 4] and ks.tolist() == [2, 2, 3, 3]  # ties: lower index
    idx, ks = select_neurons(freq, frac, [2, 3, 5, 7], max_freqs=2)  # those of most neurons
    assert ks.tolist() == [2, 2, 7, 7] and idx.tolist() == [2, 0, 7, 8]
    idx, ks = select_neurons(freq, frac, [])  # no key frequencies: the neurons' own
    assert ks.tolist() == [2, 2, 3, 3, 5, 7, 7]
    idx, ks = select_neurons(freq, frac, [4, 8])  # none dominates a neuron: the same
    assert ks.tolist() == [2, 2, 3, 3, 5, 7, 7]


@pytest.fixture(scope="module")
def mlp_maps(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlp_maps")
    path = mlp_run(tmp / "mlp.h5")
    summary = analyze(path, tmp / "out", Options(families=MAPS, key_freqs=(2, 3), quiet=True))
    return tmp / "out", summary


def test_the_recorded_neurons_are_the_constructed_ones(mlp_maps):
    out, summary = mlp_maps
    assert summary["left_out"] == {"attention/maps": "the model is an MLP: it has no attention"}
    with h5py.File(out / "metrics.h5") as f:
        g = f["moments/neurons/maps"]
        assert "moments/attention" not in f and "metrics/neurons/maps" not in f
        assert list(g.attrs["steps"]) == [10, 20]  # memorisation: train accuracy 1 first
        assert g.attrs["moments"] == '["memorisation", "end"]'
        # k = 2: neurons 0 (ε 0) and 1 (ε 0.5) before 2 (ε 0.7); k = 3: 4 (ε 0) before 3
        assert g["neuron"][()].tolist() == [[0, 1, 4, 3]] * 2
        assert g["freq"][()].tolist() == [[2, 2, 3, 3]] * 2
        acts = g["acts"][()]
        assert acts.shape == (2, 4, P, P) and acts.dtype == np.float32
        for r, j in enumerate([0, 1, 4, 3]):
            for m, scale in enumerate((0.5, 1.0)):  # the weights were halved at memorisation
                np.testing.assert_allclose(acts[m, r], expected_neuron(j, scale), atol=1e-5)
        share = [1 / (1 + NEURONS[j][1] ** 2) for j in (0, 1, 4, 3)]
        np.testing.assert_allclose(g["share"][()], [share, share], atol=1e-6)
        np.testing.assert_allclose(g["phase_share"][()], 0, atol=1e-6)  # no a + b in them
        assert g["dominant"][()].tolist() == [[2, 2, 3, 3]] * 2


def test_the_attention_and_neurons_of_a_transformer(tmp_path):
    path = transformer_run(tmp_path / "tr.h5")
    summary = analyze(path, tmp_path / "out", Options(families=MAPS, quiet=True))
    assert summary["left_out"] == {}
    with h5py.File(tmp_path / "out/metrics.h5") as f, Run(path) as run:
        g, n = f["moments/attention/maps"], f["moments/neurons/maps"]
        assert list(g.attrs["steps"]) == [10, 20]
        tokens = np.stack(np.divmod(np.arange(P * P), P) + (np.full(P * P, P + 1),), 1)
        assert run.task.residues.grid_inputs("add", "transformer").tolist() == tokens.tolist()
        for m, i in enumerate((1, 2)):
            pattern, neurons = reference_transformer(
                {k: run.param(k, [i])[0] for k in run.param_names}, tokens)
            for name, pos in (("to_a", 0), ("to_b", 1), ("to_self", 2)):
                want = np.moveaxis(pattern[:, :, pos].reshape(P, P, -1), -1, 0)
                np.testing.assert_allclose(g[name][m], want, atol=1e-5)
            chosen = n["neuron"][m]
            want = np.moveaxis(neurons[:, chosen].reshape(P, P, -1), -1, 0)
            np.testing.assert_allclose(n["acts"][m], want, rtol=1e-4, atol=1e-5)
        # W_Q = 0 at memorisation: every key scores 0, so each gets exactly a third
        np.testing.assert_allclose(g["to_a"][0], 1 / 3, atol=1e-6)
        np.testing.assert_allclose(g["to_b"][0] + g["to_self"][0], 2 / 3, atol=1e-6)
        assert np.isfinite(g["explained"][()]).all() and g["dominant"].shape == (2, 2)


def test_without_memorisation_only_the_end_is_recorded(tmp_path):
    path = mlp_run(tmp_path / "mlp.h5")
    analyze(path, tmp_path / "out", Options(families=("neurons/maps",), steps=(0, 5),
                                            quiet=True))
    with h5py.File(tmp_path / "out/metrics.h5") as f:
        g = f["moments/neurons/maps"]
        assert list(g.attrs["steps"]) == [0] and g["acts"].shape[0] == 1


def test_attention_on_an_mlp_is_left_out_in_one_line(tmp_path):
    path = mlp_run(tmp_path / "mlp.h5")
    r = CliRunner().invoke(main, ["analyze", str(path), "-o", str(tmp_path / "o"),
                                  "--families", "neurons/maps,attention/maps", "--no-report"])
    assert r.exit_code == 0, r.output
    assert "attention/maps: the model is an MLP: it has no attention" in r.output
    r = CliRunner().invoke(main, ["analyze", str(path), "-o", str(tmp_path / "o2"),
                                  "--families", "attention/maps"])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert "attention/maps: the model is an MLP: it has no attention" in r.output


def test_the_moments_are_named_for_what_they_are_under_steps(fast_run):
    """Memorisation is the run's own (train accuracy ≥ 0.99 first, over the whole run); a
    range that starts after it or stops before the end names its ends as such."""
    from grokscan.analysis.setup import moment_checkpoints
    from grokscan.store.reader import Run

    with Run(fast_run) as run:
        steps, acc = run.steps, run.scalars["train_acc"]
        mem = int(np.flatnonzero(acc >= 0.99)[0])
        at = {int(s): i for i, s in enumerate(steps)}
        assert moment_checkpoints(run, (None, None)) == {"memorisation": mem,
                                                         "end": len(steps) - 1}
        assert moment_checkpoints(run, (int(steps[mem]) + 50, 400)) == {
            "first analysed": at[int(steps[mem]) + 50], "last analysed": at[400]}
        assert moment_checkpoints(run, (0, int(steps[mem]))) == {"last analysed": mem}
