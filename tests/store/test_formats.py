"""A format version this grokscan does not read is refused; a report is drawn from metrics.h5
alone; a file that reads another file is refused. (The files of every format version, kept in
tests/data/, are read by test_archives.py.)"""

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import cli, one_line_error, tree

from grokscan.analysis import Options, analyze
from grokscan.cli import main
from grokscan.errors import FileFormatError
from grokscan.store.reader import Run

DATA = Path(__file__).parents[1] / "data"


def test_an_unknown_version_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "future.h5"
    shutil.copy(DATA / "checkpoints-v1.h5", bad)
    with h5py.File(bad, "r+") as f:
        f.attrs["format_version"] = 9
    with pytest.raises(FileFormatError, match="grokscan-checkpoints format version 9; this "
                                              "grokscan reads version 1"):
        Run(bad)


def test_the_report_needs_only_metrics_h5(fast_run, tmp_path):
    run = tmp_path / "run.h5"
    shutil.copy(fast_run, run)
    out = tmp_path / "out"
    analyze(run, out, Options(families=("fourier", "embedding/constellation", "norms"),
                              every=15, quiet=True))
    run.unlink()
    r = CliRunner().invoke(main, ["report", str(out), "-q"])
    assert r.exit_code == 0, r.output
    page = (out / "report.html").read_text()
    assert 'id="constellation"' in page and 'id="constellation_animation"' in page
    with h5py.File(out / "metrics.h5") as f:
        pca = f["metrics/embedding/constellation/pca"][()]
        assert pca.shape == (11, 41, 2) and np.isfinite(pca).all()


def _link(f, name, src):
    f[name] = h5py.ExternalLink(src, "acc")


def _external(f, name, src):
    f.create_dataset(name, shape=(len(f["steps"]),), dtype="f8",
                     external=[(src.replace(".h5", ".bin"), 0, 8 * len(f["steps"]))])


def _virtual(f, name, src):
    n = len(f["steps"])
    layout = h5py.VirtualLayout(shape=(n,), dtype="f8")
    layout[:] = h5py.VirtualSource(src, "acc", shape=(n,))
    f.create_virtual_dataset(name, layout)


@pytest.mark.parametrize("craft, needle", [
    (_link, "'/scalars/train_acc' is an external link to the file"),
    (_external, "'/scalars/train_acc' keeps its data in the external file"),
    (_virtual, "'/scalars/train_acc' is a virtual dataset"),
])
@pytest.mark.parametrize("command", ["info", "analyze"])
def test_a_run_file_that_reads_another_file_is_refused(tmp_path, craft, needle, command):
    """HDF5 follows an external link, external storage or a virtual dataset to any file the
    link names; grokscan writes none and refuses them when it opens a file (hdf5/format.py,
    check_contained), for every format."""
    run, src = tmp_path / "run.h5", str(tmp_path / "other" / "secret.h5")
    shutil.copy(DATA / "checkpoints-v1.h5", run)
    os.mkdir(tmp_path / "other")
    with h5py.File(src, "w") as f:
        f["acc"] = np.zeros(64)
    (tmp_path / "other" / "secret.bin").write_bytes(bytes(1024))
    with h5py.File(run, "r+") as f:
        del f["scalars/train_acc"]
        craft(f, "scalars/train_acc", src)
    before = tree(tmp_path)
    args = ["info", run] if command == "info" else ["analyze", run, "-o", tmp_path / "out", "-q"]
    one_line_error(cli(*args), str(run), needle, "grokscan reads only what is inside the file")
    assert tree(tmp_path) == before
