import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from grokscan.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--p", "23", "--frac", "0.5", "--d-embed", "8", "--width", "16", "--steps", "20",
         "--every", "5", "-q"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *needles):
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [ln for ln in result.output.strip().splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_train_then_info(tmp_path):
    out = tmp_path / "r.h5"
    r = run("train", "-o", out, *SMALL)
    assert r.exit_code == 0, r.output
    r = run("info", out, "--json")
    d = json.loads(r.output)
    assert d["n_checkpoints"] == 5 and d["steps"] == [0, 20]
    assert d["config"]["task"]["p"] == 23 and d["params"]["embed.W_E"] == [25, 8]
    assert set(d["crossings"]) == {"train_acc", "test_acc"}
    text = run("info", out).output
    assert "checkpoints 5, steps 0..20" in text and "embed.W_E" in text


def test_toml_config_and_options(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('op = "sub"\np = 29\n[model]\nwidth = 12\n')
    out = tmp_path / "r.h5"
    r = run("train", "-o", out, "--config", cfg, "--p", "31", "--steps", "4", "--every", "2",
            "--d-embed", "4", "-q")
    assert r.exit_code == 0, r.output
    d = json.loads(run("info", out, "--json").output)
    assert d["config"]["task"]["ops"] == ["sub"] and d["config"]["task"]["p"] == 31
    assert d["config"]["model"]["width"] == 12


def test_the_commands_own_keys_in_a_toml_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('threads = 1\nquiet = true\nforce = true\nd-embed = 4\nsteps = 4\n'
                   'every = 2\np = 23\n')
    out = tmp_path / "r.h5"
    out.write_bytes(b"not yet a run")  # force = true overwrites it
    r = run("train", "-o", out, "--config", cfg)
    assert r.exit_code == 0 and r.output == "", r.output  # quiet = true: nothing printed
    with h5py.File(out, "r") as f:
        assert f.attrs["torch_threads"] == 1
    d = json.loads(run("info", out, "--json").output)
    assert d["config"]["model"]["d_embed"] == 4 and d["steps"] == [0, 4]


@pytest.mark.parametrize("text, needles", [
    ("thread = 1\n", ["unknown key(s) thread", "threads", "d-embed", "quiet", "force"]),
    ('threads = "two"\n', ["threads: expected a whole number in [0, 1024], got 'two'"]),
    ("quiet = 1\n", ["quiet: expected true or false, got 1"]),
])
def test_bad_command_keys_in_a_toml_file(tmp_path, text, needles):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    one_line_error(run("train", "-o", tmp_path / "r.h5", "--config", cfg), *needles)
    assert not (tmp_path / "r.h5").exists()


def test_multitask_transformer_and_onehot(tmp_path):
    r = run("train", "-o", tmp_path / "t.h5", "--model", "transformer", "--op", "add,sub",
            "--n-heads", "2", *SMALL)
    assert r.exit_code == 0, r.output
    r = run("train", "-o", tmp_path / "o.h5", "--input", "onehot", "--depth", "2",
            "--activation", "quad", "--no-bias", *SMALL)
    assert r.exit_code == 0, r.output
    d = json.loads(run("info", tmp_path / "o.h5", "--json").output)
    assert d["params"]["hidden.0.W"] == [46, 16] and "hidden.0.b" not in d["params"]


@pytest.mark.parametrize("args, needles", [
    (["--op", "pow"], ["unknown operation 'pow'"]),
    (["--op", "div", "--p", "20"], ["needs a prime modulus", "P = 20"]),
    (["--op", "mul", "--exclude-zero", "--p", "21"], ["needs a prime modulus"]),
    (["--p", "1"], ["--p", "1 is not in the range 2<=x<=4096"]),
    (["--frac", "1.5"], ["--frac", "1.5 is not in the range 0<x<1"]),
    (["--frac", "0.01", "--p", "23"], ["fewer than the 23 classes"]),
    (["--activation", "tanhh"], ["--activation", "'tanhh' is not one of 'relu'"]),
])
def test_bad_training_options(tmp_path, args, needles):
    one_line_error(run("train", "-o", tmp_path / "x.h5", *SMALL, *args), *needles)
    assert not (tmp_path / "x.h5").exists()


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "r.h5"
    out.write_text("precious")
    one_line_error(run("train", "-o", out, *SMALL), "exists", "--force")
    assert out.read_text() == "precious"
    assert run("train", "-o", out, *SMALL, "--force").exit_code == 0


def _bad_files(tmp_path):
    good = tmp_path / "good.h5"
    assert run("train", "-o", good, *SMALL).exit_code == 0
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[:4000])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    newer = tmp_path / "newer.h5"
    newer.write_bytes(good.read_bytes())
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = 99
    return {
        "missing": (tmp_path / "missing.h5", "no such file"),
        "text": (text, "not an HDF5 file"),
        "truncated": (cut, "truncated"),
        "foreign": (foreign, "not a grokscan checkpoint file"),
        "version": (newer, "format version 99"),
    }


def test_bad_files_for_info_and_resume(tmp_path):
    for name, (path, needle) in _bad_files(tmp_path).items():
        one_line_error(run("info", path), needle, str(path))
        before = path.read_bytes() if path.exists() else None
        one_line_error(run("train", "-o", path, "--resume", "-q"), needle)
        assert (path.read_bytes() if path.exists() else None) == before, name


def test_ops_lists_every_operation():
    from grokscan.tasks.modular import OPS

    out = run("ops").output
    assert all(name in out for name in OPS)
    assert set(json.loads(run("ops", "--json").output)) == set(OPS)


def _commands(group, prefix=""):
    for name, cmd in group.commands.items():
        yield f"{prefix}{name}", cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix}{name} ")


@pytest.mark.parametrize("name, cmd", list(_commands(main)))
def test_every_command_has_help_with_an_example(name, cmd):
    """Its place in the documentation: tests/test_docs.py."""
    assert cmd.help and "grokscan" in cmd.help, f"{name} has no help with an example"
    assert run(*name.split(), "--help").exit_code == 0


def test_metrics_lists_every_family_with_what_it_needs():
    from grokscan.analysis.families import ALL, OPTIONAL

    res = CliRunner().invoke(main, ["metrics"])
    assert res.exit_code == 0, res.output
    lines = {ln.split()[0]: ln for ln in res.output.splitlines() if ln and not ln[0].isspace()}
    assert set(ALL) <= set(lines)
    assert "transformers only" in lines["attention/maps"]
    assert "MLPs only" in lines["features/cosine"] and "replays" in lines["accuracy/class"]
    assert all("only with --families" in lines[n] for n in OPTIONAL)
