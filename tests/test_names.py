"""What grokscan reads from a file and turns into a path, an HTML id or terminal text is checked
once, where the file is read (grokscan/names.py, grokscan/hdf5/format.py): a crafted output
folder, metrics.h5, points.json or summary.csv is refused in one line with a non-zero exit, and
nothing inside or outside it changes; what `info`, `sweep status` and an error print from a file
reaches the terminal with its control characters escaped."""

import json
import os
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import cli, one_line_error, tree

from grokscan.errors import FileFormatError
from grokscan.names import printable, safe_name
from grokscan.store.metrics import operation

SMALL = ["--p", "23", "--frac", "0.5", "--d-embed", "8", "--width", "16", "--steps", "40",
         "--every", "5", "--threads", "1", "-q"]
# From OUT/figures/<figure>_.. (a folder the crafted output holds), four levels up is the
# folder holding OUT: the figure would be written to x/WRITTEN_OUTSIDE.png beside OUT.
OUTSIDE = "../../../../x/WRITTEN_OUTSIDE"
HTML = 'add" onmouseover="alert(1)'


# --- the helpers -------------------------------------------------------------------------------

def test_every_name_a_sweep_makes_is_a_safe_name(tmp_path):
    from grokscan.sweep import grid

    path = tmp_path / "g.toml"
    path.write_text("p = 23\nseeds = [0, 7]\n[axes]\nlr = [1e-5, 0.3]\nop = [['add', 'sub'], "
                    "['(x+y)2']]\n[sample]\nn = 2\nactivation = {choice = ['relu', 'gelu']}\n")
    g = grid.load(path)
    names = [p.name for p in grid.points(g)]
    assert "sample=1_lr=1e-05_op=-x+y-2_activation=gelu_seed=7" in names, names
    for n in [*names, *g.varied, "base", "d_embed"]:
        assert safe_name(n, "here") == n


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "/etc", "a/b", ".hidden", "-rf",
                                 'wd" onmouseover="x', "a b", "a\x1b[31m", "é", "x" * 256,
                                 None, 3, ["wd"]])
def test_a_name_that_grokscan_does_not_make_is_refused(bad):
    with pytest.raises(FileFormatError, match="here: expected a name of letters, digits"):
        safe_name(bad, "here")


def test_operations_are_grokscans_own():
    from grokscan.tasks.modular import OPS

    assert [operation(op, "here") for op in OPS] == list(OPS)
    for bad in (OUTSIDE, HTML, "pow", "", None):
        with pytest.raises(FileFormatError, match="here: expected one of grokscan's operations"):
            operation(bad, "here")


def test_printable_escapes_what_a_terminal_would_act_on():
    assert printable("add mod 23 · step ≥ 0.99 → ok") == "add mod 23 · step ≥ 0.99 → ok"
    assert printable("\x1b]0;title\x07\x1b[2J") == "\\x1b]0;title\\x07\\x1b[2J"
    assert printable("a\nb\tc\x9bd\u202ee") == "a\\nb\\tc\\x9bd\\u202ee"


def test_html_ids_are_escaped():
    from grokscan.reporting.base import Item, Section
    from grokscan.reporting.page import _body

    sec = Section("k", "T", [Item(HTML, "t", "c", None)])
    page = _body([sec], {HTML: ("image/png", b"")})
    assert 'id="add&quot; onmouseover=&quot;alert(1)"' in page and "onmouseover=\"" not in page


# --- a crafted output folder through `grokscan report` -------------------------------------------

@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """OUT/ of `grokscan analyze` on a tiny run of add and sub (a figure per operation)."""
    d = tmp_path_factory.mktemp("two_ops")
    assert cli("train", "-o", d / "run.h5", "--op", "add,sub", *SMALL).exit_code == 0
    r = cli("analyze", d / "run.h5", "-o", d / "OUT", "--families", "norms,fourier,neurons", "-q")
    assert r.exit_code == 0, r.output
    assert (d / "OUT" / "figures" / "neuron_spectrum_sub.png").exists()
    return d / "OUT"


def _set(out, **attrs):
    with h5py.File(out / "metrics.h5", "r+") as f:
        f.attrs.update(attrs)


def _op(out, op: str):
    """The operation sub renamed to ``op``, its datasets too, and the folder that the figure
    path goes through made: as a file crafted to draw a figure at ``op`` would be."""
    with h5py.File(out / "metrics.h5", "r+") as f:
        f.attrs["ops"] = json.dumps(["add", op])
        g = f["metrics/neurons"]
        for k in [k for k in g if k.endswith("_sub")]:
            g.move(k, k[: -len("sub")] + op)
    (out / "figures" / "neuron_spectrum_..").mkdir()


