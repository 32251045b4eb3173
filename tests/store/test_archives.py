"""The frozen files of every format version (tests/data/, whose README says how each was written
and what it holds), read by this grokscan: their content is what the README lists; `grokscan
info` shows each checkpoint file, `grokscan analyze` analyses it without changing it, `grokscan
report` draws each metrics file, and a resume upgrades a file as store/SCHEMA.md says. A format
version that the readers accept cannot land without its file here."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_same_contents, cli, run_contents

import grokscan.reporting
from grokscan.analysis.families import ALL, OPTIONAL
from grokscan.onset.live import SIGNALS
from grokscan.onset.track import NOT_RECORDED
from grokscan.store import metrics, reader, writer
from grokscan.store.metrics import MetricsFile
from grokscan.store.reader import Run

DATA = Path(__file__).parents[1] / "data"
SCALARS = ["lr", "test_acc", "test_loss", "train_acc", "train_loss", "weight_norm"]
NO_ATTENTION = {"attention/maps": "the model is an MLP: it has no attention"}


def mlp(p: int) -> dict:
    """The parameter shapes of every archive's MLP: (a + b) mod p, d_embed 8, width 16."""
    return {"embed.W_E": (p + 2, 8), "hidden.0.W": (16, 16), "hidden.0.b": (16,),
            "unembed.W_U": (16, p), "unembed.b_U": (p,)}


@dataclass(frozen=True)
class Checkpoints:
    """A checkpoint archive as tests/data/README.md describes it."""

    name: str
    version: int
    grokscan: str
    p: int
    train: dict  # RunConfig.train settings of the command that wrote it
    schedule: dict
    steps: list
    resume: dict  # {slot ("" for version 1's single state): step}
    onset: dict | None  # /onset: {"rows", "memorised", "flag", "finite"} or None
    info: str  # a line `grokscan info` prints
    resumed: tuple  # (steps to resume to, the format version it has then)


@dataclass(frozen=True)
class Metrics:
    """A metrics archive as tests/data/README.md describes it."""

    name: str
    version: int
    grokscan: str
    source: str
    steps: list
    run_steps: list
    families: list
    left_out: dict
    task_line: str
    shapes: dict  # dataset path: shape
    sections: list  # the report's sections
    report_left_out: str  # in the report's left-out reasons ("" for none)


CHECKPOINTS = [
    Checkpoints("checkpoints-v1.h5", 1, "0.1.0", 13,
                {"lr": 0.01, "steps": 40, "every": 10, "seed": 0},
                {"every": 10, "dense_until": 0, "dense_every": 1},
                [0, 10, 20, 30, 40], {"": 40}, None,
                "checkpoints 5, steps 0..40, with gradients", (60, 2)),
    Checkpoints("checkpoints-v2.h5", 2, "0.2.0", 11,
                {"lr": 0.05, "steps": 120, "every": 20, "seed": 0},
                {"every": 20, "dense_until": 0, "dense_every": 1},
                [0, 20, 40, 60, 80, 100, 120], {"0": 120, "1": 100}, None,
                "checkpoints 7, steps 0..120, with gradients", (160, 2)),
    Checkpoints("checkpoints-v3.h5", 3, "0.2.0", 11,
                {"lr": 0.05, "steps": 120, "every": 20, "seed": 0, "dense_memorised": 6,
                 "dense_every": 2},
                {"every": 20, "dense_until": 0, "dense_every": 2, "dense_memorised": 6},
                [0, 20, 40, 52, 54, 56, 60, 80, 100, 120], {"0": 100, "1": 120},
                {"rows": 121, "memorised": 50, "flag": None, "finite": list(range(100, 121))},
                "checkpoints 10, steps 0..120, with gradients", (160, 3)),
    Checkpoints("checkpoints-v4.h5", 4, "0.2.0", 11,
                {"lr": 0.05, "steps": 120, "every": 20, "seed": 0, "dense_memorised": 6,
                 "dense_every": 2},
                {"every": 20, "dense_until": 0, "dense_every": 2, "dense_memorised": 6},
                [0, 20, 40, 52, 54, 56, 60, 80, 100, 120], {"0": 100, "1": 120},
                {"rows": 121, "memorised": 50, "flag": None, "finite": list(range(100, 121))},
                "checkpoints 10, steps 0..120, with gradients", (160, 4)),
]

