"""The battery: nothing a user has is lost or misread, and every bad input is refused cleanly.

Each crafted file goes through every command that reads a run file (info, analyze, factor,
train --resume): one line starting "Error" that names the file and what is wrong, a non-zero
exit, no traceback, no output under a final name, the input's bytes unchanged. The size bombs
run in a separate interpreter under a limit on its address space, so that an allocation the
config does not imply fails the test instead of the machine. Kills, interrupts, two writers
and a full disk run for real, in subprocesses. ``-m slow`` adds a fuzz pass of seeded byte
flips. The counts are in docs/explanation/reliability.md.
"""

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import h5py
import numpy as np
import pytest
from conftest import assert_same_contents, cli, one_line_error, run_contents, tree

from grokscan.errors import GrokscanError
from grokscan.store.reader import Run

BASE = ["--width", "16", "--steps", "40", "--every", "5", "--threads", "1", "-q"]
SMALL = ["--p", "23", "--frac", "0.5", "--d-embed", "8", *BASE]  # a modular run
COMMANDS = {
    "info": lambda path, tmp: ["info", path],
    "analyze": lambda path, tmp: ["analyze", path, "-o", tmp / "out", "--families",
                                  "norms,fourier,neurons", "-q"],
    "factor": lambda path, tmp: ["factor", path, "--json"],
    "resume": lambda path, tmp: ["train", "-o", path, "--resume", "--steps", "60", "-q"],
}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.h5"
    assert cli("train", "-o", path, *SMALL).exit_code == 0
    return path


# --- crafted files -----------------------------------------------------------------------------

def _attr_json(path, key, edit):
    with h5py.File(path, "r+") as f:
        d = json.loads(f.attrs[key])
        edit(d)
        f.attrs[key] = json.dumps(d)


def _replace(path, name, **kw):
    with h5py.File(path, "r+") as f:
        del f[name]
        f.create_dataset(name, **kw)


def _set_row(path, name, row, fn):
    with h5py.File(path, "r+") as f:
        a = f[name][row]
        f[name][row] = fn(a)


def _slot(path) -> str:
    with h5py.File(path, "r") as f:
        last = f["steps"][-1]
        return next(f"resume/{s}" for s in ("0", "1") if f[f"resume/{s}/step"][0] == last)


ALL = tuple(COMMANDS)
CRAFTED = {
    # name: (make it from a copy of the good file, needle, commands that must refuse it)
    "empty": (lambda p: p.write_bytes(b""), "not an HDF5 file", ALL),
    "text": (lambda p: p.write_text("step,loss\n0,1\n"), "not an HDF5 file", ALL),
    "signature then noise": (lambda p: p.write_bytes(
        b"\x89HDF\r\n\x1a\n" + np.random.default_rng(0).bytes(4000)), "", ALL),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:6000]), "truncated", ALL),
    "foreign": (lambda p: (p.unlink(), h5py.File(p, "w").close()),
                "not a grokscan checkpoint file", ALL),
    "unknown version": (lambda p: h5py.File(p, "r+").attrs.__setitem__("format_version", 99),
                        "format version 99", ALL),
    "config not JSON": (lambda p: h5py.File(p, "r+").attrs.__setitem__("config", "{p: 3"),
                        "config attribute is unreadable", ALL),
    "config missing": (lambda p: h5py.File(p, "r+").attrs.__delitem__("config"),
                       "no config attribute", ALL),
    "config field of the wrong type": (
        lambda p: _attr_json(p, "config", lambda d: d["task"].update(p="23")),
        "task.p: expected an integer, got '23'", ALL),
    "config p = -1": (lambda p: _attr_json(p, "config", lambda d: d["task"].update(p=-1)),
                      "task.p: expected an integer in [2, 4096], got -1", ALL),
    "config width 1e8": (lambda p: _attr_json(p, "config",
                                              lambda d: d["model"].update(width=10**8)),
                         "model.width: expected an integer in [1, 65536]", ALL),
    "config unlike the data": (lambda p: _attr_json(p, "config",
                                                    lambda d: d["task"].update(p=29)),
                               "the data are add mod 23, but the run's config says add mod 29",
                               ALL),
    "unknown op in the task": (
        lambda p: h5py.File(p, "r+")["task"].attrs.__setitem__("ops", '["pow"]'),
        "operations ('pow',)", ALL),
    "labels that are not op(a, b)": (
        lambda p: _set_row(p, "task/labels", slice(0, 3), lambda a: (a + 1) % 23),
        "/labels: row 0", ALL),
    "operands out of range": (
        lambda p: _set_row(p, "task/examples", 0, lambda a: np.array([40, 0, 1])),
        "operands outside 0..22", ALL),
    "residue vectors of a missing parameter": (
        lambda p: h5py.File(p, "r+").attrs.__setitem__(
            "residue_vectors", '[{"param": "emb", "start": 0, "stop": 23, "operand": "a,b"}]'),
        "residue_vectors names the parameter 'emb'", ALL),
    "logit map of a missing parameter": (
        lambda p: h5py.File(p, "r+").attrs.__setitem__("neuron_logit_map", '["W_out"]'),
        "neuron_logit_map names the parameter 'W_out'", ALL),
    "logit map whose shapes do not compose": (
        lambda p: h5py.File(p, "r+").attrs.__setitem__("neuron_logit_map",
                                                        '["unembed.W_U", "hidden.0.W"]'),
        "do not compose", ALL),
    "steps that do not increase": (
        lambda p: _set_row(p, "steps", 3, lambda a: 5), "/steps does not increase", ALL),
    # scalars that are not a number a checkpoint (a traceback in every command; the
    # variable-length strings made --resume change the file before it failed)
    "a scalar of text": (
        lambda p: _replace(p, "scalars/test_acc", data=np.array([b"x"] * 9)),
        "/scalars/test_acc: expected a number a checkpoint, got |S1 of shape (9,)", ALL),
    "a scalar of variable-length strings": (
        lambda p: _replace(p, "scalars/train_loss", data=np.array(["ab"] * 9, dtype=object),
                           dtype=h5py.string_dtype()),
        "/scalars/train_loss: expected a number a checkpoint, got object", ALL),
    "a scalar of two columns": (
        lambda p: _replace(p, "scalars/train_loss", data=np.zeros((9, 2))),
        "/scalars/train_loss: expected a number a checkpoint, got float64 of shape (9, 2)",
        ALL),
    "a scalar that is a group": (
        lambda p: (h5py.File(p, "r+").__delitem__("scalars/train_loss"),
                   h5py.File(p, "r+").create_group("scalars/train_loss")),
        "/scalars/train_loss: expected a number a checkpoint, got a group", ALL),
    "a compound scalar": (
        lambda p: _replace(p, "scalars/test_acc", data=np.zeros(9, dtype=[("a", "f8")])),
        "/scalars/test_acc: expected a number a checkpoint", ALL),
    # info describes what is stored and reads no weights: these it shows
    "a parameter unlike the config": (
        lambda p: _replace(p, "params/hidden.0.W", data=np.zeros((9, 16, 17), np.float32),
                           maxshape=(None, 16, 17), chunks=(1, 16, 17)),
        "/params/hidden.0.W has shape (16, 17); the run's config builds (16, 16)",
        ("analyze", "resume")),
    "NaN weights": (lambda p: _set_row(p, "params/unembed.W_U", -1,
                                       lambda a: np.full_like(a, np.nan)),
                    "unembed.W_U holds NaN or inf at step 40", ("analyze", "factor")),
    "a resume layout that is not JSON": (
        lambda p: _replace(p, f"{_slot(p)}/layout", data=np.frombuffer(b"[[", np.uint8),
                           maxshape=(None,), chunks=(1 << 14,)),
        "/layout is malformed", ("resume",)),
    "a generator state that is not one": (
        lambda p: _replace(p, f"{_slot(p)}/torch_rng", data=np.arange(10, dtype=np.uint8),
                           maxshape=(None,), chunks=(1 << 14,)),
        "generator state is unusable", ("resume",)),
}

# Size bombs: shapes that would ask for far more memory than the config implies; the
# datasets are chunked and never written, so the files stay small.
BOMBS = {
    "task examples of 10^11 rows": (
        "task/examples", dict(shape=(10**11, 3), chunks=(1024, 3), dtype="i4"),
        "examples: 300000000000 elements", ALL),
    "a parameter of 10^10 values a checkpoint": (
        "params/hidden.0.W", dict(shape=(9, 100000, 100000), maxshape=(None, 100000, 100000),
                                  chunks=(1, 64, 64), dtype="f4"),
        "more than 2147483648 values a checkpoint", ALL),
    "an optimizer state of 10^11 values": (
        "OPT", dict(shape=(10**11,), maxshape=(None,), chunks=(1 << 14,), dtype="f4"),
        "/optimizer holds (100000000000,) values", ("resume",)),
}


def _cases():
    for name, (_, _, commands) in CRAFTED.items():
        for command in commands:
            yield name, command


