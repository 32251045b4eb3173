"""The grid file: points, names, draws, and its one-line errors before anything runs."""

import pytest
from click.testing import CliRunner

from grokscan.cli import main
from grokscan.errors import GrokscanError
from grokscan.sweep import grid


def write(tmp_path, text, name="grid.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_full_grid_times_seeds(tmp_path):
    g = grid.load(write(tmp_path, "p = 23\n[axes]\nwd = [0.1, 1.0]\nfrac = [0.3, 0.5, 0.7]\n"
                                  "seeds = 2\n"))
    pts = grid.points(g)
    assert len(pts) == 2 * 3 * 2
    assert g.varied == ["wd", "frac", "seed"]
    names = {p.name for p in pts}
    assert "wd=0.1_frac=0.5_seed=1" in names and len(names) == 12
    p = next(p for p in pts if p.name == "wd=1_frac=0.7_seed=0")
    assert p.values == {"p": 23, "wd": 1.0, "frac": 0.7, "seed": 0}


def test_samples_are_stable_when_n_grows(tmp_path):
    text = ("[sample]\nn = {n}\nlr = {{log-uniform = [1e-3, 1e-1]}}\n"
            "activation = {{choice = ['relu', 'gelu']}}\n")
    few = grid.points(grid.load(write(tmp_path, text.format(n=3), "a.toml")))
    more = grid.points(grid.load(write(tmp_path, text.format(n=8), "b.toml")))
    assert [p.params for p in few] == [p.params for p in more[:3]]
    lrs = [p.params["lr"] for p in more]
    assert all(1e-3 <= v <= 1e-1 for v in lrs) and len(set(lrs)) == 8
    assert {p.params["activation"] for p in more} <= {"relu", "gelu"}


def test_adding_a_value_keeps_the_other_names(tmp_path):
    a = grid.points(grid.load(write(tmp_path, "[axes]\nwd = [0.1, 1.0]\n", "a.toml")))
    b = grid.points(grid.load(write(tmp_path, "[axes]\nwd = [0.1, 1.0, 3.0]\n", "b.toml")))
    assert {p.name for p in a} < {p.name for p in b}


@pytest.mark.parametrize("text, words", [
    ("[axes]\nbogus = [1, 2]\n", "axes.bogus: unknown key"),
    ("[axes]\nwd = []\n", "the list is empty"),
    ("[axes]\nwd = ['heavy']\n", "axes.wd"),
    ("[axes]\nfrac = [0.5, 1.5]\n", "axes.frac"),
    ("bogus = 1\n", "bogus"),
    ("seeds = 0\n", "seeds: expected at least 1"),
    ("[sample]\nn = 2\nlr = {normal = [0, 1]}\n", "sample.lr: expected one of"),
    ("[axes]\ntask = ['ising']\n", "the task cannot vary"),
    ("threads = 2\n", "threads: a key of `grokscan train` itself"),
    ("[extra]\nx = 1\n", "unknown table [extra]"),
    ("p = [\n", "cannot read the grid file"),
])
def test_bad_grids_are_one_line_errors_before_anything_runs(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(GrokscanError, match=None) as e:
        grid.points(grid.load(path))
    assert words in str(e.value)
    out = tmp_path / "SWEEP"
    res = CliRunner().invoke(main, ["sweep", str(path), "-o", str(out), "-q"])
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and words in lines[0]
    assert "Traceback" not in res.output and not out.exists()