_FAMILIES_V1 = ["fourier", "neurons", "freqloss", "norms", "pca/activations", "pca/gradients",
                "pca/last_layer", "entropy/weights", "embedding/cosine", "embedding/bimodality",
                "sparsity", "dropout/variance", "dropout/drc"]
# what grokscan 0.2.0 analysed: every family then but the transformer's
_FAMILIES_V2 = ["fourier", "neurons", "freqloss", "norms", "pca/activations", "pca/gradients",
                "pca/last_layer", "entropy/weights", "embedding/cosine", "embedding/bimodality",
                "embedding/constellation", "sparsity", "dropout/variance", "dropout/drc",
                "neurons/maps", "llc"]
METRICS = [
    Metrics("metrics-v1.h5", 1, "0.1.0", "/tmp/fx/run.h5", [0, 10, 20, 30, 40],
            [0, 10, 20, 30, 40], _FAMILIES_V1, {}, "add mod 13, train fraction 0.5",
            {"metrics/fourier/norms_embed": (5, 13), "metrics/embedding/cosine/matrix": (5, 13, 13),
             "metrics/pca/activations/coords_h0": (5, 64, 2),
             "metrics/neurons/dominant_freq": (5, 16)},
            ["training", "fourier", "geometry", "pca", "last_layer", "weights", "output"],
            "this metrics file (format version 1) holds no constellation"),
    Metrics("metrics-v2.h5", 2, "0.2.0", "checkpoints-v3.h5", [0, 40, 54, 60, 100],
            [0, 20, 40, 52, 54, 56, 60, 80, 100, 120],
            _FAMILIES_V2, NO_ATTENTION,
            "add mod 11, train fraction 0.5",
            {"metrics/fourier/norms_embed": (5, 11), "metrics/embedding/cosine/matrix": (5, 11, 11),
             "metrics/embedding/constellation/pca": (5, 11, 2),
             "metrics/pca/activations/coords_h0": (5, 64, 2),
             "metrics/neurons/dominant_freq": (5, 16), "metrics/llc/trace": (5, 2, 20),
             "metrics/onset/score": (5,), "moments/neurons/maps/acts": (2, 6, 11, 11),
             "onset_live/steps": (121,), "onset_live/values": (121, len(SIGNALS))},
            ["training", "fourier", "constellation", "geometry", "pca", "last_layer", "weights",
             "output", "llc"], ""),
]


def _ids(archives):
    return [a.name for a in archives]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _superblock(path: Path) -> int:
    with h5py.File(path, "r") as f:
        return f.id.get_create_plist().get_version()[0]


# --- every version has its archive -----------------------------------------------------------

def test_every_version_the_readers_accept_has_an_archive():
    assert sorted(a.version for a in CHECKPOINTS) == list(reader.VERSIONS)
    assert sorted(a.version for a in METRICS) == list(metrics.VERSIONS)
    # the version written today is the newest read, and it has its archive too
    assert writer.VERSION == max(reader.VERSIONS) and metrics.VERSION == max(metrics.VERSIONS)
    readme = (DATA / "README.md").read_text()
    names = {a.name for a in CHECKPOINTS + METRICS}
    assert {p.name for p in DATA.glob("*.h5")} == names
    for name in names:
        assert f"## `{name}`" in readme, name
        assert (DATA / name).stat().st_size < 600_000, name


# --- checkpoint files ------------------------------------------------------------------------

