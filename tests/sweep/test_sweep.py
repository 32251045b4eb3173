"""Sweeps of tiny runs on Dask workers: the same files on a cluster as with one process, a
killed worker, reruns that train nothing, grids that grow, failed points kept."""

import os
import re
import signal
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_same_contents, run_contents

from grokscan.cli import main
from grokscan.errors import GrokscanError
from grokscan.hdf5.lock import holder
from grokscan.sweep import SweepOptions, run_sweep
from grokscan.sweep.paths import run_file

TINY = "p = 23\nd_embed = 16\nwidth = 32\nsteps = {steps}\nevery = 10\nlr = 1e-2\n"


def grid(tmp_path, axes="wd = [0.5, 1.0]\nfrac = [0.4, 0.6]", seeds=2, steps=60, name="g"):
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(steps=steps) + f"seeds = {seeds}\n[axes]\n{axes}\n")
    return path


def contents(out, names):
    return {n: run_contents(run_file(out, n)) for n in names}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The 8-point grid swept with one local process."""
    tmp = tmp_path_factory.mktemp("ref")
    res = run_sweep(grid(tmp), tmp / "one", SweepOptions(jobs=1, quiet=True))
    return tmp, res


def test_a_two_worker_cluster_gives_the_files_of_one_process(reference):
    from distributed import LocalCluster

    tmp, one = reference
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        two = run_sweep(grid(tmp), tmp / "two",
                        SweepOptions(scheduler=cluster.scheduler_address, quiet=True))
    names = list(one["summary"]["run"])
    assert len(names) == 8 and set(one["summary"]["status"]) == {"done"}
    a, b = contents(tmp / "one", names), contents(tmp / "two", names)
    for n in names:
        assert_same_contents(a[n], b[n])
    drop = ["train_s", "analyze_s", "wall_s"]
    assert one["summary"].drop(columns=drop).equals(two["summary"].drop(columns=drop))
    summary = one["summary"].set_index("run")
    s = a["wd=1_frac=0.6_seed=1"]
    assert summary.loc["wd=1_frac=0.6_seed=1", "last_step"] == s["steps"][-1] == 60
    assert summary.loc["wd=1_frac=0.6_seed=1", "final_test_acc"] == pytest.approx(
        float(s["s/test_acc"][-1]))


def test_a_second_run_trains_nothing_and_a_grown_grid_only_its_new_points(reference):
    tmp, one = reference
    before = {n: os.stat(run_file(tmp / "one", n)).st_mtime_ns for n in one["summary"]["run"]}
    again = run_sweep(grid(tmp), tmp / "one", SweepOptions(jobs=1, quiet=True))
    assert set(again["summary"]["action"]) == {"skipped"}
    grown = run_sweep(grid(tmp, axes="wd = [0.5, 1.0, 2.0]\nfrac = [0.4, 0.6]", name="g3"),
                      tmp / "one", SweepOptions(jobs=1, quiet=True))
    acts = grown["summary"].set_index("run")["action"]
    assert (acts == "trained").sum() == 4 and (acts == "skipped").sum() == 8
    assert all(n.startswith("wd=2_") for n in acts[acts == "trained"].index)
    after = {n: os.stat(run_file(tmp / "one", n)).st_mtime_ns for n in before}
    assert after == before  # finished runs were only read


def _kill_a_writer(out, killed: list, stop: threading.Event):
    """SIGKILL the first worker process seen holding a run file's lock, after its run has
    written a few checkpoints."""
    while not stop.is_set():
        for name in sorted(os.listdir(out / "runs")) if (out / "runs").exists() else []:
            who = holder(run_file(out, name))
            if who:
                time.sleep(0.5)
                pid = int(re.search(r"process (\d+)", who).group(1))
                os.kill(pid, signal.SIGKILL)
                killed.append(name)
                return
        time.sleep(0.02)


def test_a_killed_worker_loses_nothing(tmp_path):
    g = grid(tmp_path, axes="wd = [1.0]\nfrac = [0.5]", seeds=3, steps=800)
    killed, stop = [], threading.Event()
    out = tmp_path / "killed"
    t = threading.Thread(target=_kill_a_writer, args=(out, killed, stop))
    t.start()
    try:
        res = run_sweep(g, out, SweepOptions(jobs=2, quiet=True))
    finally:
        stop.set()
        t.join()
    assert len(killed) == 1
    summary = res["summary"].set_index("run")
    assert set(summary["status"]) == {"done"}, summary["error"].tolist()
    assert summary.loc[killed[0], "action"] == "resumed"
    ref = run_sweep(g, tmp_path / "ref", SweepOptions(jobs=2, quiet=True))
    for name in ref["summary"]["run"]:
        a, b = run_contents(run_file(out, name)), run_contents(run_file(tmp_path / "ref", name))
        assert np.array_equal(a["steps"], np.arange(0, 801, 10))  # none missing, none twice
        assert_same_contents(a, b)


def test_a_failed_point_is_kept_and_the_others_finish(tmp_path):
    path = grid(tmp_path, axes="wd = [1.0]\nfrac = [0.4, 0.6]", seeds=1, steps=20)
    out = tmp_path / "S"
    bad = run_file(out, "wd=1_frac=0.4_seed=0")
    os.makedirs(os.path.dirname(bad))
    with open(bad, "wb") as fh:  # a run file that is not HDF5: its point fails, alone
        fh.write(b"not a checkpoint file")
    res = CliRunner().invoke(main, ["sweep", str(path), "-o", str(out), "--jobs", "1", "-q"])
    assert res.exit_code == 1 and "1 of 2 points failed" in res.output, res.output
    status = CliRunner().invoke(main, ["sweep", "status", str(out)])
    assert status.exit_code == 0, status.output
    assert "2 points: 1 done, 1 failed, 0 not run yet" in status.output
    assert "failed wd=1_frac=0.4_seed=0:" in status.output and "HDF5" in status.output
    report = CliRunner().invoke(main, ["sweep", "report", str(out), "-q"])
    assert report.exit_code == 0, report.output
    page = (out / "report.html").read_text()
    assert "Failed runs" in page and "wd=1_frac=0.4_seed=0" in page


def test_an_unreachable_scheduler_is_one_line_before_anything_runs(tmp_path):
    out = tmp_path / "S"
    res = CliRunner().invoke(main, ["sweep", str(grid(tmp_path)), "-o", str(out),
                                    "--scheduler", "tcp://127.0.0.1:9", "--timeout", "2"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach a Dask scheduler" in lines[0], res.output
    assert not out.exists()


def test_a_worker_that_cannot_see_the_folder_is_refused(tmp_path, monkeypatch):
    from grokscan.sweep import runner

    def blind(out_dir, token):
        return "it does not see the folder"

    monkeypatch.setattr(runner, "check_folder", blind)
    with pytest.raises(GrokscanError, match="cannot use it: it does not see"):
        run_sweep(grid(tmp_path), tmp_path / "S", SweepOptions(jobs=1, quiet=True))
    assert not (tmp_path / "S" / "runs" / "wd=0.5_frac=0.4_seed=0").exists()


def test_a_run_stopped_by_stop_when_grokked_counts_as_finished():
    from types import SimpleNamespace

    from grokscan.sweep.worker import finished

    steps = np.arange(0, 101, 10)
    test = np.where(steps >= 60, 0.995, 0.5)  # ≥ 0.99 from step 60 to the end
    t = SimpleNamespace(steps=200, stop_when_grokked=40)
    assert finished(steps, test, t)  # 100 − 60 ≥ 40: the early stop fired
    assert not finished(steps, test, SimpleNamespace(steps=200, stop_when_grokked=50))
    assert not finished(steps, test, SimpleNamespace(steps=200, stop_when_grokked=0))
    assert finished(steps, None, SimpleNamespace(steps=100, stop_when_grokked=0))
    assert not finished(steps, np.where(steps >= 60, 0.5, 0.995), t)  # fell back below


def test_a_point_whose_file_is_being_written_is_not_read(tmp_path):
    """A run file held by a live writer (here still only a few bytes, as when it is being
    created) is refused by its lock, before any attempt to open it."""
    from grokscan.errors import GrokscanError
    from grokscan.hdf5.lock import WriterLock
    from grokscan.sweep.worker import _state

    path = tmp_path / "run.h5"
    path.write_bytes(b"\x89HDF")  # not a readable file yet
    with WriterLock(path):
        with pytest.raises(GrokscanError, match="being written by process"):
            _state(str(path), None)