def _scalar(out, make):
    """/scalars/train_acc of metrics.h5 replaced by ``make(file, name, n)``."""
    with h5py.File(out / "metrics.h5", "r+") as f:
        n = len(f["steps"])
        del f["scalars/train_acc"]
        make(f, "scalars/train_acc", n)


def _secret(out) -> str:
    return str(out.parent / "x" / "secret.h5")


def _virtual(f, name, n, src):
    layout = h5py.VirtualLayout(shape=(n,), dtype="f8")
    layout[:] = h5py.VirtualSource(src, "acc", shape=(n,))
    f.create_virtual_dataset(name, layout)


METRICS = {  # name: (craft OUT/, what the one line says)
    "an operation that names a path outside": (
        lambda o: _op(o, OUTSIDE), "ops: expected one of grokscan's operations"),
    "an operation that writes HTML": (
        lambda o: _op(o, HTML), "ops: expected one of grokscan's operations"),
    "ops that are not a list": (
        lambda o: _set(o, ops=json.dumps("add")), "ops: expected a list of operations"),
    "op_basis of an unknown operation": (
        lambda o: _set(o, op_basis=json.dumps({OUTSIDE: "additive"})),
        "op_basis: expected one of grokscan's operations"),
    "key_freqs of an unknown operation": (
        lambda o: _set(o, key_freqs=json.dumps({"<script>": [1]})),
        "key_freqs: expected one of grokscan's operations"),
    "an external link": (
        lambda o: _scalar(o, lambda f, k, n: f.__setitem__(k, h5py.ExternalLink(_secret(o),
                                                                               "acc"))),
        "'/scalars/train_acc' is an external link to the file"),
    "data kept in an external file": (
        lambda o: _scalar(o, lambda f, k, n: f.create_dataset(
            k, shape=(n,), dtype="f8", external=[(str(o.parent / "x" / "secret.bin"), 0,
                                                  8 * n)])),
        "'/scalars/train_acc' keeps its data in the external file"),
    "a virtual dataset": (
        lambda o: _scalar(o, lambda f, k, n: _virtual(f, k, n, _secret(o))),
        "'/scalars/train_acc' is a virtual dataset"),
    "figures/ a symbolic link out": (
        lambda o: (shutil.rmtree(o / "figures"), os.symlink("../x", o / "figures")),
        "figures is a symbolic link"),
}


@pytest.mark.parametrize("case", METRICS)
def test_a_crafted_output_folder_is_refused_and_nothing_changes(analysed, tmp_path, case):
    craft, needle = METRICS[case]
    out = tmp_path / "OUT"
    shutil.copytree(analysed, out)
    (tmp_path / "x").mkdir()  # what a crafted file would read or write outside OUT
    with h5py.File(tmp_path / "x" / "secret.h5", "w") as f:
        f["acc"] = np.full(64, 0.5)
    (tmp_path / "x" / "secret.bin").write_bytes(bytes(1024))
    craft(out)
    before = tree(tmp_path)
    one_line_error(cli("report", out, "-q"), str(out), needle)
    assert tree(tmp_path) == before


# --- a crafted sweep folder through `grokscan sweep report` and `status` -----------------------

def _points(s, edit):
    doc = json.loads((s / "points.json").read_text())
    edit(doc)
    (s / "points.json").write_text(json.dumps(doc))


def _summary(s, edit):
    df = pd.read_csv(s / "summary.csv")
    edit(df).to_csv(s / "summary.csv", index=False)


def _axis(s, new: str):
    """The axis wd renamed to ``new`` in points.json and summary.csv, and the folder that its
    figure's path goes through made."""
    def edit(doc):
        doc["varied"] = [new if k == "wd" else k for k in doc["varied"]]
        for p in doc["points"]:
            p["params"][new] = p["params"].pop("wd")

    _points(s, edit)
    _summary(s, lambda df: df.rename(columns={"wd": new}))
    (s / "figures" / "time_to_grok_..").mkdir(parents=True)


def _run(s, name: str):
    def edit(df):
        df.loc[0, "run"] = name
        return df

    _summary(s, edit)


