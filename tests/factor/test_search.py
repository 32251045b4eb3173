"""`grokscan factor`: factors read off trained networks, nothing off untrained ones, bad input."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from grokscan.cli import main
from grokscan.factor import NOT_FOUND

# The paper's network (factor_cli.Recipe) for `grokscan train`, so that a file made by hand is
# the one `grokscan factor --p` would train.
PAPER_NET = ["--input", "onehot", "--depth", "2", "--width", "256", "--activation", "quad",
             "--act-a", "0.1", "--frac", "0.8", "--wd", "2", "-q"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *needles):
    assert result.exit_code not in (0, NOT_FOUND), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [ln for ln in result.output.strip().splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for n in needles:
        assert n in lines[0], (n, lines[0])


def residue_classes(evidence, p):
    """Check one evidence item against arithmetic: m | P, m clusters of P/m residues that are
    exactly the classes mod m, together all of 0..P-1."""
    m = evidence["n_clusters"]
    assert p % m == 0 and evidence["cluster_size"] == p // m
    clusters = evidence["residues"]
    assert len(clusters) == m and all(len(c) == p // m for c in clusters)
    assert sorted(q for c in clusters for q in c) == list(range(p))
    assert all(len({q % m for q in c}) == 1 for c in clusters)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`grokscan factor --p 20`: 20 = 2^2 · 5, the paper's example; about 100-200 steps a seed
    (1-3 s) until the last layer shows it (bench_factor.py: 3 of 3 seeds)."""
    out = tmp_path_factory.mktemp("factor")
    r = run("factor", "--p", 20, "--seeds", 2, "--max-steps", 400, "-o", out, "--json")
    return out, r


def test_training_reads_the_factors_of_20_off_the_weights(trained):
    out, r = trained
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["p"] == 20 and d["found"] and d["complete"]
    assert d["factors"] == {"2": 2, "5": 1} and d["unresolved"] == {}
    assert d["evidence"]
    for e in d["evidence"]:
        assert e["accepted"] and e["quality"] < 1
        residue_classes(e, 20)
    for run_ in d["runs"]:
        assert run_["path"].startswith(str(out))
        assert run_["steps"] <= 400 and run_["stopped"]
    assert d["runs"][-1]["complete"]  # it stopped trying seeds once the factorisation was whole


def test_the_kept_run_file_gives_the_same_reading(trained):
    out, r = trained
    d = json.loads(r.stdout)
    last = d["runs"][-1]
    r2 = run("factor", last["path"], "--step", last["step"], "--json")
    assert r2.exit_code == 0, r2.output
    e = json.loads(r2.stdout)
    # read from the file, the weights recorded at that step show what the search read off
    # the model in training, and each pattern is residue classes by arithmetic
    assert e["step"] == last["step"] and e["factors"] == last["factors"]
    assert [x["residues"] for x in e["evidence"]] == [x["residues"] for x in last["evidence"]]
    for x in e["evidence"]:
        residue_classes(x, 20)
    text = run("factor", last["path"], "--step", last["step"])
    assert text.exit_code == 0
    assert "P = 20 = 2^2 · 5" in text.output and "residue classes mod" in text.output


def test_plot_writes_a_png(trained, tmp_path):
    import matplotlib.image

    out, r = trained
    path = json.loads(r.stdout)["runs"][-1]["path"]
    png = tmp_path / "f.png"
    r = run("factor", path, "--plot", png)
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[1] >= 1000 and img.shape[0] > 300  # readable


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """The paper's network for P = 20 after 0 and 1 optimizer steps."""
    path = tmp_path_factory.mktemp("untrained") / "r.h5"
    r = run("train", "-o", path, "--p", 20, "--steps", 1, "--every", 1, *PAPER_NET)
    assert r.exit_code == 0, r.output
    return path


@pytest.mark.parametrize("step", [None, 0])
def test_untrained_network_shows_no_factorisation(untrained, step, tmp_path):
    extra = [] if step is None else ["--step", step]
    r = run("factor", untrained, *extra, "--json")
    assert r.exit_code == NOT_FOUND, r.output
    d = json.loads(r.stdout)
    assert d["p"] == 20 and d["step"] == (1 if step is None else 0)
    assert not d["found"] and d["factors"] == {} and d["evidence"] == []
    assert d["rejected"] and all(e["reason"] for e in d["rejected"])
    r = run("factor", untrained, *extra, "--plot", tmp_path / "none.png")
    assert r.exit_code == NOT_FOUND
    assert "no factorisation" in r.output
    assert (tmp_path / "none.png").read_bytes()[:4] == b"\x89PNG"


