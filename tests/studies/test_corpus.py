"""The onset corpus's tooling on a tiny corpus: a sweep folder of two real runs gathered into
the table, its signals checked against the run files and independent computations, the cache
reused, the table written small; and the transfer study on it."""

import os

import numpy as np
import pandas as pd
import pytest

import grokscan
from grokscan.studies import corpus
from grokscan.sweep import synthetic
from grokscan.sweep.paths import run_dir

SMALL = dict(p=41, frac=0.5, d_embed=32, width=128, steps=1000, every=20, lr=1e-2, seed=0)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep folder (points.json, summary.csv) whose two runs were trained for real: weight
    decay 1 and 0."""
    out = tmp_path_factory.mktemp("tiny") / "tune_tiny"
    synthetic.make(out, {"wd": [1.0, 0.0]}, 1, lambda p: "grokking")
    for wd in (1.0, 0.0):
        os.makedirs(run_dir(out, f"wd={wd:g}_seed=0"), exist_ok=True)
        path = os.path.join(run_dir(out, f"wd={wd:g}_seed=0"), "run.h5")
        grokscan.train(path, wd=wd, threads=1, **SMALL)
    return out


def test_the_table_of_a_tiny_corpus(sweep, tmp_path):
    table = corpus.gather([sweep], tmp_path / "cache")
    assert set(table["run"]) == {"wd=1_seed=0", "wd=0_seed=0"}
    assert {*corpus.RUN_COLUMNS, "step", *corpus.SIGNALS, "test_acc"} <= set(table.columns)
    for name, g in table.groupby("run"):
        with grokscan.open_run(os.path.join(run_dir(sweep, name), "run.h5")) as run:
            at = np.searchsorted(run.steps, g["step"].to_numpy())
            np.testing.assert_array_equal(g["test_acc"], run.scalars["test_acc"][at])
            np.testing.assert_array_equal(g["weight_norm"], run.scalars["weight_norm"][at])
        assert len(g) == 51 <= corpus.MAX_ROWS
    wd0 = table[table["run"] == "wd=0_seed=0"]
    assert (wd0["wn_rate"] == 0).all()  # no weight decay: no rate against lr·wd
    assert (wd0["family"] == "mlp").all() and (wd0["wd"] == 0).all()
    # P = 41 is prime: the best basis is the additive one (basis_shift NaN) or the
    # multiplicative one at a shift (each kind on constructed embeddings: test_basis.py)
    both = table[["entropy_add", "entropy_best"]].to_numpy()
    shift = table["basis_shift"].to_numpy()
    assert np.isnan(shift).any()
    np.testing.assert_array_equal(both[np.isnan(shift), 1], both[np.isnan(shift), 0])
    np.testing.assert_array_equal(table["basis_mul"], np.isfinite(shift))
    # addition: the embedding that generalised ends sparsest in the additive basis
    end = table.sort_values("step").groupby("run").tail(1).set_index("run")
    assert end.loc["wd=1_seed=0", "test_acc"] > 0.9
    assert np.isnan(end.loc["wd=1_seed=0", "basis_shift"])
    assert table["restricted_loss"].notna().any()  # add: a group phase


def test_the_cache_is_reused_and_the_table_written_small(sweep, tmp_path):
    cache = tmp_path / "cache"
    first = corpus.gather([sweep], cache)
    stamps = {f: os.path.getmtime(cache / f) for f in os.listdir(cache)}
    again = corpus.gather([sweep], cache)
    assert {f: os.path.getmtime(cache / f) for f in os.listdir(cache)} == stamps
    pd.testing.assert_frame_equal(first, again)
    small = first.copy()
    for k in (*corpus.SIGNALS, "test_acc"):
        small[k] = small[k].astype(np.float16)
    small.to_parquet(tmp_path / "t.parquet", index=False)
    back = pd.read_parquet(tmp_path / "t.parquet")
    np.testing.assert_allclose(back["test_acc"].astype(float), first["test_acc"], atol=1e-3)


def test_the_cache_is_remade_when_the_signals_change(tmp_path, monkeypatch):
    """A cached run is remade when its stamp (CACHE_VERSION and SIGNALS) is not the current
    one, or when it has none (a cache from before the stamp), and reused otherwise."""
    path = tmp_path / "run.h5"
    path.write_bytes(b"")
    reads = []

    def read_run(p, settings):
        reads.append(p)
        return corpus.RunTable(settings, np.arange(3), {"train_loss": np.full(3, len(reads))},
                               np.zeros(3), (-1, -1))

    monkeypatch.setattr(corpus, "read_run", read_run)
    row, cache = {"sweep": "s", "run": "r"}, str(tmp_path / "cache")

    def table():
        return corpus._cached(str(path), row, cache, {})

    first = table()
    assert len(reads) == 1 and "cache_stamp" not in first.columns
    pd.testing.assert_frame_equal(table(), first)
    assert len(reads) == 1  # reused
    monkeypatch.setattr(corpus, "SIGNALS", (*corpus.SIGNALS, "new_signal"))
    assert table()["train_loss"].tolist() == [2, 2, 2] and len(reads) == 2
    table()
    assert len(reads) == 2  # reused under the new stamp
    monkeypatch.setattr(corpus, "CACHE_VERSION", corpus.CACHE_VERSION + 1)
    table()
    assert len(reads) == 3
    npz = os.path.join(cache, "s__r.npz")
    with np.load(npz) as z:
        cols = {k: z[k] for k in z.files if k != "cache_stamp"}
    np.savez(npz, **cols)  # as written before the stamp
    table()
    assert len(reads) == 4


def test_the_transfer_study_on_the_tiny_corpus(sweep, tmp_path):
    """Candidates judged on the runs: a threshold at 5 % false alarms never flags the control,
    and a grokking run flagged before test accuracy 0.5 has a lead in (0, 1]."""
    from grokscan.studies import Runs, candidates, judge, threshold

    runs = Runs.of(corpus.gather([sweep], tmp_path / "cache"))
    classes = dict(zip(runs.meta["run"], runs.meta["class"]))
    assert classes["wd=1_seed=0"] == "grokking"
    keys = list(runs.meta["key"])
    for c in candidates(("gini_add", "entropy_best", "weight_norm")):
        res = judge(runs, keys, c, threshold(runs, keys, c))
        assert res["false_alarms"] in (0.0, float("nan")) or np.isnan(res["false_alarms"])
        assert 0 <= res["lead_median"] <= 1


def test_the_script_writes_the_table_small_with_its_provenance(sweep, tmp_path):
    """scripts/onset_corpus.py's ``write``: float16 signals, and beside the table the runs
    per sweep and what trained them, read from the run files."""
    import importlib.util
    import json

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(
        "onset_corpus", os.path.join(root, "scripts", "onset_corpus.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    table = corpus.gather([sweep], tmp_path / "cache")
    path = tmp_path / "corpus.parquet"
    script.write(table, str(path), 1.0, corpus.trained_with([sweep]))
    back = pd.read_parquet(path)
    assert back["gini_add"].dtype == np.float16 and len(back) == len(table)
    prov = json.loads((tmp_path / "corpus.json").read_text())
    assert prov["runs"] == 2 and prov["runs_per_sweep"] == {"tune_tiny": 2}
    assert prov["trained_with"] == {"tune_tiny": {
        f"grokscan {grokscan.__version__}, subnormals flushed": 2}}