@pytest.mark.parametrize("a", CHECKPOINTS, ids=_ids(CHECKPOINTS))
def test_a_checkpoint_archive_holds_what_its_readme_says(a):
    path = DATA / a.name
    with Run(path) as run, h5py.File(path, "r") as f:
        assert run.version == a.version == f.attrs["format_version"]
        assert f.attrs["format"] == "grokscan-checkpoints"
        assert f.attrs["grokscan_version"] == a.grokscan
        assert run.steps.tolist() == a.steps and run.n == len(a.steps)
        np.testing.assert_array_equal(run.steps, f["steps"][()])
        assert sorted(run.scalars) == SCALARS
        assert all(len(v) == run.n for v in run.scalars.values())
        assert {k: run.shape(k) for k in run.param_names} == mlp(a.p)
        assert run.has_grads
        np.testing.assert_array_equal(run.param("embed.W_E"), f["params/embed.W_E"][()])
        assert json.loads(f.attrs["schedule"]) == a.schedule
        cfg = run.config
        assert (cfg.task.kind, cfg.task.p, tuple(cfg.task.ops), cfg.task.frac) == \
            ("modular", a.p, ("add",), 0.5)
        assert (cfg.model.kind, cfg.model.d_embed, cfg.model.width, cfg.model.depth) == \
            ("mlp", 8, 16, 1)
        assert {k: getattr(cfg.train, k) for k in a.train} == a.train
        task = run.task
        assert task.examples.shape == (a.p * a.p, 3) and task.train.shape == (a.p * a.p,)
        x, y = task.examples[:, 0], task.examples[:, 2]
        np.testing.assert_array_equal(task.labels, (x + y) % a.p)
        g = f["resume"]
        held = ({"": int(g["step"][0])} if "step" in g
                else {s: int(g[s]["step"][0]) for s in sorted(g)})
        assert held == a.resume and run.resume_state().step == a.steps[-1]
        rows = run.onset_rows()
        if a.onset is None:
            assert rows is None and "onset" not in f
        else:
            assert rows.names == SIGNALS and rows.values.shape == (a.onset["rows"], len(SIGNALS))
            np.testing.assert_array_equal(rows.steps, np.arange(a.onset["rows"]))
            assert (rows.memorised, rows.flag) == (a.onset["memorised"], a.onset["flag"])
            assert rows.steps[np.isfinite(rows.score)].tolist() == a.onset["finite"]
    assert _superblock(path) == 3  # SWMR bounds: ("v110", "v110") in every version so far


@pytest.mark.parametrize("a", CHECKPOINTS, ids=_ids(CHECKPOINTS))
def test_info_shows_a_checkpoint_archive(a):
    r = cli("info", DATA / a.name)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].endswith(f", format v{a.version}, grokscan {a.grokscan})"), lines[0]
    assert a.info in lines
    assert any(ln.startswith("in-loop model") for ln in lines) == (a.onset is not None)


@pytest.mark.parametrize("a", CHECKPOINTS, ids=_ids(CHECKPOINTS))
def test_analyze_reads_a_checkpoint_archive_and_never_changes_it(a, tmp_path):
    path = DATA / a.name
    before, listing = _sha256(path), sorted(p.name for p in DATA.iterdir())
    r = cli("analyze", path, "-o", tmp_path / "out", "--no-report", "--threads", "1", "-q")
    assert r.exit_code == 0, r.output
    assert _sha256(path) == before and sorted(p.name for p in DATA.iterdir()) == listing
    with MetricsFile(tmp_path / "out") as m:
        # every family the run allows: all but the optional and the transformer's
        assert m.families == [f for f in ALL if f not in OPTIONAL and f not in NO_ATTENTION]
        assert m.left_out == NO_ATTENTION
        assert m.run_steps.tolist() == a.steps and m.steps.tolist() == a.steps
        assert m.get("metrics/fourier/norms_embed").shape == (len(a.steps), a.p)
        live = m.onset_live()
        assert (live is None) == (a.onset is None)
        if live is not None:
            assert len(live["steps"]) == a.onset["rows"]
            assert live["memorisation"] == a.onset["memorised"]


