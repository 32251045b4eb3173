import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.info import describe
from grokscan.recorder import Recorder, Schedule
from grokscan.store.reader import Run


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(5, 3))
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x @ self.W)


def _handwritten_loop(path, steps=30, every=5):
    torch.manual_seed(0)
    model = Tiny()
    x, y = torch.randn(64, 5), torch.randint(0, 2, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    task = {"x": x.numpy(), "y": y.numpy()}
    expected = {}
    with Recorder(path, model, task=task, schedule=Schedule(every=every)) as rec:
        for step in range(steps + 1):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            if rec.due(step):
                rec.record(step, train_loss=loss.item())
                expected[step] = (model.W.detach().clone(), model.W.grad.clone(), loss.item())
            opt.step()
    return expected


def test_recorder_in_a_handwritten_loop(tmp_path):
    path = tmp_path / "own.h5"
    expected = _handwritten_loop(path)
    with Run(path) as run:
        assert run.n == 7 and list(run.steps) == [0, 5, 10, 15, 20, 25, 30]
        assert run.param_names == ["W", "lin.weight", "lin.bias"]
        assert run.param("W").shape == (7, 5, 3) and run.param("lin.weight", 0).shape == (2, 3)
        for i, step in enumerate(run.steps):
            w, g, loss = expected[step]
            np.testing.assert_array_equal(run.param("W", i), w.numpy())
            np.testing.assert_array_equal(run.grad("W", i), g.numpy())
            assert run.scalars["train_loss"][i] == loss
        assert run.config is None and run.task.kind == "custom"
        np.testing.assert_array_equal(run.param("W", [1, 3])[1], expected[15][0].numpy())
    d = describe(path)
    assert d["n_checkpoints"] == 7 and d["params"]["W"] == [5, 3] and d["n_params"] == 23


def test_schedule_dense_start():
    s = Schedule(every=100, dense_until=50, dense_every=10)
    assert [t for t in range(0, 301) if t in s] == [0, 10, 20, 30, 40, 100, 200, 300]
    with pytest.raises(GrokscanError):
        Schedule(every=0)


def test_recorder_refuses_to_overwrite_and_changing_scalars(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"precious")
    with pytest.raises(GrokscanError, match="exists"):
        Recorder(path, Tiny())
    assert path.read_bytes() == b"precious"
    with Recorder(tmp_path / "y.h5", Tiny()) as rec:
        rec.record(0, a=1.0)
        with pytest.raises(GrokscanError, match="expected the scalars"):
            rec.record(1, b=1.0)


@pytest.fixture()
def good(tmp_path):
    path = tmp_path / "good.h5"
    _handwritten_loop(path, steps=10)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        Run(tmp_path / "nope.h5")


def test_not_hdf5(tmp_path):
    p = tmp_path / "text.h5"
    p.write_text("hello")
    with pytest.raises(FileFormatError, match="not an HDF5 file"):
        Run(p)


def test_truncated(good, tmp_path):
    p = tmp_path / "cut.h5"
    p.write_bytes(good.read_bytes()[: os.path.getsize(good) // 2])
    with pytest.raises(FileFormatError, match="truncated"):
        Run(p)


def test_foreign_hdf5(tmp_path):
    p = tmp_path / "foreign.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(FileFormatError, match="not a grokscan checkpoint file"):
        Run(p)


def test_unknown_version(good, tmp_path):
    p = tmp_path / "v99.h5"
    p.write_bytes(good.read_bytes())
    with h5py.File(p, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(FileFormatError, match="version 99; this grokscan reads version 1"):
        Run(p)


def test_missing_dataset(good, tmp_path):
    p = tmp_path / "holed.h5"
    p.write_bytes(good.read_bytes())
    with h5py.File(p, "r+") as f:
        del f["params/W"]
    with pytest.raises(FileFormatError, match="missing dataset /params/W"):
        Run(p)


def test_reading_never_modifies_the_file(good):
    before = good.read_bytes()
    with Run(good) as run:
        run.param("W"), run.scalars, run.task, run.grad("W", 0)
    describe(good)
    assert good.read_bytes() == before


WRITER = """
import sys, time, torch
from grokscan.recorder import Recorder, Schedule
model = torch.nn.Linear(4, 2)
with Recorder(sys.argv[1], model, schedule=Schedule(every=1)) as rec:
    for step in range(int(sys.argv[2])):
        rec.record(step, loss=float(step))
        print(step, flush=True)
        time.sleep(0.15)
"""


def test_a_swmr_reader_sees_new_checkpoints_appear(tmp_path):
    path = tmp_path / "live.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "20"],
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # the first checkpoint is on disk and SWMR mode is on
        seen = []
        with Run(path) as run:
            deadline = time.time() + 30
            while run.n < 20 and time.time() < deadline:
                seen.append(run.refresh())
                assert list(run.steps) == list(range(run.n))  # never a torn row
                np.testing.assert_array_equal(run.scalars["loss"], np.arange(run.n))
                time.sleep(0.05)
    finally:
        proc.wait(timeout=30)
    assert seen[0] < 20 and max(seen) == 20 and len(set(seen)) >= 5


def test_sigkill_leaves_every_flushed_checkpoint(tmp_path):
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "1000"],
                            stdout=subprocess.PIPE, text=True)
    for _ in range(6):
        last = int(proc.stdout.readline())
    proc.kill()
    proc.wait()
    with Run(path) as run:
        assert run.n >= last + 1  # every checkpoint announced after its flush is there
        assert list(run.steps) == list(range(run.n))
    assert json.loads(json.dumps(describe(path)))["n_checkpoints"] == run.n


def test_a_file_written_with_the_latest_bounds_reads_and_resumes(tmp_path, monkeypatch):
    """Files grokscan wrote before with libver="latest" (HDF5 2.0's encodings, store/SCHEMA.md)
    have the same layout: they are read and resumed as before."""
    from click.testing import CliRunner

    import grokscan.store.writer as writer
    from grokscan.cli import main

    path = tmp_path / "latest.h5"
    small = ["--p", "23", "--frac", "0.5", "--d-embed", "8", "--width", "16", "--threads", "1",
             "-q"]
    monkeypatch.setattr(writer, "SWMR_LIBVER", "latest")
    r = CliRunner().invoke(main, ["train", "-o", str(path), "--steps", "20", "--every", "5",
                                  *small])
    assert r.exit_code == 0, r.output
    monkeypatch.undo()
    with Run(path) as run:
        assert list(run.steps) == [0, 5, 10, 15, 20]
    r = CliRunner().invoke(main, ["train", "-o", str(path), "--resume", "--steps", "40", "-q"])
    assert r.exit_code == 0, r.output
    with Run(path) as run:
        assert list(run.steps) == list(range(0, 45, 5))


def test_a_file_whose_writer_closes_it_while_it_is_opened(good, monkeypatch):
    """The plain open fails while the writer has the file; a writer that closes it before the
    superblock is looked at has cleared its flags: the file opens, as it would a moment later."""
    import grokscan.hdf5.format as fmt

    calls, real = [], h5py.File

    def file(*args, **kw):
        calls.append(kw)
        if len(calls) == 1:
            raise OSError("Unable to synchronously open file (file is already open for write "
                          "(may use <h5clear file> to clear file consistency flags))")
        return real(*args, **kw)

    monkeypatch.setattr(fmt.h5py, "File", file)
    with Run(good) as run:
        assert run.n > 0
    assert calls == [{}, {}]