BOTH = ("report", "status")
SWEEPS = {  # name: (craft SWEEP/, what the one line says, commands)
    "a varied key that names a path outside": (
        lambda s: _axis(s, OUTSIDE), "points.json: varied: expected a name", BOTH),
    "a varied key that writes HTML": (
        lambda s: _axis(s, 'wd" onmouseover="alert(1)'), "points.json: varied: expected a name",
        BOTH),
    "a point named with a path": (
        lambda s: _points(s, lambda d: d["points"][0].update(name="../../x")),
        "points.json: points: name: expected a name", BOTH),
    "points.json that is a list": (
        lambda s: (s / "points.json").write_text("[]"), "points.json: expected a JSON object",
        BOTH),
    "a summary row whose run is ../../x": (
        lambda s: _run(s, "../../x"), "summary.csv: run: expected a name", BOTH),
    "a summary row whose run is /etc": (
        lambda s: _run(s, "/etc"), "summary.csv: run: expected a name", BOTH),
    "figures/ a symbolic link out": (
        lambda s: os.symlink("../x", s / "figures"), "figures is a symbolic link", ("report",)),
}


def _sweep_cases():
    for case, (_, _, commands) in SWEEPS.items():
        for command in commands:
            yield case, command


@pytest.mark.parametrize("case, command", list(_sweep_cases()))
def test_a_crafted_sweep_folder_is_refused_and_nothing_changes(tmp_path, case, command):
    from grokscan.sweep import synthetic

    craft, needle, _ = SWEEPS[case]
    s = tmp_path / "S"
    synthetic.make(s, {"wd": [0.1, 1.0], "frac": [0.3, 0.5]}, 2, lambda p: "grokking")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "run.h5").write_bytes(b"what a crafted summary would have read")
    craft(s)
    before = tree(tmp_path)
    args = ("sweep", "report", s, "-q") if command == "report" else ("sweep", "status", s)
    one_line_error(cli(*args), str(s), needle)
    assert tree(tmp_path) == before


# --- what `info` prints from a file ---------------------------------------------------------------

@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "run.h5"
    assert cli("train", "-o", path, *SMALL).exit_code == 0
    return path


def test_info_escapes_the_text_of_the_file(small_run, tmp_path):
    path = tmp_path / "run.h5"
    shutil.copy(small_run, path)
    plain = cli("info", path)
    with h5py.File(path, "r+") as f:
        f.attrs["provenance"] = json.dumps({"source": "\x1b]0;owned\x07\x1b[2Jsrc",
                                            "format": "npz\nforged line", "files": ["a"],
                                            "split": "\x9b31m\u202e"})
    r = cli("info", path)
    assert r.exit_code == 0, r.output
    assert not any(c in r.output for c in "\x1b\x07\x9b\u202e"), r.output
    line = next(ln for ln in r.output.splitlines() if ln.startswith("imported from"))
    assert line == ("imported from \\x1b]0;owned\\x07\\x1b[2Jsrc (npz\\nforged line, 1 files; "
                    "split \\x9b31m\\u202e)")
    assert len(r.output.splitlines()) == len(plain.output.splitlines()) + 1


def test_info_of_a_provenance_that_is_not_an_object(small_run, tmp_path):
    path = tmp_path / "run.h5"
    shutil.copy(small_run, path)
    with h5py.File(path, "r+") as f:
        f.attrs["provenance"] = "[1, 2]"
    r = cli("info", path)
    assert r.exit_code == 0 and "imported from an unreadable provenance: [1, 2]" in r.output


def test_an_error_that_quotes_the_file_is_one_line_with_no_escape_sequence(small_run, tmp_path):
    path = tmp_path / "run.h5"
    shutil.copy(small_run, path)
    with h5py.File(path, "r+") as f:
        f.attrs["param_names"] = json.dumps(["\x1b[2J\x1b]0;owned\x07\nError: forged"])
    r = cli("info", path)
    line = one_line_error(r, str(path), "missing dataset /params/\\x1b[2J\\x1b]0;owned\\x07\\n")
    assert "\x1b" not in r.output and "\x07" not in r.output and line.endswith("forged")


def test_sweep_status_escapes_the_text_of_the_summary(tmp_path):
    from grokscan.sweep import synthetic

    s = tmp_path / "S"
    synthetic.make(s, {"wd": [0.1, 1.0]}, 1, lambda p: "grokking", failed=("wd=0.1_seed=0",))
    _summary(s, lambda df: df.assign(error="\x1b[2J\nforged"))
    r = cli("sweep", "status", s)
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output and "\x07" not in r.output
    assert "failed wd=0.1_seed=0: \\x1b[2J\\nforged" in r.output
    _summary(s, lambda df: df.assign(phase="\x1b]0;owned\x07"))  # a phase is one of four
    r = cli("sweep", "status", s)
    one_line_error(r, "phase: expected one of comprehension", "\\x1b]0;owned\\x07")
    assert "\x1b" not in r.output and "\x07" not in r.output
