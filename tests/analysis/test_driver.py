import csv
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import fast_config

from grokscan.analysis import FAMILIES, Options, analyze
from grokscan.analysis.families import FamilySettings
from grokscan.errors import GrokscanError
from grokscan.store.reader import Run
from grokscan.summary import first_crossing
from grokscan.training import train


def test_metrics_file_and_csv(analysed):
    out, summary = analysed
    with h5py.File(out / "metrics.h5") as f:
        assert f.attrs["format"] == "grokscan-metrics" and f.attrs["format_version"] == 2
        n = len(f["steps"])
        assert n == 51 and summary["n_checkpoints"] == 51
        assert f["metrics/fourier/norms_embed"].shape == (n, 41)
        assert f["metrics/neurons/dominant_freq"].shape == (n, 128)
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert len(rows) == 51 and rows[1]["step"] == "30"
    assert {"test_acc", "fourier/ffd_embed", "freqloss/restricted_train",
            "neurons/well_explained", "norms/total"} <= set(rows[0])


def test_grokking_shows_in_the_fourier_measures(analysed):
    out, _ = analysed
    with h5py.File(out / "metrics.h5") as f:
        m = {k: f["metrics/fourier"][k][()] for k in f["metrics/fourier"]}
        steps, test_acc = f["steps"][()], f["scalars/test_acc"][()]
        restricted = f["metrics/freqloss/restricted_train"][()]
        well = f["metrics/neurons/well_explained"][()]
        total = f["metrics/norms/total"][()]
        weight_norm = f["scalars/weight_norm"][()]
    assert m["ffd_embed"][-1] < m["ffd_embed"][0] - 0.3  # the spectrum sparsifies
    assert m["gini_embed"][-1] > m["gini_embed"][0] + 0.2
    assert m["entropy_embed"][-1] < m["entropy_embed"][0]
    # five key frequencies of 20 carry most of the squared norm, up from a quarter at init
    assert m["key_fraction_embed"][-1] > 0.5 > 0.3 > m["key_fraction_embed"][0]
    assert well[-1] > 0.3 and well[0] == 0
    # the restricted loss falls below its initial value before test accuracy reaches 0.9
    t90 = first_crossing(steps, test_acc, 0.9)
    below = steps[np.argmax(restricted < 0.5 * restricted[0])]
    assert below < t90, (below, t90)
    np.testing.assert_allclose(total, weight_norm, rtol=1e-5)  # two computations agree