def test_prime_p_gives_no_factor_and_the_distinct_status():
    r = run("factor", "--p", 13, "--seeds", 1, "--max-steps", 200, "--json")
    assert r.exit_code == NOT_FOUND, r.output
    d = json.loads(r.stdout)
    assert d["p"] == 13 and not d["found"] and d["factors"] == {} and d["evidence"] == []
    assert len(d["runs"]) == 1 and d["runs"][0]["path"] is None  # trained in a temporary folder
    r = run("factor", "--p", 13, "--seeds", 1, "--max-steps", 20, "-q")
    assert r.exit_code == NOT_FOUND and "P = 13 is prime: it has no factor to find" in r.output
    assert "no factorisation" not in r.output


def test_transformer_last_layer_is_its_neuron_logit_map(tmp_path):
    import h5py

    from grokscan.factor.read import last_layer_rows
    from grokscan.store.reader import Run

    path = tmp_path / "tf.h5"
    r = run("train", "-o", path, "--model", "transformer", "--p", 20, "--d-embed", 16,
            "--width", 32, "--n-heads", 2, "--steps", 1, "--every", 1, "-q")
    assert r.exit_code == 0, r.output
    with h5py.File(path, "r") as f:  # W_L = W_out · W_U, one row per class (store/SCHEMA.md)
        want = (f["params/blocks.0.mlp.W_out"][-1].astype(np.float64)
                @ f["params/unembed.W_U"][-1])[:, :20].T
    with Run(path) as run_:
        got = last_layer_rows(run_, run_.n - 1)
    assert got.shape == (20, 32)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    r = run("factor", path)
    assert r.exit_code == NOT_FOUND and "no factorisation" in r.output


def _recorder_file(path, task, model=None):
    from grokscan import Recorder

    model = model or torch.nn.Linear(4, 3)
    with Recorder(path, model, task=task, grads=False) as rec:
        rec.record(0, test_acc=0.0)
    return path


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    from grokscan.tasks.modular import ModularConfig, make_data

    d = tmp_path_factory.mktemp("foreign")
    (d / "text.h5").write_text("not hdf5\n")
    _recorder_file(d / "custom.h5", {"x": np.zeros((4, 2)), "y": np.zeros(4)})
    # a modular task, but a model that names no last layer
    _recorder_file(d / "nolast.h5", make_data(ModularConfig(p=5, frac=0.5), 0))
    r = run("train", "-o", d / "mul.h5", "--op", "mul", "--p", 7, "--frac", 0.5, "--d-embed", 4,
            "--width", 8, "--steps", 1, "--every", 1, "-q")
    assert r.exit_code == 0, r.output
    r = run("train", "-o", d / "ok.h5", "--p", 6, "--frac", 0.5, "--d-embed", 4, "--width", 8,
            "--steps", 2, "--every", 1, "-q")
    assert r.exit_code == 0, r.output
    return d


@pytest.mark.parametrize("args, needles", [
    (["{d}/missing.h5"], ["missing.h5", "no such file"]),
    (["{d}/text.h5"], ["not an HDF5 file"]),
    (["{d}/custom.h5"], ["'custom'", "not modular arithmetic"]),
    (["{d}/nolast.h5"], ["no recorded last layer"]),
    (["{d}/mul.h5"], ["'mul'", "not a linear form"]),
    (["{d}/ok.h5", "--step", "7"], ["no checkpoint at step 7", "steps 0..2"]),
    (["{d}/ok.h5", "--plot", "{d}/no/such/dir/f.png"],
     ["f.png: cannot write it (No such file or directory)"]),
    (["{d}/ok.h5", "-o", "{d}/runs"], ["-o/--force go with --p"]),
    (["{d}/ok.h5", "--p", "20"], ["not both"]),
    ([], ["--p N"]),
    (["--p", "20", "--step", "3"], ["--step goes with a run file"]),
    (["--p", "1"], ["--p 1", "at least 2"]),
    (["--p", "0"], ["--p 0", "at least 2"]),
    (["--p", "20", "--seeds", "0"], ["at least one seed"]),
])
def test_bad_input_is_one_line(foreign, args, needles):
    r = run("factor", *[a.format(d=foreign) for a in args])
    one_line_error(r, *needles)


def test_existing_run_file_needs_force(tmp_path):
    (tmp_path / "p20_seed0.h5").write_text("")
    r = run("factor", "--p", 20, "--seeds", 1, "-o", tmp_path)
    one_line_error(r, "p20_seed0.h5 exists", "--force")