@pytest.mark.parametrize("case, command", list(_cases()))
def test_a_crafted_file_is_refused_in_one_line(good, tmp_path, case, command):
    make, needle, _ = CRAFTED[case]
    path = tmp_path / "run.h5"
    shutil.copy(good, path)
    make(path)
    before = path.read_bytes()
    r = cli(*COMMANDS[command](path, tmp_path))
    one_line_error(r, str(path), needle)
    assert path.read_bytes() == before  # the input is not changed
    assert not (tmp_path / "out" / "metrics.h5").exists()
    assert not list(tmp_path.glob("**/*.tmp")) and not list(tmp_path.glob("*.part"))


def test_missing_files_and_folders(tmp_path):
    for command in COMMANDS.values():
        one_line_error(cli(*command(tmp_path / "nope.h5", tmp_path)), "nope.h5", "no such file")
        one_line_error(cli(*command(tmp_path, tmp_path)), str(tmp_path))


BOMB_RUNNER = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # 3 GiB of address space
from click.testing import CliRunner
from grokscan.cli import main
out = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(main, args)
    out.append([r.exit_code, r.output, repr(r.exception)])
print(json.dumps(out))
"""


def test_size_bombs_are_refused_before_anything_is_allocated(good, tmp_path):
    runs, expect = [], []
    for i, (name, (dataset, spec, needle, commands)) in enumerate(BOMBS.items()):
        path = tmp_path / f"bomb{i}.h5"
        shutil.copy(good, path)
        _replace(path, _slot(path) + "/optimizer" if dataset == "OPT" else dataset, **spec)
        assert path.stat().st_size < 10 * good.stat().st_size  # nothing was written
        for command in commands:
            runs.append([str(a) for a in COMMANDS[command](path, tmp_path / f"o{i}")])
            expect.append((name, str(path), needle))
    r = subprocess.run([sys.executable, "-c", BOMB_RUNNER, json.dumps(runs)], timeout=600,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    for (code, output, exc), (name, path, needle) in zip(json.loads(r.stdout), expect):
        assert code == 1 and "Traceback" not in output and "MemoryError" not in exc, (name,
                                                                                     output)
        line = [ln for ln in output.splitlines() if ln.startswith("Error")]
        assert len(line) == 1 and path in line[0] and needle in line[0], (name, output)


# --- options ---------------------------------------------------------------------------------

BAD_TRAIN = [
    (["--lr", "-1"], "--lr"), (["--lr", "nan"], "lr"), (["--lr", "0"], "--lr"),
    (["--wd", "-1"], "--wd"), (["--beta1", "2"], "--beta1"), (["--beta2", "1"], "--beta2"),
    (["--seed", "-1"], "--seed"), (["--threads", "-1"], "--threads"),
    (["--device", "nonsense"], "--device"), (["--p", "1000000000"], "--p"),
    (["--width", "100000000"], "--width"), (["--steps", "-5"], "--steps"),
    (["--batch-size", "-3"], "--batch-size"), (["--warmup", "-5"], "--warmup"),
    (["--beta", "0"], "--beta"), (["--stop-when-grokked", "-1"], "--stop-when-grokked"),
    (["--every", "0"], "--every"), (["--dense-every", "0"], "--dense-every"),
    (["--dropout", "1"], "--dropout"), (["--dropout", "-0.1"], "--dropout"),
    (["--frac", "0"], "--frac"), (["--frac", "1"], "--frac"), (["--p", "1"], "--p"),
    (["--op", "pow"], "unknown operation 'pow'"), (["--op", ""], "at least one operation"),
    (["--op", "add,add"], "operations repeat"), (["--op", "div", "--p", "21"], "prime"),
    (["--model", "rnn"], "--model"), (["--activation", "tanhh"], "--activation"),
    (["--input", "bag"], "--input"), (["--optimizer", "sgd"], "--optimizer"),
    (["--task", "chess"], "--task"), (["--d-embed", "0"], "--d-embed"),
    (["--depth", "0"], "--depth"), (["--n-heads", "0"], "--n-heads"),
    (["--model", "transformer", "--d-embed", "10", "--n-heads", "3"], "multiple of"),
    (["--init-scale", "0"], "--init-scale"), (["--lr", "abc"], "--lr"),
    (["--steps", "1.5"], "--steps"), (["--nonsense"], "No such option"),
    (["--frac", "0.01"], "fewer than the 23 classes"),
    (["--dense-memorised", "10", "--no-onset"], "it cannot go with --no-onset"),
    (["--lr", "1e308"], "--lr"),  # torch's float32 overflowed: a traceback, a file left
    (["--init-scale", "1e39"], "--init-scale"),
]
BAD_OTHER_TASKS = [  # without the modular task's --p and --frac
    (["--task", "ising", "--data", "nope.h5"], "nope.h5: no such file"),
    (["--task", "ising", "--model", "transformer"], "token inputs"),
    (["--task", "ising", "--p", "23"], "unknown key(s) p for the ising task"),
    (["--task", "parity", "--k", "50", "--n-bits", "10"], "--k 50"),
    (["--task", "parity", "--n-bits", "4", "--n-train", "20"], "distinct inputs"),
]


@pytest.mark.parametrize("args, needle", BAD_TRAIN + BAD_OTHER_TASKS)
def test_bad_training_options(tmp_path, args, needle):
    out = tmp_path / "x.h5"
    base = SMALL if (args, needle) in BAD_TRAIN else BASE
    r = cli("train", "-o", out, *base, *args)
    one_line_error(r, needle)
    assert not out.exists() and not list(tmp_path.iterdir())  # not even a lock or a .part


BAD_TOML = [
    ('lr = "fast"\n', "train.lr: expected a number, got 'fast'"),
    ("grads = 1\n", "train.grads: expected true or false, got 1"),
    ("widht = 4\n", "unknown key(s) widht"), ("[model]\nn-heads = 0\n", "model.n_heads"),
    ("lr = \n", "cannot read the TOML config"),
    # types exactly as on the command line: no value is coerced into another type
    ("p = 23.5\n", "task.p: expected an integer, got 23.5"),
    ("p = 23.0\n", "task.p: expected an integer, got 23.0"),
    ('steps = "200"\n', "train.steps: expected an integer, got '200'"),
    ("width = [64]\n", "model.width: expected an integer, got [64]"),
    ("width = 64.5\n", "model.width: expected an integer, got 64.5"),
    ("frac = true\n", "task.frac: expected a number, got True"),
    ("p = true\n", "task.p: expected an integer, got True"),
    ("steps = 1e30\n", "train.steps: expected an integer, got 1e+30"),
    ("op = 3\n", "task.ops: expected names separated by commas, got 3"),
]


@pytest.mark.parametrize("text, needle", BAD_TOML)
def test_bad_config_files(tmp_path, text, needle):
    (tmp_path / "c.toml").write_text(text)
    out = tmp_path / "x.h5"
    given = {text.split(" =")[0]}  # the file's key is not also given on the command line
    base = [a for i, a in enumerate(SMALL) if a.lstrip("-") not in given
            and SMALL[i - 1].lstrip("-") not in given]
    one_line_error(cli("train", "-o", out, "--config", tmp_path / "c.toml", *base), needle)
    assert not out.exists()


def test_a_binary_config_or_grid_file(tmp_path):
    (tmp_path / "c.toml").write_bytes(b"\x89PNG\r\n\x1a\n\x93\x00\xff")
    one_line_error(cli("train", "-o", tmp_path / "x.h5", "--config", tmp_path / "c.toml"),
                   "expected the TOML config in UTF-8 text", "offset 0")
    one_line_error(cli("sweep", tmp_path / "c.toml", "-o", tmp_path / "sw"),
                   "expected the grid file in UTF-8 text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


BAD_ANALYZE = [
    (["--families", "fft"], "unknown metric family 'fft'"), (["--every", "0"], "--every"),
    (["--jobs", "0"], "--jobs"), (["--subset", "-1"], "--subset"),
    (["--steps", "a:b"], "--steps: expected A:B"), (["--steps", "5000:6000"], "no checkpoint"),
    (["--samples", "0"], "--samples"), (["--grad-samples", "1"], "--grad-samples"),
    (["--dropout-rate", "1"], "--dropout-rate"), (["--dropout-rate", "-1"], "--dropout-rate"),
    (["--dropout-passes", "0"], "--dropout-passes"), (["--basis", "circle"], "--basis"),
    (["--key-freqs", "3,x"], "--key-freqs: expected whole numbers"),
    (["--key-freqs", "12"], "--key-freqs: expected frequencies in 1..11"),
    (["--threads", "-1"], "--threads"),
    (["--basis", "multiplicative"], ""),  # P = 23 is prime: allowed; checked below for 22
]


@pytest.mark.parametrize("args, needle", [a for a in BAD_ANALYZE if a[1]])
def test_bad_analysis_options(good, tmp_path, args, needle):
    before = good.read_bytes()
    one_line_error(cli("analyze", good, "-o", tmp_path / "o", "-q", *args), needle)
    assert good.read_bytes() == before and not (tmp_path / "o" / "metrics.h5").exists()


def test_an_output_folder_that_would_overwrite_the_run(good, tmp_path):
    path = tmp_path / "metrics.h5"
    shutil.copy(good, path)
    one_line_error(cli("analyze", path, "-o", tmp_path, "-q"), "would be overwritten")


# --- data loss: resumes, writers, kills --------------------------------------------------------

def test_a_resume_never_removes_a_checkpoint(tmp_path):
    path = tmp_path / "r.h5"
    assert cli("train", "-o", path, *SMALL).exit_code == 0  # steps 0..40, 9 checkpoints
    before = path.read_bytes()
    one_line_error(cli("train", "-o", path, "--resume", "--steps", "20", "-q"),
                   "already reaches step 40", "never removes a checkpoint")
    assert path.read_bytes() == before
    r = cli("train", "-o", path, "--resume", "--steps", "40", "-q")
    assert r.exit_code == 0 and "nothing to train" in r.output
    with Run(path) as run:
        assert run.n == 9
    assert cli("train", "-o", path, "--resume", "--steps", "60", "-q").exit_code == 0
    with Run(path) as run:
        assert list(run.steps) == list(range(0, 65, 5))


RESUME_CHANGES = [  # what a resume may not change: the run's own configuration
    (["--lr", "0.1"], "lr is 0.01 in the run, 0.1 given"),
    (["--p", "29"], "p is 23 in the run, 29 given"),
    (["--op", "sub"], "op is add in the run, sub given"),
    (["--model", "transformer"], "model is mlp in the run, transformer given"),
    (["--task", "ising"], "task is modular in the run, ising given"),
    (["--n-bits", "5"], "n-bits is not a setting of its modular run"),
]


@pytest.mark.parametrize("args, needle", RESUME_CHANGES)
def test_a_resume_refuses_another_configuration(good, tmp_path, args, needle):
    path = tmp_path / "r.h5"
    shutil.copy(good, path)
    before = path.read_bytes()
    line = one_line_error(cli("train", "-o", path, "--resume", "--steps", "60", *args), needle)
    assert "only --steps and --stop-when-grokked may change" in line or "n-bits" in needle
    assert path.read_bytes() == before
    (tmp_path / "c.toml").write_text(f"{args[0][2:]} = {json.dumps(_toml_value(args[1]))}\n")
    one_line_error(cli("train", "-o", path, "--resume", "--config", tmp_path / "c.toml"), needle)
    assert path.read_bytes() == before


def _toml_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def test_a_resume_takes_the_same_settings_again(good, tmp_path):
    path = tmp_path / "r.h5"
    shutil.copy(good, path)
    r = cli("train", "-o", path, "--resume", *SMALL[:-5], "--steps", "50", "-q")
    assert r.exit_code == 0, r.output
    with Run(path) as run:
        assert run.steps[-1] == 50


def test_a_resume_with_a_config_file_that_an_option_overrides(tmp_path):
    # the file spells the key with a dash, the option's value wins, as in the run it made
    path, config = tmp_path / "r.h5", tmp_path / "c.toml"
    config.write_text("d-embed = 16\n")
    assert cli("train", "-o", path, "--config", config, *SMALL).exit_code == 0
    r = cli("train", "-o", path, "--config", config, *SMALL[:-5], "--steps", "50", "--resume")
    assert r.exit_code == 0, r.output
    with Run(path) as run:
        assert run.config.model.d_embed == 8 and run.steps[-1] == 50
    config.write_text("d-embed = 16\nd_embed = 8\n")  # both spellings: the last one wins
    assert cli("train", "-o", path, "--config", config, "--resume", "--steps", "55",
               "-q").exit_code == 0
    config.write_text("d_embed = 8\nd-embed = 16\n")
    one_line_error(cli("train", "-o", path, "--config", config, "--resume", "--steps", "60"),
                   "d-embed is 8 in the run, 16 given")


def test_a_resume_keeps_the_runs_early_stop(tmp_path):
    grokking = ["--p", "41", "--frac", "0.5", "--d-embed", "32", "--width", "128", "--every",
                "10", "--stop-when-grokked", "100", "--threads", "1", "-q"]
    full = tmp_path / "full.h5"
    assert cli("train", "-o", full, *grokking, "--steps", "3000").exit_code == 0
    with Run(full) as run:
        last = int(run.steps[-1])
    assert last < 3000  # it stopped 100 steps after grokking
    part = tmp_path / "part.h5"  # interrupted 50 steps after grokking, then resumed
    assert cli("train", "-o", part, *grokking, "--steps", str(last - 50)).exit_code == 0
    r = cli("train", "-o", part, "--resume", "--steps", "3000", "-q")
    assert r.exit_code == 0, r.output
    assert_same_contents(run_contents(full), run_contents(part))


TRAINER = """
import sys, torch
torch.set_num_threads(1)
from grokscan.cli import main
main(["train", "-o", sys.argv[1], "--p", "23", "--frac", "0.5", "--d-embed", "8", "--width",
      "16", "--steps", sys.argv[2], "--every", "1", "-q", *sys.argv[3:]])