def fft_norms(W: np.ndarray) -> np.ndarray:
    """Norms of the Fourier components of per-residue vectors W (n, P, d), P odd, in the order
    constant, cos 1, sin 1, cos 2, ... from numpy's FFT: Σ_t W_t cos(2πkt/P) = Re F_k and
    Σ_t W_t sin(2πkt/P) = −Im F_k, scaled by the basis norms √(1/P) and √(2/P)."""
    n, p, _ = W.shape
    F = np.fft.fft(W.astype(np.float64), axis=1)
    out = [np.linalg.norm(F[:, 0].real, axis=-1) / np.sqrt(p)]
    for k in range(1, p // 2 + 1):
        out += [np.linalg.norm(F[:, k].real, axis=-1) * np.sqrt(2 / p),
                np.linalg.norm(F[:, k].imag, axis=-1) * np.sqrt(2 / p)]
    return np.stack(out, axis=1)


def test_subsets_jobs_and_families(fast_run, tmp_path):
    analyze(fast_run, tmp_path / "a", Options(families=("fourier", "norms"), every=10,
                                              steps=(100, 600), quiet=True, block=4))
    analyze(fast_run, tmp_path / "b", Options(families=("fourier", "norms"), every=10,
                                              steps=(100, 600), quiet=True, jobs=2, block=2))
    with h5py.File(tmp_path / "a/metrics.h5") as a, h5py.File(tmp_path / "b/metrics.h5") as b, \
            h5py.File(fast_run) as run:
        assert list(a["steps"]) == [100, 200, 300, 400, 500, 600]
        assert "neurons" not in a["metrics"]
        rows = np.searchsorted(run["steps"][()], a["steps"][()])
        W = run["params/embed.W_E"][rows][:, :41]  # the residues' rows of the embedding
        np.testing.assert_allclose(a["metrics/fourier/norms_embed"][()], fft_norms(W),
                                   rtol=1e-4, atol=1e-5)
        for k in a["metrics/fourier"]:
            # worker processes and block sizes move float32 rounding only
            np.testing.assert_allclose(a["metrics/fourier"][k], b["metrics/fourier"][k],
                                       rtol=1e-6)


def test_multiplication_uses_the_multiplicative_basis(tmp_path):
    cfg = fast_config(steps=20, every=10)
    cfg = type(cfg)(task=type(cfg.task)(ops=("mul",), p=23, frac=0.5), model=cfg.model,
                    train=cfg.train)
    train(cfg, tmp_path / "mul.h5", quiet=True)
    s = analyze(tmp_path / "mul.h5", tmp_path / "o", Options(quiet=True))
    assert s["basis"] == "multiplicative"
    with h5py.File(tmp_path / "o/metrics.h5") as f:
        assert f["metrics/fourier/norms_embed"].shape == (3, 22)
        assert "restricted_train" in f["metrics/freqloss"]


def test_bad_requests(fast_run, tmp_path):
    with pytest.raises(GrokscanError, match="unknown metric family 'fft'"):
        analyze(fast_run, tmp_path, Options(families=("fft",)))
    with pytest.raises(GrokscanError, match="no checkpoint in the selected steps"):
        analyze(fast_run, tmp_path, Options(steps=(5000, 6000)))
    with pytest.raises(GrokscanError, match=r"--dropout-rate: expected 0 <= rate < 1, got 1.5"):
        analyze(fast_run, tmp_path, Options(settings=FamilySettings(dropout_rate=1.5)))
    with pytest.raises(GrokscanError, match=r"--grad-samples: expected at least 2, got 1"):
        analyze(fast_run, tmp_path, Options(settings=FamilySettings(grad_samples=1)))
    with pytest.raises(GrokscanError, match="multiplicative needs a prime"):
        bad = tmp_path / "c.h5"
        cfg = fast_config(steps=2, every=1)
        cfg = type(cfg)(task=type(cfg.task)(ops=("add",), p=22, frac=0.5), model=cfg.model,
                        train=cfg.train)
        train(cfg, bad, quiet=True)
        analyze(bad, tmp_path / "o", Options(basis="multiplicative"))


def test_nan_weights_are_refused_with_the_step(fast_run, tmp_path):
    bad = tmp_path / "nan.h5"
    bad.write_bytes(fast_run.read_bytes())
    with h5py.File(bad, "r+") as f:
        w = f["params/hidden.0.W"]
        row = w[3]
        row[0, 0] = np.nan
        w[3] = row
    with pytest.raises(GrokscanError, match=r"hidden.0.W holds NaN or inf at step 30"):
        analyze(bad, tmp_path / "o", Options(families=("norms",), quiet=True))


def test_every_family_is_computed(analysed, fast_run):
    """Every family wrote one row per analysed checkpoint, finite where it ran; two of them
    checked against numbers computed here from the checkpoint file itself."""
    out, summary = analysed
    mlp = {"attention/maps": "the model is an MLP: it has no attention"}
    assert summary["families"] == [f for f in FAMILIES if f not in mlp]
    assert summary["left_out"] == mlp
    with h5py.File(out / "metrics.h5") as f, h5py.File(fast_run) as run:
        n = len(f["steps"])
        computed = np.isin(f["steps"][()], f["metrics/dropout/variance"].attrs["computed_steps"])
        for name, fam in FAMILIES.items():
            if fam.at_moments:  # one row per moment, in /moments (tests/analysis/test_moments.py)
                if name not in mlp:
                    group = f["moments"][name]
                    assert all(group[k].shape[0] == len(group.attrs["steps"])
                               for k in _dataset_paths(group)), name
                continue
            group = f["metrics"][name]
            datasets = [group[k] for k in _dataset_paths(group)]
            assert datasets, name
            for ds in datasets:
                assert ds.shape[0] == n, ds.name
                rows = ds[()][computed] if fam.expensive else ds[()]
                assert np.isfinite(rows.astype(float)).all(), ds.name
        rows = np.searchsorted(run["steps"][()], f["steps"][()])
        sq = sum((run[f"params/{k}"][rows].astype(np.float64) ** 2).reshape(n, -1).sum(1)
                 for k in run["params"])
        np.testing.assert_allclose(f["metrics/norms/total"][()], np.sqrt(sq), rtol=1e-5)
        W = run["params/embed.W_E"][rows][:, :41]
        np.testing.assert_allclose(f["metrics/fourier/norms_embed"][()], fft_norms(W),
                                   rtol=1e-4, atol=1e-5)


def _dataset_paths(group) -> list[str]:
    out = []
    group.visititems(lambda k, v: out.append(k) if isinstance(v, h5py.Dataset) else None)
    return out


TRAINER = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[2])
from conftest import fast_config
from grokscan.training import train
train(fast_config(steps=100_000, every=10), sys.argv[1], quiet=True)
"""


def test_a_file_that_training_is_still_writing(tmp_path):
    """SWMR: analysis covers the checkpoints present when it starts; training goes on."""
    path = tmp_path / "live.h5"
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, str(path),
                             str(Path(__file__).parents[1])])
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (path.exists() and _committed(path) >= 5):
            time.sleep(0.2)
        summary = analyze(path, tmp_path / "o", Options(families=("fourier", "norms"),
                                                        quiet=True))
        n = summary["n_checkpoints"]
        time.sleep(1.0)
        with Run(path) as run:
            assert n >= 5 and run.n > n  # training went on while and after it was read
            with h5py.File(tmp_path / "o/metrics.h5") as f:
                np.testing.assert_array_equal(f["steps"][()], run.steps[:n])
                np.testing.assert_allclose(f["metrics/norms/total"][()],
                                           run.scalars["weight_norm"][:n], rtol=1e-5)
    finally:
        proc.kill()
        proc.wait()


def _committed(path) -> int:
    try:
        with Run(path) as run:
            return run.n
    except GrokscanError:  # created but not yet in SWMR mode
        return 0


def test_progress_moves_with_each_replayed_checkpoint(fast_run, tmp_path, capsys):
    # 16 checkpoints in one block (the block holds 64): the log shows every one of them, in
    # order, not the block at once; stderr is not a terminal here, so one line per 5 % (= 1).
    analyze(fast_run, tmp_path, Options(families=("norms", "sparsity"), every=10))
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("analyze:")]
    with Run(fast_run) as run:
        n = len(run.steps[::10])
    assert [ln.split()[1] for ln in lines] == [f"{i}/{n}" for i in range(1, n + 1)]


def test_fixed_key_frequencies_and_nandas_measures(fast_run, tmp_path):
    analyze(fast_run, tmp_path, Options(families=("freqloss",), every=30, key_freqs=(7, 3)))
    with h5py.File(tmp_path / "metrics.h5") as f:
        g = f["metrics/freqloss"]
        names = set(g)
        final = {k: g[k][-1] for k in g}
    per_key = {f"{kind}_k{k}_{s}" for kind in ("excluded",) for k in (3, 7)
               for s in ("train", "test")}
    assert per_key | {"trig_k3", "trig_k7", "restricted_acc_train", "excluded_acc_test"} <= names
    assert not any("_k5_" in n for n in names)
    # at the end the network has grokked: removing both key frequencies costs more than either
    assert final["excluded_train"] >= max(final["excluded_k3_train"], final["excluded_k7_train"])
    assert 0 <= final["restricted_acc_test"] <= 1
    with pytest.raises(GrokscanError, match=r"--key-freqs: expected frequencies in 1\.\.20"):
        analyze(fast_run, tmp_path / "bad", Options(families=("freqloss",), key_freqs=(21,)))
