"""The k-sparse parity task: its data against a parity computed here, its file round trip and
checks, and a run trained, analysed and reported through the task protocol alone."""

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from grokscan.cli import main
from grokscan.errors import FileFormatError, GrokscanError
from grokscan.store.reader import Run
from grokscan.tasks.parity import ParityConfig, make

SMALL = ["--task", "parity", "--n-bits", "12", "--k", "2", "--n-train", "200",
         "--n-test", "100", "--width", "32", "--steps", "40", "--every", "10", "-q"]


def parity_by_hand(x: np.ndarray, relevant) -> list[int]:
    """1 when the product of the relevant ±1 bits is −1, one example at a time."""
    out = []
    for row in x:
        prod = 1
        for i in relevant:
            prod *= int(row[i])
        out.append(1 if prod == -1 else 0)
    return out


def test_labels_are_the_parity_of_the_relevant_bits():
    d = make(ParityConfig(n_bits=16, k=3, n_train=300, n_test=200), seed=5)
    assert d.x.shape == (500, 16) and set(np.unique(d.x)) == {-1, 1}
    assert len(d.relevant) == 3 and len(set(d.relevant.tolist())) == 3
    assert d.y.tolist() == parity_by_hand(d.x, d.relevant)
    assert d.train.sum() == 300 and (~d.train).sum() == 200
    assert len(np.unique(d.x, axis=0)) == 500  # no test input is a training input
    assert 0.4 < d.y.mean() < 0.6  # parity is balanced on uniform inputs


def test_the_seed_draws_the_bits_and_the_examples():
    cfg = ParityConfig(n_bits=20, k=2, n_train=50, n_test=50)
    a, b, c = make(cfg, 0), make(cfg, 0), make(cfg, 1)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.relevant, b.relevant)
    assert not np.array_equal(a.x, c.x)


def test_the_split_is_float_inputs_for_an_mlp():
    d = make(ParityConfig(n_bits=10, k=2, n_train=40, n_test=20), 0)
    s = d.split("mlp")
    assert s.x_train.dtype == np.float32 and s.x_train.shape == (40, 10)
    assert s.n_vocab == 0 and s.n_classes == 2 and s.d_in == 10
    np.testing.assert_array_equal(s.y_test, d.y[~d.train])
    with pytest.raises(GrokscanError, match="use --model mlp"):
        d.split("transformer")


@pytest.mark.parametrize("kw, match", [
    (dict(n_bits=4, k=5), "at most --n-bits"),
    (dict(n_bits=4, k=2, n_train=10, n_test=10), "more than the 2\\^4 distinct inputs"),
])
def test_impossible_tasks_are_refused(kw, match):
    with pytest.raises(GrokscanError, match=match):
        make(ParityConfig(**kw), 0)


def test_trained_analysed_and_reported_through_the_protocol(tmp_path):
    run = tmp_path / "parity.h5"
    r = CliRunner().invoke(main, ["train", "-o", str(run), *SMALL])
    assert r.exit_code == 0, r.output
    with Run(run) as f:
        task = f.task
        assert task.kind == "parity" and f.config.task.n_bits == 12
        assert task.y.tolist() == parity_by_hand(task.x, task.relevant)
        assert f.config.model.d_in == 12 and f.config.model.n_classes == 2
    info = CliRunner().invoke(main, ["info", str(run)])
    assert info.exit_code == 0 and "2-sparse parity of 12 bits" in info.output
    assert "forecast: not applicable (the parity task has no residues mod P" in info.output
    assert "in-loop model" not in info.output  # said once, not as each detector's "no flag"
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["analyze", str(run), "-o", str(out), "--subset", "2", "-q"])
    assert r.exit_code == 0, r.output
    assert "left out fourier: the parity task has no residues mod P" in r.output
    page = (out / "report.html").read_text()
    assert "2-sparse parity of 12 bits" in page and 'id="activation_pca"' in page
    assert "coloured by parity" in page


def test_a_damaged_parity_file_is_refused(tmp_path):
    run = tmp_path / "p.h5"
    assert CliRunner().invoke(main, ["train", "-o", str(run), *SMALL]).exit_code == 0
    with h5py.File(run, "r+") as f:
        y = f["task/y"][()]
        y[0] = 1 - y[0]
        f["task/y"][...] = y
    with Run(run) as f, pytest.raises(FileFormatError, match="not the parity of the relevant"):
        _ = f.task
    r = CliRunner().invoke(main, ["info", str(run)])
    assert r.exit_code == 1 and "not the parity of the relevant bits" in r.output