"""


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_trainer_outlives_its_test():
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start(path, steps: int, *extra, code: str = TRAINER) -> subprocess.Popen:
    # SIGINT as a terminal delivers it: a worker of pytest-xdist ignores it, and a child
    # would inherit that (Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(steps), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    STARTED.append(proc)
    return proc


def _wait_for(path, n: int, proc, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with Run(path) as run:
                if run.n >= n:
                    return
        except Exception:  # not there yet
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {n} checkpoints")


def test_one_writer_per_file(tmp_path):
    path = tmp_path / "live.h5"
    proc = _start(path, 100000)
    try:
        _wait_for(path, 3, proc)
        before = run_contents(path)["steps"][:3]
        for args in (["--resume", "--steps", "200000"], ["--force", *SMALL]):
            line = one_line_error(cli("train", "-o", path, *args), str(path),
                                  f"is being written by process {proc.pid}")
            assert "stop it first" in line
        one_line_error(cli("repair", path), f"process {proc.pid}")
        assert proc.poll() is None  # the first writer goes on
        _wait_for(path, 6, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "checkpoints written are in" in err, err
    with h5py.File(path, "r") as f:  # closed cleanly: any HDF5 tool opens it
        np.testing.assert_array_equal(f["steps"][:3], before)
    assert not (tmp_path / "live.h5.lock").exists()


LOCK_HOLDER = """
import sys, time
from grokscan.hdf5.lock import WriterLock
lock = WriterLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""
SECOND_WRITER = """
import sys
from click.testing import CliRunner
from grokscan.cli import main
r = CliRunner().invoke(main, ["train", "-o", sys.argv[1], *sys.argv[2:]])
print(r.exit_code, "torch" in sys.modules, r.output.strip())
"""


def test_a_second_writer_is_refused_before_torch_is_imported(tmp_path):
    path = tmp_path / "live.h5"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path)],
                              stdout=subprocess.PIPE, text=True)
    STARTED.append(holder)
    assert holder.stdout.readline().strip() == "held"
    for args in ([*SMALL], ["--resume"], ["--force", *SMALL]):
        r = subprocess.run([sys.executable, "-c", SECOND_WRITER, str(path), *args],
                           capture_output=True, text=True, timeout=120)
        code, torch_loaded, line = r.stdout.split(" ", 2)
        assert (code, torch_loaded) == ("1", "False"), r.stdout + r.stderr
        assert line.startswith("Error") and f"process {holder.pid}" in line, line


def test_a_kill_at_any_moment_leaves_a_file_that_resumes_exactly(tmp_path):
    full = tmp_path / "full.h5"
    assert cli("train", "-o", full, "--p", "23", "--frac", "0.5", "--d-embed", "8", "--width",
               "16", "--steps", "120", "--every", "1", "--threads", "1", "-q").exit_code == 0
    want = run_contents(full)
    rng = np.random.default_rng(7)
    for i in range(3):
        path = tmp_path / f"killed{i}.h5"
        proc = _start(path, 120)
        _wait_for(path, 1, proc)
        time.sleep(float(rng.uniform(0.0, 0.4)))
        proc.kill()
        proc.wait()
        if not path.exists():  # killed between the .part and the first commit: nothing kept
            continue
        with Run(path) as run:
            n = run.n
            assert n >= 1 and np.all(np.diff(run.steps) == 1) and run.steps[0] == 0
        r = cli("train", "-o", path, "--resume", "--steps", "120", "--threads", "1", "-q")
        assert r.exit_code == 0, r.output
        assert_same_contents(want, run_contents(path))
        with h5py.File(path, "r") as f:  # the resume cleared what the kill left
            assert len(f["steps"]) == 121


def test_a_killed_file_opens_in_any_hdf5_tool_after_repair(tmp_path):
    path = tmp_path / "k.h5"
    proc = _start(path, 100000)
    _wait_for(path, 5, proc)
    proc.kill()
    proc.wait()
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")
    with Run(path) as run:
        n, steps = run.n, run.steps.copy()
    info = cli("info", path)
    assert info.exit_code == 0 and "grokscan repair" in info.output
    r = cli("repair", path)
    assert r.exit_code == 0 and "cleared" in r.output
    with h5py.File(path, "r") as f:  # plain HDF5, as h5web, HDFView or pandas open it
        np.testing.assert_array_equal(f["steps"][:n], steps)
    assert "nothing to repair" in cli("repair", path).output
    assert "grokscan repair" not in cli("info", path).output