@pytest.mark.parametrize("a", CHECKPOINTS, ids=_ids(CHECKPOINTS))
def test_a_resumed_copy_of_a_checkpoint_archive_has_the_version_schema_md_says(a, tmp_path):
    """store/SCHEMA.md: a resume upgrades a file of version 1 (one resume state) to version 2
    (two slots); a file of version 2 resumed stays version 2, without /onset; the current
    version stays itself. A resume appends and never changes a checkpoint."""
    path = tmp_path / a.name
    shutil.copy(DATA / a.name, path)
    before = run_contents(path, task=True)
    to, version = a.resumed
    r = cli("train", "-o", path, "--resume", "--steps", to, "--threads", "1", "-q")
    assert r.exit_code == 0, r.output
    after = run_contents(path, task=True)
    n = len(a.steps)
    assert after["steps"][:n].tolist() == a.steps and after["steps"][-1] == to
    kept = {k: v[:n] if k.split("/")[0] in ("p", "g", "s") or k == "steps" else v
            for k, v in after.items() if not k.startswith("o/")}
    assert_same_contents({k: v for k, v in before.items() if not k.startswith("o/")}, kept)
    with Run(path) as run:
        assert run.version == version == run.f.attrs["format_version"]
        assert sorted(run.f["resume"]) == ["0", "1"]  # two slots, whatever the file had
        assert run.resume_state().step == to
        rows = run.onset_rows()
        if a.onset is None:  # begun without the in-loop detector: it stays without
            assert rows is None and "onset" not in run.f
            assert f"version {version}" in NOT_RECORDED
        else:
            np.testing.assert_array_equal(rows.steps, np.arange(to + 1))
            np.testing.assert_array_equal(rows.values[: a.onset["rows"]], before["o/values"])


# --- metrics files ---------------------------------------------------------------------------

@pytest.mark.parametrize("a", METRICS, ids=_ids(METRICS))
def test_a_metrics_archive_holds_what_its_readme_says(a, tmp_path):
    shutil.copy(DATA / a.name, tmp_path / "metrics.h5")
    with MetricsFile(tmp_path) as m, h5py.File(tmp_path / "metrics.h5", "r") as f:
        assert m.version == a.version == f.attrs["format_version"]
        assert f.attrs["format"] == "grokscan-metrics"
        assert f.attrs["grokscan_version"] == a.grokscan and m.source == a.source
        assert m.steps.tolist() == a.steps and m.n == len(a.steps)
        np.testing.assert_array_equal(m.steps, f["steps"][()])
        assert sorted(m.scalars) == SCALARS
        assert m.run_steps.tolist() == a.run_steps and sorted(m.run_scalars) == SCALARS
        if "run" not in f:  # version 1 kept no scalars of the whole run: the analysed stand in
            np.testing.assert_array_equal(m.run_scalars["test_acc"], f["scalars/test_acc"][()])
        assert m.families == a.families and m.left_out == a.left_out
        assert m.task["kind"] == "modular" and m.task["line"] == a.task_line
        for name, shape in a.shapes.items():
            assert f[name].shape == shape, name
    assert _superblock(DATA / a.name) == 0  # ("earliest", ...) bounds


@pytest.mark.parametrize("a", METRICS, ids=_ids(METRICS))
def test_report_draws_a_metrics_archive(a, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(DATA / a.name, out / "metrics.h5")
    drawn = []
    render = grokscan.reporting.render

    @functools.wraps(render)
    def small(*args, **kwargs):  # the command's own drawing, at a low resolution
        drawn.append(render(*args, **{**kwargs, "dpi": 30}))
        return drawn[-1]

    monkeypatch.setattr(grokscan.reporting, "render", small)
    r = cli("report", out, "-q")
    assert r.exit_code == 0, r.output
    (result,) = drawn
    assert result["sections"] == a.sections
    whys = [why for _, why in result["left_out"]]
    assert (any(a.report_left_out in why for why in whys) if a.report_left_out else not whys)
    page = (out / "report.html").read_text()
    assert all(f'id="{s}"' in page for s in a.sections)
    assert (DATA / a.name).read_bytes() == (out / "metrics.h5").read_bytes()
