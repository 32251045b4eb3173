"""Every HDF5 tool opens grokscan's files: h5dump and h5ls of an older HDF5 (Debian's 1.10)
read a finished run, its metrics, an imported run, a killed run once repaired and an Ising
data set, with the library-version bounds grokscan writes them with (grokscan/hdf5/format.py,
SWMR_LIBVER and LIBVER).

Without the tools (Debian: ``apt-get install hdf5-tools``) these tests are skipped, unless
GROKSCAN_REQUIRE_TOOLS is set, as .ci/run sets it: there they fail instead.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner
from importers.source_models import P, nanda_state_dict

from grokscan.cli import main
from grokscan.store.reader import Run

SMALL = ["--p", "23", "--frac", "0.5", "--d-embed", "8", "--width", "16", "--threads", "1",
         "-q"]
RUN = {"grads": "Group", "onset": "Group", "params": "Group", "resume": "Group",
       "scalars": "Group", "steps": "Dataset", "task": "Group"}
# no optimizer state to resume, no training seen by the in-loop onset detector
IMPORTED = {k: v for k, v in RUN.items() if k not in ("resume", "onset")}
METRICS = {"metrics": "Group", "onset_live": "Group", "run": "Group", "scalars": "Group",
           "steps": "Dataset"}


@pytest.fixture(autouse=True)
def tools():
    missing = [t for t in ("h5dump", "h5ls") if shutil.which(t) is None]
    if missing:
        why = f"{' and '.join(missing)} not installed (Debian: apt-get install hdf5-tools)"
        if os.environ.get("GROKSCAN_REQUIRE_TOOLS"):
            pytest.fail(f"{why}; GROKSCAN_REQUIRE_TOOLS is set")
        pytest.skip(why)


def cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r


def tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


def top_level(path) -> tuple[dict, dict]:
    """The objects under / as h5dump -H and h5ls -r show them, {name: "Group" or "Dataset"},
    after checking that both exit 0."""
    dump, ls = tool("h5dump", "-H", path), tool("h5ls", "-r", path)
    for r in (dump, ls):
        assert r.returncode == 0 and "error" not in r.stderr.lower(), (r.args, r.stderr)
    shown = re.findall(r'^ {3}(GROUP|DATASET) "([^"]+)"', dump.stdout, re.M)
    listed = re.findall(r"^/([^/\s]+)\s+(Group|Dataset)\b", ls.stdout, re.M)
    return {n: k.title() for k, n in shown}, dict(listed)


def assert_tools_show(path, want: dict) -> None:
    dumped, listed = top_level(path)
    assert dumped == want and listed == want, (dumped, listed)


def test_a_finished_run_and_its_metrics(tmp_path):
    run = tmp_path / "run.h5"
    cli("train", "-o", run, "--steps", "20", "--every", "5", *SMALL)
    assert_tools_show(run, RUN)
    cli("analyze", run, "-o", tmp_path / "an", "--families", "norms,fourier", "--no-report", "-q")
    assert_tools_show(tmp_path / "an" / "metrics.h5", METRICS)


def test_an_imported_run(tmp_path):
    cfg = {"p": P, "fn_name": "add", "frac_train": 0.5, "seed": 0, "act_type": "ReLU"}
    torch.save({"state_dicts": [nanda_state_dict(i) for i in range(2)], "epochs": [0, 10],
                "config": cfg}, tmp_path / "full_run_data.pth")
    out = tmp_path / "imported.h5"
    cli("import", tmp_path / "full_run_data.pth", "-o", out)
    assert_tools_show(out, IMPORTED)


def test_an_ising_data_set(tmp_path):
    from grokscan.tasks.ising.dataset import IsingDataConfig, generate, save_ising

    save_ising(tmp_path / "ising.h5", generate(IsingDataConfig(n_train=40, n_test=20,
                                                               n_sweeps=8)))
    assert_tools_show(tmp_path / "ising.h5", {s: "Group" for s in ("train", "test", "inverted")})


TRAINER = """
import sys, torch
torch.set_num_threads(1)
from grokscan.cli import main
main(["train", "-o", sys.argv[1], "--steps", "100000", "--every", "1", *sys.argv[2:]])
"""


def test_a_killed_run_after_repair(tmp_path):
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, path, *SMALL],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if path.exists():
                with Run(path) as run:
                    if run.n >= 3:
                        break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert tool("h5dump", "-H", path).returncode != 0  # the writer's flags are still set
    assert "cleared" in cli("repair", path).output
    assert_tools_show(path, RUN)