def test_a_kill_before_the_first_checkpoint_keeps_what_was_there(tmp_path, good):
    path = tmp_path / "r.h5"
    shutil.copy(good, path)
    before = path.read_bytes()
    proc = _start(path, 100000, "--force")
    deadline = time.time() + 60
    while not (tmp_path / "r.h5.part").exists() and time.time() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert path.read_bytes() == before  # --force replaces a file only with a checkpoint
    fresh = tmp_path / "fresh.h5"
    proc = _start(fresh, 100000)
    while not (tmp_path / "fresh.h5.part").exists() and time.time() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert not fresh.exists()  # no empty run that every command would refuse
    assert cli("train", "-o", fresh, *SMALL).exit_code == 0  # and no --force needed after


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_keeps_every_checkpoint_and_closes_the_file(tmp_path, sig):
    """Ctrl-C, or the SIGTERM of a batch scheduler or of kill."""
    path = tmp_path / "i.h5"
    proc = _start(path, 100000)
    _wait_for(path, 4, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "continue with --resume" in err and "Traceback" not in err
    with h5py.File(path, "r") as f:
        n = int((f["steps"][()] >= 0).sum())
        assert n >= 4
    assert cli("train", "-o", path, "--resume", "--steps", str(n + 5), "-q").exit_code == 0


def test_the_default_settings_are_deterministic(tmp_path):
    """No --threads: torch's default thread count; the same seed still gives the same file."""
    args = ["--p", "31", "--frac", "0.5", "--d-embed", "16", "--width", "64", "--steps", "30",
            "--every", "10", "-q"]
    runs = []
    for name in ("a", "b"):
        r = subprocess.run([sys.executable, "-m", "grokscan", "train", "-o",
                            str(tmp_path / f"{name}.h5"), *args], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        runs.append(run_contents(tmp_path / f"{name}.h5"))
    assert_same_contents(*runs)
    with h5py.File(tmp_path / "a.h5") as f:
        assert f.attrs["deterministic"] and f.attrs["torch_threads"] >= 1
        assert f.attrs["flush_denormal"]


def test_training_flushes_subnormals_and_gives_the_setting_back(tmp_path):
    """Inside the loop a subnormal float32 becomes 0 (the CPU's slow path is never taken);
    after it the calling thread's setting is back, whichever it was."""
    import torch

    import grokscan
    from grokscan import threads
    from grokscan.training import train

    def here() -> bool:  # this thread's setting
        return float(torch.tensor(1e-39) * torch.tensor(1.0)) == 0.0

    seen = []
    cfg = grokscan.run_config(p=23, d_embed=8, width=16, steps=3, every=1)
    for before in (False, True):
        torch.set_flush_denormal(before)
        try:
            train(cfg, tmp_path / f"{before}.h5", quiet=True,
                  on_checkpoint=lambda ck: seen.append(threads.flushing()) or False)
            assert here() is before
        finally:
            torch.set_flush_denormal(False)
    assert seen == [True] * 8  # 4 checkpoints a run


# torch's worker threads take the setting from the thread that starts them
FLUSH_PROBE = """
import sys, torch
from grokscan import threads
torch.set_num_threads(2)
if sys.argv[1] == "late":
    torch.ones(1 << 20).mul(2.0)  # the workers start, not flushing
torch.set_flush_denormal(True)
print(threads.flushing())
"""


@pytest.mark.parametrize("when, expected", [("early", "True"), ("late", "False")])
def test_flushing_sees_every_worker_thread(when, expected):
    """The probe is true only when the worker threads flush too: set before they start, they
    do; set on the calling thread after they started, they do not."""
    r = subprocess.run([sys.executable, "-c", FLUSH_PROBE, when], capture_output=True,
                       text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected


def test_a_run_with_two_threads_flushes_on_every_thread(tmp_path):
    r = subprocess.run([sys.executable, "-m", "grokscan", "train", "-o", str(tmp_path / "a.h5"),
                        "--p", "23", "--steps", "20", "--every", "10", "--threads", "2", "-q"],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "a.h5") as f:
        assert f.attrs["flush_denormal"]


def _tmpfs(tmp_path, size: str):
    """A small tmpfs mounted under tmp_path (root only), or a skip with the reason."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    return mnt


def test_a_full_disk_ends_in_one_line_and_keeps_every_checkpoint(tmp_path, good):
    mnt = _tmpfs(tmp_path, "1600k")
    try:
        path = mnt / "run.h5"
        r = subprocess.run([sys.executable, "-m", "grokscan", "train", "-o",
                            str(path), "--p", "41", "--frac", "0.5", "--d-embed", "32",
                            "--width", "128", "--steps", "400", "--every", "10", "--threads",
                            "1", "-q"], capture_output=True, text=True, timeout=300)
        err = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(err) == 1, r.stderr[-2000:]
        assert "no space left on the device" in err[0] and str(path) in err[0]
        kept = int(err[0].split("; the ")[1].split()[0])
        with h5py.File(path, "r") as f:  # closed cleanly, every checkpoint it names intact
            assert len(f["steps"]) == kept > 0 and (f["steps"][()] >= 0).all()
            assert np.isfinite(f["params/embed.W_E"][()]).all()
        r = subprocess.run([sys.executable, "-m", "grokscan", "analyze", str(good),
                            "-o", str(mnt / "out"), "-q"], capture_output=True, text=True,
                           timeout=300)
        # the error is one line; an MLP's run also names the family it leaves out (attention)
        err = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("left out ")]
        assert r.returncode == 1 and len(err) == 1 and "no space left" in err[0].lower(), err
        leftovers = [p.name for p in (mnt / "out").iterdir()] if (mnt / "out").exists() else []
        assert not [n for n in leftovers if n.endswith((".tmp", ".part"))], leftovers
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# --- the fuzz pass -----------------------------------------------------------------------------

FUZZ_JUDGE = '''
def judge(r, codes):
    """How a command run by click's CliRunner ended: "clean" when it raised nothing but the
    CLI's own exit, with one of ``codes``, a failure in one line starting "Error"; else what
    happened. (CliRunner keeps an uncaught exception in ``r.exception``, never a traceback in
    ``r.output``: looking for "Traceback" there finds nothing.)"""
    e = r.exception
    if e is not None and not isinstance(e, SystemExit):
        return f"uncaught {type(e).__name__}: {e}"[:300]
    if r.exit_code not in codes:
        return f"exit {r.exit_code}: {r.output[-300:]}"
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error")]
    if r.exit_code == 1 and len(errors) != 1:
        return f"exit 1 without one line of error: {r.output[-300:]}"
    return "clean"
'''
FUZZ_WORKER = FUZZ_JUDGE + """
import json, sys
from click.testing import CliRunner
from grokscan.cli import main
for line in sys.stdin:
    args, codes = json.loads(line)
    print(json.dumps(judge(CliRunner().invoke(main, args), codes)), flush=True)
"""
CLEAN = (0, 1)  # a command on a damaged file: it reads it (0), or refuses it in one line (1)


def test_the_fuzz_judge_sees_an_uncaught_exception():
    import click
    from click.testing import CliRunner

    space: dict = {}
    exec(FUZZ_JUDGE, space)
    judge = space["judge"]

    @click.command()
    @click.argument("what")
    def crash(what):
        if what == "raise":
            raise ValueError("an uncaught exception")
        raise click.ClickException("a file that is not one")

    r = CliRunner().invoke(crash, ["raise"])
    assert "Traceback" not in r.output and r.exit_code == 1  # the old test called this clean
    assert judge(r, CLEAN) == "uncaught ValueError: an uncaught exception"
    assert judge(CliRunner().invoke(crash, ["refuse"]), CLEAN) == "clean"
    assert judge(CliRunner().invoke(crash, ["refuse"]), (0,)).startswith("exit 1")


def _flips(data: bytes, n: int, seed: int):
    """``n`` seeded copies of ``data`` with 1 to 16 bytes set at random."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        bad = bytearray(data)
        for at in rng.integers(0, len(bad), int(rng.integers(1, 17))):
            bad[at] = int(rng.integers(0, 256))
        yield bytes(bad)


def _fuzz(runs) -> list:
    """Run each (label, args, codes) in a worker process (a new one after a hang of 60 s or a
    crash); the runs that did not end cleanly."""
    worker, bad = _fuzz_worker(), []
    for label, args, codes in runs:
        outcome, worker = _fuzz_one(worker, [str(a) for a in args], codes)
        if outcome != "clean":
            bad.append((label, outcome))
    worker.kill()
    return bad


@pytest.mark.slow
def test_fuzz_byte_flips_through_info_and_analyze(good, tmp_path):
    """Seeded byte flips of a small valid file: every one ends with a clean exit (0, or 1 and
    one line, no uncaught exception), none hangs (60 s each) or crashes the interpreter."""
    def runs():
        for i, bad in enumerate(_flips(good.read_bytes(), 150, 2026)):
            path = tmp_path / f"fuzz{i}.h5"
            path.write_bytes(bad)
            yield f"info {i}", ["info", path], CLEAN
            yield f"analyze {i}", ["analyze", path, "-o", tmp_path / f"o{i}", "--families",
                                   "norms,fourier", "-q"], CLEAN

    bad = _fuzz(runs())
    assert not bad, bad[:10]


@pytest.mark.slow
def test_fuzz_byte_flips_of_a_metrics_file_through_report(reported, tmp_path):
    def runs():
        for i, bad in enumerate(_flips((reported / "metrics.h5").read_bytes(), 150, 7)):
            out = tmp_path / f"o{i}"
            out.mkdir()
            (out / "metrics.h5").write_bytes(bad)
            yield f"report {i}", ["report", out, "-q"], CLEAN

    bad = _fuzz(runs())
    assert not bad, bad[:10]


@pytest.mark.slow
def test_fuzz_byte_flips_of_a_sweeps_files_through_status_and_report(tmp_path):
    from grokscan.sweep import synthetic

    src = tmp_path / "S"
    synthetic.make(src, {"wd": [0.1, 1.0], "frac": [0.3, 0.5]}, 2, lambda p: "grokking")

    def runs():
        for name in ("points.json", "summary.csv"):
            for i, bad in enumerate(_flips((src / name).read_bytes(), 75, 11)):
                s = tmp_path / f"{name}{i}"
                shutil.copytree(src, s)
                (s / name).write_bytes(bad)
                yield f"status {name} {i}", ["sweep", "status", s], CLEAN
                yield f"report {name} {i}", ["sweep", "report", s, "-q"], CLEAN

    bad = _fuzz(runs())
    assert not bad, bad[:10]


def _fuzz_worker() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", FUZZ_WORKER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _fuzz_one(worker, args, codes) -> tuple[str, subprocess.Popen]:
    import select

    worker.stdin.write(json.dumps([args, list(codes)]) + "\n")
    worker.stdin.flush()
    ready, _, _ = select.select([worker.stdout], [], [], 60)
    if not ready:
        worker.kill()
        return "hang", _fuzz_worker()
    line = worker.stdout.readline()
    if not line:  # the interpreter died
        return f"crash {worker.wait()}", _fuzz_worker()
    return json.loads(line), worker


@pytest.mark.slow
def test_kills_of_the_default_model_leave_files_that_resume_exactly(tmp_path):
    """The default MLP (194 k parameters: a 2.3 MB resume state, the largest write of a
    checkpoint), killed six times at random moments while checkpointing every step."""
    args = ["--steps", "60", "--every", "1", "--threads", "1", "-q"]
    full = tmp_path / "full.h5"
    assert cli("train", "-o", full, *args).exit_code == 0
    want = run_contents(full)
    code = TRAINER.replace('"--p", "23", "--frac", "0.5", "--d-embed", "8", "--width",\n'
                           '      "16", ', "")
    rng = np.random.default_rng(11)
    for i in range(6):
        path = tmp_path / f"k{i}.h5"
        proc = _start(path, 60, code=code)
        _wait_for(path, 2, proc)
        time.sleep(float(rng.uniform(0.0, 1.0)))
        proc.kill()
        proc.wait()
        r = cli("train", "-o", path, "--resume", "--steps", "60", "--threads", "1", "-q")
        assert r.exit_code == 0, r.output
        assert_same_contents(want, run_contents(path))


# --- more options: analyze, watch, import, onset evaluate --------------------------------------

BAD_MORE_ANALYZE = [
    (["--families", ""], "--families: expected metric families separated by commas, got ''"),
    (["--families", "norms,norms"], "--families: expected each family once, got norms twice"),
    (["--steps", ":"], "--steps: expected A:B, A: or :B with at least one bound, got ':'"),
    (["--key-freqs", ""], "--key-freqs: expected whole numbers separated by commas, got ''"),
    (["--key-freqs", "3,3"], "--key-freqs: expected each frequency once, got 3 twice"),
    (["--llc-gamma", "nan"], "'--llc-gamma': expected a finite number, got nan"),
    (["--llc-nbeta", "nan"], "'--llc-nbeta': expected a finite number, got nan"),
    (["--llc-nbeta", "inf"], "'--llc-nbeta': expected a finite number, got inf"),
    (["--llc-seed", "-1"], "'--llc-seed': -1 is not in the range 0<=x<=9223372036854775807"),
    (["--llc-seed", str(2**70)], f"'--llc-seed': {2**70} is not in the range 0<=x<="),
]


@pytest.mark.parametrize("args, needle", BAD_MORE_ANALYZE)
def test_more_bad_analysis_options(good, tmp_path, args, needle):
    before = good.read_bytes()
    one_line_error(cli("analyze", good, "-o", tmp_path / "o", "-q", *args), needle)
    assert good.read_bytes() == before and not (tmp_path / "o" / "metrics.h5").exists()


def test_key_frequencies_of_a_run_without_residues(tmp_path):
    path = tmp_path / "ising.h5"
    r = cli("train", "-o", path, "--task", "ising", "--steps", "20", "--every", "10",
            "--width", "16", "--depth", "2", "--threads", "1", "-q")
    assert r.exit_code == 0, r.output
    one_line_error(cli("analyze", path, "-o", tmp_path / "o", "-q", "--key-freqs", "3"),
                   "--key-freqs: expected a run on residues mod P, got a run of the ising task")
    assert not (tmp_path / "o" / "metrics.h5").exists()


NOT_FINITE = [  # click.FloatRange lets NaN through, and inf where the range is open above
    (["watch", "{run}", "--interval", "nan"], "'--interval': expected a finite number, got nan"),
    (["watch", "{run}", "--timeout", "inf"], "'--timeout': expected a finite number, got inf"),
    (["ising", "sample", "--T", "nan"], "'--T': expected a finite number, got nan"),
    (["sweep", "run", "{run}", "-o", "{tmp}/S", "--timeout", "nan"],  # refused before the
     "'--timeout': expected a finite number, got nan"),  # grid file (here the run) is read
]


@pytest.mark.parametrize("args, needle", NOT_FINITE)
def test_numbers_that_are_not_finite(good, tmp_path, args, needle):
    before = good.read_bytes()
    one_line_error(cli(*(a.format(run=good, tmp=tmp_path) for a in args)), needle)
    assert good.read_bytes() == before and not (tmp_path / "S").exists()


def test_train_pairs_that_are_not_integers(tmp_path):
    import torch
    from importers.source_models import P, tl_state_dict

    torch.save(tl_state_dict(0), tmp_path / "model.pt")
    pairs = tmp_path / "train.npy"
    np.save(pairs, np.array([[a + 0.5, b] for a in range(P) for b in range(P) if (a + b) % 3]))
    out = tmp_path / "x.h5"
    r = cli("import", tmp_path / "model.pt", "-o", out, "--op", "add", "--activation", "relu",
            "--train-pairs", pairs)
    one_line_error(r, f"{pairs}: expected integer train pairs, got float64 values")
    assert not out.exists()


def test_onset_evaluate_on_a_sweep_with_a_damaged_run_file(tmp_path):
    grid = tmp_path / "g.toml"
    grid.write_text("p = 23\nd_embed = 8\nwidth = 16\nsteps = 20\nevery = 10\nlr = 1e-2\n"
                    "seeds = 1\n[axes]\nwd = [0.5, 1.0]\n")
    sweep = tmp_path / "S"
    r = cli("sweep", grid, "-o", sweep, "--jobs", "1", "-q")
    assert r.exit_code == 0, r.output
    damaged = sorted(sweep.glob("runs/*/run.h5"))[0]
    assert (damaged.parent / "metrics.h5").exists()  # its analysis is there, the run is not
    damaged.write_bytes(np.random.default_rng(0).bytes(4000))
    one_line_error(cli("onset", "evaluate", sweep, "-q"), f"{damaged} is not an HDF5 file")
    assert not (sweep / "onset.csv").exists()


# --- size bombs and hangs: ising, parity, sweep ------------------------------------------------

OPTION_BOMBS = {  # options that ask for far more memory than a machine has: {name: (args, needles)}
    "ising sample --L 100000": (
        ["ising", "sample", "--T", "2", "--L", "100000"], ("even integer in [2, 4096]",
                                                          "got 100000")),
    "ising sample --n 10^9": (
        ["ising", "sample", "--T", "2", "--n", "1000000000"], ("would need 954 GiB",
                                                               "at most 1 GiB")),
    "ising generate --L 100000": (
        ["ising", "generate", "--L", "100000", "--n-train", "4", "--n-test", "4", "-q"],
        ("even integer in [2, 4096]", "got 100000")),
    "ising generate --n-train 4 * 10^9": (
        ["ising", "generate", "--n-train", "4000000000", "-q"],
        ("n_train = 4000000000 and n_test = 1000 lattices of 8 × 8 spins would need 4.05e+03 "
         "GiB", "at most 1 GiB")),
    "train --task parity of 2^35 input bits": (
        ["train", "--task", "parity", "--n-bits", "4096", "--n-train", "4194304", "--n-test",
         "4194304", *BASE], ("would be 34359738368 input bits", "at most 268435456")),
}


def test_option_size_bombs_are_refused_before_anything_is_allocated(tmp_path):
    runs, outs = [], []
    for i, (args, _) in enumerate(OPTION_BOMBS.values()):
        outs.append(tmp_path / (f"o{i}.npy" if args[1] == "sample" else f"o{i}.h5"))
        runs.append([*args, "-o", str(outs[-1])])
    r = subprocess.run([sys.executable, "-c", BOMB_RUNNER, json.dumps(runs)], timeout=300,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    for (code, output, exc), (name, (_, needles)) in zip(json.loads(r.stdout),
                                                         OPTION_BOMBS.items()):
        assert code == 1 and "Traceback" not in output and "MemoryError" not in exc, (name,
                                                                                     output)
        line = [ln for ln in output.splitlines() if ln.startswith("Error")]
        assert len(line) == 1 and all(n in line[0] for n in needles), (name, output)
    assert not list(tmp_path.iterdir())  # no output, not even a lock or a partial file


def test_the_size_limits_are_inclusive(tmp_path, monkeypatch):
    from grokscan.sweep import grid
    from grokscan.tasks import parity
    from grokscan.tasks.ising import physics

    monkeypatch.setattr(physics, "MAX_SPINS", 16 * 8 * 8)
    assert physics.sample(8, 2.0, 16, rounds=1).shape == (16, 8, 8)
    with pytest.raises(GrokscanError, match="17 lattices of 8 × 8 spins would need"):
        physics.sample(8, 2.0, 17, rounds=1)
    monkeypatch.setattr(parity, "MAX_ELEMENTS", 100 * 10)
    cfg = dict(n_bits=10, k=3, n_test=50)
    assert parity.make(parity.ParityConfig(n_train=50, **cfg), 0).x.shape == (100, 10)
    with pytest.raises(GrokscanError, match="101 examples of --n-bits 10 would be 1010"):
        parity.make(parity.ParityConfig(n_train=51, **cfg), 0)
    path = tmp_path / "grid.toml"
    for n, ok in ((grid.MAX_POINTS // 2, True), (grid.MAX_POINTS // 2 + 1, False)):
        path.write_text(f"seeds = 2\n[sample]\nn = {n}\nlr = {{uniform = [1e-3, 1e-2]}}\n")
        if ok:
            assert grid.load(path).sample.n == n
        else:
            with pytest.raises(GrokscanError, match=f"{2 * n} points = 2 \\(seeds\\) × {n}"):
                grid.load(path)


def test_onsager_at_a_tiny_temperature_is_the_ground_state_without_overflow():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning fails the run
        r = cli("ising", "sample", "--T", "1e-9", "--L", "8", "--n", "4", "--json")
    assert r.exit_code == 0, (r.output, r.exception)
    out = json.loads(r.output)
    assert (out["onsager_abs_m"], out["onsager_energy"]) == (1.0, -2.0)
    assert (out["abs_m"], out["energy"]) == (1.0, -2.0)  # every lattice in a ground state


SWEEP_HANGS = {  # grid files whose points would take minutes and gigabytes to expand
    "[sample] n = 10^9": ("p = 23\n[sample]\nn = 1000000000\nlr = {uniform = [1e-3, 1e-2]}\n",
                          "1000000000 points = 1000000000 (sample.n)"),
    "six axes of ten values": (
        "p = 23\n[axes]\n" + "".join(f"{k} = {[v / 100 for v in range(1, 11)]}\n" for k in
                                     ("lr", "wd", "frac", "beta1", "dropout", "init-scale")),
        "1000000 points = 10 (axes.lr) × 10 (axes.wd)"),
    "seeds = 10^18": ("p = 23\nseeds = 1000000000000000000\n",  # counted before made
                      "1000000000000000000 points = 1000000000000000000 (seeds)"),
}


def _address_space(limit: int):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.parametrize("case", SWEEP_HANGS)
def test_a_huge_grid_is_refused_before_its_points_are_made(tmp_path, case):
    text, needle = SWEEP_HANGS[case]
    (tmp_path / "grid.toml").write_text(text)
    r = subprocess.run([sys.executable, "-m", "grokscan", "sweep", str(tmp_path / "grid.toml"),
                        "-o", str(tmp_path / "sweep")], timeout=60, capture_output=True,
                       text=True, preexec_fn=_address_space(3 << 30))
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.startswith("Error")]
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(lines) == 1 and needle in lines[0] and "at most 100000" in lines[0], lines
    assert not (tmp_path / "sweep").exists()


def _blank(columns):
    """Empty the ``columns`` (a callable on the table: which rows) of a summary.csv."""
    def edit(df):
        for c, rows in columns.items():
            df.loc[rows(df), c] = np.nan
        return df
    return edit


NUMBERS = ("step_train_0.9", "step_test_0.9", "step_train_0.99", "step_test_0.99", "delay",
           "final_test_acc")
SWEEP_SUMMARIES = {  # {name: (edit of summary.csv, what the page says or None: an error)}
    "a header only": (lambda df: df.iloc[:0], None),
    "wd empty in half the rows": (_blank({"wd": lambda df: df.index < 4}),
                                  "wd: 4 of 8 rows have no value; they are left out"),
    "wd empty in every row": (_blank({"wd": lambda df: df.index >= 0}),
                              "wd: no row has a value; no figure over it"),
    "every number empty": (_blank({c: lambda df: df.index >= 0 for c in NUMBERS}),
                           "0 of 8 finished runs reached test accuracy 0.9"),
}


@pytest.mark.parametrize("case", SWEEP_SUMMARIES)
def test_a_summary_with_no_rows_or_empty_values(tmp_path, case):
    import pandas as pd

    from grokscan.sweep import synthetic

    edit, says = SWEEP_SUMMARIES[case]
    synthetic.make(tmp_path, {"wd": [0.1, 1.0], "frac": [0.3, 0.5]}, 2, lambda p: "grokking")
    csv = tmp_path / "summary.csv"
    edit(pd.read_csv(csv)).to_csv(csv, index=False)
    r = cli("sweep", "report", tmp_path, "-q")
    if says is None:
        one_line_error(r, str(csv), "no runs in it")
        assert not (tmp_path / "report.html").exists() and not (tmp_path / "figures").exists()
        return
    assert r.exit_code == 0 and not r.output, (r.output, r.exception)
    page = (tmp_path / "report.html").read_text()
    assert says in page
    drawn = {p.stem for p in (tmp_path / "figures").iterdir()}
    assert ("time_to_grok_wd" in drawn) == (case != "wd empty in every row")
    assert {"phase_diagram", "time_to_grok_frac"} <= drawn


def test_a_summary_without_the_column_of_a_varied_key(tmp_path):
    import pandas as pd

    from grokscan.sweep import synthetic

    synthetic.make(tmp_path, {"wd": [0.1, 1.0], "frac": [0.3, 0.5]}, 2, lambda p: "grokking")
    csv = tmp_path / "summary.csv"
    pd.read_csv(csv).drop(columns=["wd"]).to_csv(csv, index=False)
    one_line_error(cli("sweep", "report", tmp_path, "-q"), f"{csv}: no column 'wd'",
                   "one per varied key of points.json (wd, frac, seed)")
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "figures").exists()


# --- repair of damaged files ------------------------------------------------------------------
# HDF5's SWMR reader retries a read whose checksum fails, sleeping twice as long each time
# (hdf5/superblock.py): an open of such a file never returned. Each damaged file goes
# through repair and every command that reads a run, in one interpreter under a time limit.

def _as_if_killed(path) -> None:
    """Set the superblock's flags as a killed SWMR writer leaves them (checksum rewritten)."""
    from grokscan.hdf5.superblock import lookup3

    raw = bytearray(path.read_bytes())
    raw[11] = 0x5
    raw[44:48] = lookup3(bytes(raw[:44])).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")


def _flip_checksum(path) -> None:
    raw = bytearray(path.read_bytes())
    raw[45] ^= 0xFF  # a byte of the checksum, bytes 44..47 of a version-3 superblock
    path.write_bytes(bytes(raw))


DAMAGED = {
    # name: (make it from a copy of the good file, needle)
    "superblock checksum": (_flip_checksum, "the HDF5 superblock checksum does not match"),
    "killed, then its superblock checksum": (lambda p: (_as_if_killed(p), _flip_checksum(p)),
                                             "the HDF5 superblock checksum does not match"),
    "truncated inside the superblock": (lambda p: p.write_bytes(p.read_bytes()[:30]),
                                        "is truncated inside its HDF5 superblock"),
    "killed, then truncated": (lambda p: (_as_if_killed(p), p.write_bytes(p.read_bytes()[:6000])),
                               "is truncated (truncated file: eof = 6000"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_file_is_refused_at_once_by_repair_and_every_reader(good, tmp_path, case):
    make, needle = DAMAGED[case]
    path = tmp_path / "run.h5"
    shutil.copy(good, path)
    make(path)
    before = path.read_bytes()
    runs = [["repair", path], *(c(path, tmp_path) for c in COMMANDS.values())]
    runs = [[str(a) for a in args] for args in runs]
    try:
        r = subprocess.run([sys.executable, "-c", BOMB_RUNNER, json.dumps(runs)], timeout=120,
                           capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case}: repair, info, analyze, factor and resume did not end in 120 s")
    assert r.returncode == 0, r.stderr[-3000:]
    for (code, output, exc), args in zip(json.loads(r.stdout), runs):
        lines = [ln for ln in output.splitlines() if ln.startswith("Error")]
        assert code == 1 and "Traceback" not in output and len(lines) == 1, (args, output, exc)
        assert lines[0].startswith(f"Error: {path}") and needle in lines[0], (args, lines[0])
    assert path.read_bytes() == before
    assert not (tmp_path / "out" / "metrics.h5").exists()


# --- results that change silently ---------------------------------------------------------------

def test_a_resume_with_nothing_to_train_leaves_the_file_byte_identical(good, tmp_path):
    """It used to drop the last /onset row (the detector's record was cut back to the last
    checkpoint on reopening) before finding there was nothing to train."""
    path = tmp_path / "r.h5"
    shutil.copy(good, path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    r = cli("train", "-o", path, "--resume", "--steps", "40", "-q")
    assert r.exit_code == 0 and "nothing to train" in r.output, r.output
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]  # no lock left either


def test_a_stale_analysis_is_not_reported_as_done(tmp_path):
    """A sweep killed after resuming a lengthened run, before analysing it again, left the
    metrics.h5 of the shorter run; the next sweep marked the point skipped and kept it."""
    from grokscan.config import resolve
    from grokscan.store.metrics import MetricsFile
    from grokscan.sweep.paths import run_file
    from grokscan.sweep.worker import Job, run_point

    base = dict(p=23, frac=0.5, d_embed=8, width=16, every=5)

    def job(steps):
        return Job("wd=1", {"wd": 1.0}, resolve({**base, "steps": steps}).to_json(),
                   str(tmp_path))

    assert run_point(job(20))["status"] == "done"  # trained and analysed to step 20
    path = run_file(tmp_path, "wd=1")
    # the grid asks for 40 steps: the sweep resumed the run, then was killed
    assert cli("train", "-o", path, "--resume", "--steps", "40", "-q").exit_code == 0
    row = run_point(job(40))
    assert (row["status"], row["action"]) == ("done", "skipped"), row
    with MetricsFile(os.path.dirname(path)) as m:
        assert m.run_steps[-1] == m.steps[-1] == 40  # analysed again, to the last step
        assert row["key_freqs"] == " ".join(map(str, m.key_freqs["add"]))


WATCHED = """
import sys, torch
torch.set_num_threads(1)
from grokscan.cli import main
main(["train", "-o", sys.argv[1], "--p", "23", "--frac", "0.5", "--d-embed", "8", "--width",
      "16", "--steps", "3000", "--every", "1", "--threads", "1", "-q"])
"""


def test_watch_tells_a_killed_writer_from_a_run_that_ended(tmp_path):
    """SIGKILL of the trainer looked like the end of the run ("ended", exit 0)."""
    path = tmp_path / "live.h5"
    proc = _start(path, 3000, code=WATCHED)
    _wait_for(path, 3, proc)
    killer = threading.Timer(1.5, proc.kill)
    killer.start()
    try:
        r = cli("watch", path, "--interval", "0.1", "--timeout", "60")
    finally:
        killer.cancel()
    proc.wait()
    with Run(path) as run:
        last = int(run.steps[-1])
    assert last < 3000
    one_line_error(r, str(path), f"stopped: the writer is gone at step {last} of 3000",
                   "--resume")
    assert "summary" in r.output  # the summary still comes first


def test_watch_of_a_killed_writer_at_its_last_step_is_an_end(good, tmp_path):
    """A writer killed after committing the config's last step leaves its flags set, but its
    run ended."""
    path = tmp_path / "done.h5"
    shutil.copy(good, path)
    _as_if_killed(path)
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path)],
                              stdout=subprocess.PIPE, text=True)
    STARTED.append(holder)
    assert holder.stdout.readline().strip() == "held"
    threading.Timer(1.0, holder.kill).start()
    r = cli("watch", path, "--interval", "0.1", "--timeout", "60")
    assert r.exit_code == 0 and "Error" not in r.output, r.output


def _report_fig_names(out) -> list[str]:
    return sorted(p.name for p in (out / "figures").iterdir())


REPORTER = """
import sys
from grokscan.cli import main
main(["report", sys.argv[1], "-q"])
"""


def test_a_killed_report_leaves_the_earlier_one_whole(reported, tmp_path):
    """A kill during a report over an older one left the old page with some of its figures
    deleted; now the new figures are written beside the old and swapped in at the end."""
    out = tmp_path / "OUT"
    shutil.copytree(reported, out)
    before = tree(out)
    proc = subprocess.Popen([sys.executable, "-c", REPORTER, str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    STARTED.append(proc)
    staged = out / f"figures.{proc.pid}.tmp"
    deadline = time.time() + 120
    while not (staged.is_dir() and any(staged.iterdir())) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    left = tree(out)
    assert {k: v for k, v in left.items() if not k.startswith(staged.name)} == before
    r = cli("report", out, "-q")  # the next report removes what the killed one left
    assert r.exit_code == 0, r.output
    assert not staged.exists() and _report_fig_names(out) == _report_fig_names(reported)


def test_a_report_removes_only_its_own_stale_temporary_files(reported, tmp_path):
    out = tmp_path / "OUT"
    shutil.copytree(reported, out)
    dead = _dead_pid()
    (out / f"report.html.{dead}.tmp").write_text("half a page")
    (out / f"figures.{dead}.tmp").mkdir()
    (out / f"figures.{dead}.tmp" / "training_curves.png").write_bytes(b"half")
    (out / f"figures.{dead}.old").mkdir()
    keep = [f"report.html.{os.getppid()}.tmp",  # a live process's: another report now
            f"report.html.{dead}.tmp.mine", "notes.tmp", f"figures.{dead}.tmp.txt"]
    for name in keep:
        (out / name).write_text("not grokscan's to remove")
    (tmp_path / f"report.html.{dead}.tmp").write_text("outside the output folder")
    outside = tree(tmp_path / f"report.html.{dead}.tmp")
    r = cli("report", out, "-q")
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["figures", "metrics.csv", "metrics.h5", "report.html", *keep])
    assert tree(tmp_path / f"report.html.{dead}.tmp") == outside


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- metrics.h5 that the report refused with a traceback, or looped on ----------------------------

@pytest.fixture(scope="module")
def reported(good, tmp_path_factory):
    """OUT/ of `grokscan analyze` on the small run: metrics.h5, the report and its figures."""
    out = tmp_path_factory.mktemp("reported") / "OUT"
    r = cli("analyze", good, "-o", out, "--families", "norms,fourier,neurons", "-q")
    assert r.exit_code == 0 and (out / "report.html").exists(), r.output
    return out


def _attrs(**attrs):
    def craft(path):
        with h5py.File(path, "r+") as f:
            f.attrs.update(attrs)
    return craft


def _dataset(name, make):
    def craft(path):
        with h5py.File(path, "r+") as f:
            n = len(f["steps"])
            del f[name]
            make(f, name, n)
    return craft


def _bytes(old: bytes, new: bytes, count: int = 1):
    def craft(path):
        raw = path.read_bytes()
        assert raw.count(old) >= count
        path.write_bytes(raw.replace(old, new, count))
    return craft


def _steps_at(name, row, value):
    def craft(path):
        with h5py.File(path, "r+") as f:
            f[name][row] = value
    return craft


BAD_METRICS = {  # name: (craft OUT/metrics.h5, what the one line says)
    "steps that repeat (the report looped)": (
        _steps_at("steps", 3, 10), "/steps does not increase (step 10 after 10, row 3)"),
    "run steps that repeat": (_steps_at("run/steps", 2, 0), "/run/steps does not increase"),
    "steps that are NaN": (
        _dataset("steps", lambda f, k, n: f.create_dataset(k, data=np.full(n, np.nan))),
        "/steps: expected whole steps, one a row, got float64"),
    "a scalar of text": (
        _dataset("scalars/train_acc", lambda f, k, n: f.create_dataset(
            k, data=np.array([b"x"] * n))), "/scalars/'train_acc': expected 9 numbers"),
    "damaged metadata (a dataspace larger than its maximum)": (
        _bytes(struct.pack("<QQ", 9, 9), struct.pack("<QQ", 127, 9)),
        "is damaged: Unable to synchronously open object (dataspace dim 0 size of 127"),
    "damaged metadata (a name that is not UTF-8)": (
        _bytes(b"weight_norm", b"w\xe5ight_norm"), "is damaged: 'utf-8' codec can't decode"),
    "ops with an operation twice": (_attrs(ops='["add", "add"]'), "ops: expected each "
                                    "operation once"),
    "key_freqs of text": (_attrs(key_freqs='{"add": ["x"]}'),
                          "key_freqs: expected frequencies in 1..11 (P = 23), got ['x']"),
    "key_freqs above P/2": (_attrs(key_freqs='{"add": [12]}'),
                            "key_freqs: expected frequencies in 1..11"),
    "task a list": (_attrs(task="[1]"), "task: expected an object of kind, line"),
    "task whose line is a number": (
        _attrs(task='{"kind": "modular", "line": 3}'), "task: expected an object of kind"),
    "families a number": (_attrs(families="3"), "families: expected a list of names, got 3"),
    "families of numbers": (_attrs(families="[1]"), "families: expected a list of names"),
    "left_out a list": (_attrs(left_out="[1]"), "left_out: expected an object of texts"),
    "config a list": (_attrs(config="[1]"), "config: expected a JSON object, got [1]"),
    "config with a bad value": (
        _attrs(config='{"model": {"init_scale": "big"}}'),
        "config: model.init_scale: expected a number, got 'big'"),
    "p = 10^12 (a MemoryError)": (
        _attrs(p=10**12), "p: expected 0 (no residues) or a modulus in [2, 4096], got "
                          "1000000000000"),
    "a multiplicative basis of a P that is not prime": (
        _attrs(p=22, basis="multiplicative"),
        "basis: the multiplicative basis needs a prime modulus, got P = 22"),
    "basis unknown": (_attrs(basis="circle"), "basis: expected additive or multiplicative"),
    "source a number": (_attrs(source=5), "source: expected text, got 5"),
    "JSON nested too deeply": (_attrs(families="[" * 100000 + "]" * 100000),
                               "families: JSON nested too deeply"),
}


@contextmanager
def _time_limit(seconds: int):
    """A TimeoutError after ``seconds`` (a command that loops fails instead of hanging)."""
    def stop(sig, frame):
        raise TimeoutError(f"no answer in {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("case", BAD_METRICS)
def test_a_bad_metrics_file_is_refused_before_the_report_writes(reported, tmp_path, case):
    craft, needle = BAD_METRICS[case]
    out = tmp_path / "OUT"
    shutil.copytree(reported, out)
    craft(out / "metrics.h5")
    before = tree(tmp_path)
    with _time_limit(60):
        r = cli("report", out, "-q")
    one_line_error(r, str(out / "metrics.h5"), needle)
    assert tree(tmp_path) == before  # the earlier report and its figures are as they were


def test_a_named_datatype_is_no_traceback(good, reported, tmp_path):
    """A byte flip can turn an object header into a named datatype, which grokscan never
    writes: the check for links to other files iterated it as a group (a TypeError)."""
    from grokscan.store.metrics import MetricsFile

    path = tmp_path / "run.h5"
    shutil.copy(good, path)
    shutil.copy(reported / "metrics.h5", tmp_path / "metrics.h5")
    for name in (path, tmp_path / "metrics.h5"):
        with h5py.File(name, "r+") as f:
            f["named"] = np.dtype("f8")
    r = cli("info", path)
    assert r.exit_code == 0 and r.exception is None, (r.output, r.exception)
    with MetricsFile(tmp_path) as m:
        assert m.steps[-1] == 40


# --- sweep folders, grid files and options ------------------------------------------------------

def _points(edit):
    def craft(s):
        doc = json.loads((s / "points.json").read_text())
        edit(doc)
        (s / "points.json").write_text(json.dumps(doc))
    return craft


def _summary(edit):
    def craft(s):
        import pandas as pd

        df = pd.read_csv(s / "summary.csv")
        edit(df).to_csv(s / "summary.csv", index=False)
    return craft


def _column(name, value):
    def edit(df):
        df[name] = value
        return df
    return edit


BAD_SWEEP_FILES = {  # name: (craft SWEEP/, what the one line says)
    "a base that is a list": (_points(lambda d: d.update(base=[1])),
                              "points.json: expected base: an object of settings, got [1]"),
    "a base with a bad value": (_points(lambda d: d.update(base={"p": "x"})),
                                "points.json: base: task.p: expected an integer, got 'x'"),
    "a phase rule that is a list": (_points(lambda d: d.update(phase=[1])),
                                    "points.json: phase: expected a table [phase]"),
    "a phase rule of an unknown key": (_points(lambda d: d.update(phase={"zzz": 1})),
                                       "points.json: phase: expected a table [phase]"),
    "a phase fit of text": (_points(lambda d: d.update(phase={"fit": "x"})),
                            "points.json: phase.fit: expected one of 0.5, 0.7"),
    "a phase fit of 7": (_points(lambda d: d.update(phase={"fit": 7})),
                         "points.json: phase.fit: expected one of"),
    "a grid that is a number": (_points(lambda d: d.update(grid=5)),
                                "points.json: expected grid: the grid file's path, got 5"),
    "a varied key twice": (_points(lambda d: d.update(varied=["wd", "wd", "frac", "seed"])),
                           "points.json: expected varied: each key once"),
    "params without a varied key": (_points(lambda d: d["points"][0]["params"].pop("wd")),
                                    "points.json: expected points: params: a value of each"),
    "params of an object": (_points(lambda d: d["points"][0]["params"].update(wd={})),
                            "points.json: expected points: params: a value of each"),
    "a point named twice": (
        _points(lambda d: d["points"][1].update(name=d["points"][0]["name"])),
        "points.json: expected points: each name once"),
    "points.json nested too deeply": (
        lambda s: (s / "points.json").write_text("[" * 100000 + "]" * 100000),
        "points.json: unreadable (JSON nested too deeply)"),
    "a status that is a number": (_summary(_column("status", 3)),
                                  "summary.csv: status: expected done or failed, got 3"),
    "a phase that is a number": (_summary(_column("phase", 3.5)),
                                 "summary.csv: phase: expected one of comprehension"),
    "a delay of 1e300 (a histogram error)": (
        _summary(_column("delay", 1e300)),
        "summary.csv: delay: expected whole numbers of steps in [-1000000000, 1000000000]"),
    "a step of text": (_summary(_column("step_test_0.9", "abc")),
                       "summary.csv: step_test_0.9: expected whole numbers of steps"),
    "a run listed twice": (_summary(lambda df: pd_concat([df, df.iloc[:1]])),
                           "summary.csv: run: expected each run once"),
}


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def _sweep_file_cases():
    for case in BAD_SWEEP_FILES:
        for command in ("status", "report"):
            yield case, command


@pytest.mark.parametrize("case, command", list(_sweep_file_cases()))
def test_a_bad_points_json_or_summary_is_one_line(tmp_path, case, command):
    from grokscan.sweep import synthetic

    craft, needle = BAD_SWEEP_FILES[case]
    s = tmp_path / "S"
    synthetic.make(s, {"wd": [0.1, 1.0], "frac": [0.3, 0.5]}, 2, lambda p: "grokking")
    craft(s)
    before = tree(tmp_path)
    args = ("sweep", "report", s, "-q") if command == "report" else ("sweep", "status", s)
    one_line_error(cli(*args), str(s), needle)
    assert tree(tmp_path) == before


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("where", ["grid", "config"])
def test_a_toml_file_nested_thousands_deep_is_one_line(tmp_path, where):
    path = tmp_path / "f.toml"
    path.write_text(f"p = 23\nwidth = {DEEP}\n")
    if where == "grid":
        r = cli("sweep", path, "-o", tmp_path / "S", "-q")
    else:
        r = cli("train", "-o", tmp_path / "x.h5", "--config", path, "-q")
    one_line_error(r, str(path), "nested too deeply")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.toml"]


BAD_GRID_POINTS = {  # refused before any run starts (they failed inside the workers)
    "an unknown operation": ("[axes]\nop = ['add', 'pow']\n", "point op=pow: unknown operation"),
    "division mod a P that is not prime": (
        "op = 'div'\n[axes]\np = [23, 21]\n", "point p=21: operation 'div' needs a prime"),
    "an operation twice": ("[axes]\nop = ['add', 'add,add']\n",
                           "point op=add+add: operations repeat"),
    "a drawn unknown operation": ("[sample]\nn = 2\nop = {choice = ['add', 'pow']}\n",
                                  "unknown operation 'pow'"),
    "a train split smaller than P": ("[axes]\nfrac = [0.5, 0.01]\n",
                                     "point frac=0.01: the train split of 'add' would hold 5"),
    "a transformer on the digits": ("task = 'digits'\nsteps = 20\n[axes]\n"
                                    "model = ['mlp', 'transformer']\n",
                                    "point model=transformer: the digits task takes mlp models"),
}


@pytest.mark.parametrize("case", BAD_GRID_POINTS)
def test_a_bad_point_is_refused_before_the_sweep_starts(tmp_path, case):
    text, needle = BAD_GRID_POINTS[case]
    grid = tmp_path / "g.toml"
    grid.write_text(text if text.startswith("task") else "p = 23\nsteps = 20\n" + text
                    if not text.startswith("op") else "steps = 20\n" + text)
    one_line_error(cli("sweep", grid, "-o", tmp_path / "S", "--jobs", "1", "-q"), str(grid),
                   needle)
    assert not (tmp_path / "S").exists()


def test_a_file_through_a_symbolic_link_and_dotdot(good, tmp_path):
    (tmp_path / "real" / "sub").mkdir(parents=True)
    shutil.copy(good, tmp_path / "real" / "run.h5")
    (tmp_path / "here").mkdir()
    os.symlink("../real/sub", tmp_path / "here" / "link")
    r = cli("info", tmp_path / "here" / "link" / ".." / "run.h5")
    assert r.exit_code == 0 and "add mod 23" in r.output, r.output


def test_a_provenance_nested_too_deeply_is_described_as_unreadable(good, tmp_path):
    path = tmp_path / "run.h5"
    shutil.copy(good, path)
    with h5py.File(path, "r+") as f:
        f.attrs["provenance"] = "[" * 100000 + "]" * 100000
    r = cli("info", path)
    assert r.exit_code == 0 and "imported from an unreadable provenance: [[[" in r.output, \
        (r.output, r.exception)
