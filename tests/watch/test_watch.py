"""grokscan watch: the live reader on a file a training writes, the view at a checkpoint whose
Fourier modes are known, the errors as one line, the HTML page."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from rich.console import Console

from grokscan.cli import main
from grokscan.errors import GrokscanError
from grokscan.hdf5.lock import WriterLock
from grokscan.store.layout import Layout
from grokscan.watch.reader import LiveRun, Rows, wait_for
from grokscan.watch.view import View, braille, sparkline

P, D = 23, 8
K1, K2 = 3, 7  # the embedding's two Fourier modes at the known checkpoint


class Embedding(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.E = torch.nn.Parameter(torch.zeros(P, D))


def known_embedding() -> np.ndarray:
    """(P, D): frequency K1 with amplitude 1 on dimensions 0, 1 and K2 with 0.9 on 2, 3."""
    t = np.arange(P)
    E = np.zeros((P, D))
    E[:, 0], E[:, 1] = np.cos(2 * np.pi * K1 * t / P), np.sin(2 * np.pi * K1 * t / P)
    E[:, 2], E[:, 3] = 0.9 * np.cos(2 * np.pi * K2 * t / P), 0.9 * np.sin(2 * np.pi * K2 * t / P)
    return E


SCALARS = [dict(train_loss=2.0, test_loss=3.0, train_acc=0.5, test_acc=0.125),
           dict(train_loss=0.01, test_loss=0.5, train_acc=1.0, test_acc=0.75),
           dict(train_loss=0.001, test_loss=0.01, train_acc=1.0, test_acc=1.0)]


@pytest.fixture(scope="module")
def known(tmp_path_factory) -> Path:
    """A Recorder's file of (a+b) mod 23: noise at step 0, the known modes at steps 10 and 20."""
    from grokscan import Recorder
    from grokscan.tasks.modular import ModularConfig, make_data

    path = tmp_path_factory.mktemp("watch") / "known.h5"
    model = Embedding()
    layout = Layout(residue_vectors=({"param": "E", "start": 0, "stop": P, "operand": "a,b"},))
    noise = np.random.default_rng(0).normal(size=(P, D))
    with Recorder(path, model, task=make_data(ModularConfig(p=P, frac=0.5), 0), layout=layout,
                  grads=False) as rec:
        for step, E, s in zip((0, 10, 20), (noise, known_embedding(), known_embedding()),
                              SCALARS):
            with torch.no_grad():
                model.E.copy_(torch.from_numpy(E))
            rec.record(step, **s)
    return path


def frame(view) -> str:
    console = Console(record=True, width=100, file=io.StringIO())
    console.print(view)
    return console.export_text()


def run_cli(*args):
    return CliRunner().invoke(main, ["watch", *map(str, args)])


def one_line_error(r) -> str:
    """The error of a failed watch: one line, the last (the frames drawn before it stay)."""
    lines = r.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert r.exit_code == 1 and errors == lines[-1:], r.output
    assert "Traceback" not in r.output
    return lines[-1]


def test_a_watcher_follows_a_training_and_ends_with_it(tmp_path):
    path = tmp_path / "live.h5"
    proc = subprocess.Popen([sys.executable, "-m", "grokscan", "train", "-o", str(path),
                             "--p", "23", "--steps", "400", "--every", "10", "-q",
                             "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(str(path), timeout=120, interval=0.05)
        seen, live_seen = [], []
        with LiveRun(path, timeout=60) as live:
            view = View(str(path), live.task, live.run.residue_vectors)
            assert live.writer is not None
            while not live.ended:
                view.update(live.poll())
                seen.append(live.n)
                if not live.ended:
                    live_seen.append(live.n)
                time.sleep(0.05)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen == sorted(seen) and seen[-1] == 41  # steps 0, 10, ..., 400
    assert len(set(live_seen)) >= 2  # it grew while the training wrote it
    assert view.steps.values.tolist() == list(range(0, 401, 10))
    assert view.value("train_acc") is not None and view.norms is not None


def test_the_frame_at_a_known_checkpoint(known):
    with LiveRun(known, replay=True) as live:
        view = View(str(known), live.task, live.run.residue_vectors)
        view.update(live.poll())
        view.update(live.poll())  # steps 0 and 10
        assert not live.ended
    text = frame(view)
    assert re.search(r"step 10\s+checkpoints 2\s+state generalising", text), text
    assert re.search(r"key frequencies 3, 7 ", text), text
    assert re.search(r"train acc\s+1\.000", text) and re.search(r"test acc\s+0\.750", text)
    # Furuta et al. Eq. 5: μ and ν pass at k = 3 and 7 only, of 2·⌊23/2⌋ = 22 components
    assert f"FFD {4 / 22:.3f}" in text
    assert "residues on the plane of k = 3" in text
    # the plane of k = 3 is that of dimensions 0 and 1: residue t at (cos, sin)(2π·3t/23),
    # each axis up to its sign
    theta = 2 * np.pi * K1 * np.arange(P) / P
    want = np.stack([np.cos(theta), np.sin(theta)], 1)
    signs = np.sign(view.points[[0, 1], [0, 1]] * want[[0, 1], [0, 1]])
    np.testing.assert_allclose(view.points * signs, want, atol=1e-9)


def test_replay_through_the_command_line_ends_with_the_summary(known):
    r = run_cli(known, "--replay")
    assert r.exit_code == 0, r.output
    assert "summary" in r.output and "grokked (test acc ≥ 0.99)" in r.output
    assert re.search(r"grokked \(test acc ≥ 0\.99\)\s+at step 20", r.output)
    assert re.search(r"memorised \(train acc ≥ 0\.99\)\s+at step 10", r.output)


def test_an_ising_view_leaves_the_fourier_parts_out():
    view = View("ising.h5", SimpleNamespace(kind="ising", residues=None), [])
    view.update(Rows(np.array([0, 5]), {"train_acc": np.array([0.2, 0.995]),
                                        "test_acc": np.array([0.1, 0.3])}))
    text = frame(view)
    assert "Fourier measures: left out (the ising task has no residues mod P)" in text
    assert "state generalising" in text and "plane" not in text
    assert "forecast: not applicable (the ising task has no residues mod P" in text
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(view.summary())
    assert re.search(r"onset\s+forecast: not applicable \(the ising task",
                     console.export_text())


def test_a_finished_file_without_replay_a_missing_and_a_foreign_file(known, tmp_path):
    msg = one_line_error(run_cli(known, "--timeout", "0.2"))
    assert "is not being written" in msg and "--replay" in msg and "3 checkpoints" in msg
    msg = one_line_error(run_cli(tmp_path / "none.h5", "--timeout", "0.2"))
    assert "no checkpoint file after waiting 0.2 s (no training is writing it)" in msg
    (tmp_path / "text.h5").write_text("not hdf5\n")
    assert "is not an HDF5 file" in one_line_error(run_cli(tmp_path / "text.h5"))
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    msg = one_line_error(run_cli(tmp_path / "other.h5"))
    assert "is not a grokscan checkpoint file" in msg


@pytest.fixture
def held(known, tmp_path):
    """A copy of the known file whose writer's lock this process holds: a run that stalls."""
    path = tmp_path / "held.h5"
    path.write_bytes(known.read_bytes())
    lock = WriterLock(path).acquire()
    yield path
    lock.release()


def test_a_file_that_stops_growing(held):
    msg = one_line_error(run_cli(held, "--timeout", "0.3", "--interval", "0.05"))
    assert "no new checkpoint for 0.3 s (step 20 last" in msg and "still holds it" in msg


@pytest.mark.parametrize("how", ["remove", "replace"])
def test_a_file_that_disappears_or_is_replaced(held, how):
    other = held.with_name("other.h5")
    other.write_bytes(held.read_bytes())
    act = (lambda: os.remove(held)) if how == "remove" else (lambda: os.replace(other, held))
    timer = threading.Timer(0.4, act)
    timer.start()
    try:
        msg = one_line_error(run_cli(held, "--timeout", "10", "--interval", "0.05"))
    finally:
        timer.join()
    assert ("disappeared while it was watched" if how == "remove" else "was replaced") in msg


def test_ctrl_c_stops_watching_with_130(held, monkeypatch):
    import grokscan.watch.live as live

    def interrupt(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(live.time, "sleep", interrupt)
    r = run_cli(held, "--interval", "0.05")
    assert r.exit_code == 130 and "stopped watching" in r.output and "summary" in r.output
    assert "Traceback" not in r.output


def _images(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(b)))
            for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_the_html_page_has_decodable_images_and_refreshes_while_live(known, tmp_path):
    from grokscan.watch import page

    with LiveRun(known, replay=True, chunk=3) as live:
        view = View(str(known), live.task, live.run.residue_vectors)
        view.update(live.poll())
    live_page = page.render(view, dpi=30)
    assert '<meta http-equiv="refresh" content="2">' in live_page
    out = tmp_path / "live.html"
    r = run_cli(known, "--replay", "--html", out)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    images = _images(text)
    assert len(images) == 3 and all(im.size[0] > 100 and im.size[1] > 100 for im in images)
    assert "http-equiv" not in text  # a finished run's page no longer reloads
    assert "key frequencies</th><td>3, 7" in text and "<script" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # self-contained


def test_the_html_page_opens_in_chromium(known, tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "report"))
    from test_report import Chromium, chromium_path

    out = tmp_path / "live.html"
    assert run_cli(known, "--replay", "--html", out).exit_code == 0
    browser = Chromium(chromium_path())
    try:
        images, errors = browser.open(out, tmp_path / "shot.png")
    finally:
        browser.close()
    assert len(images) == 3 and all(done and width > 0 for _, done, width in images), images
    assert errors == []


def test_sparkline_and_braille():
    assert sparkline(np.arange(8.0)) == "▁▂▃▄▅▆▇█"
    assert sparkline(np.array([1.0, 10.0, 100.0]), log=True) == "▁▅█"
    line = sparkline(np.arange(1000.0), width=10)
    assert len(line) == 10 and line[0] == "▁" and line[-1] == "█"
    # a 1 × 1 grid of 2 × 4 dots: the top-left and the bottom-right dot
    t = braille(np.array([[-1.0, 1.0], [1.0, -1.0]]), 1, 1).plain
    assert t == chr(0x2800 + 0x01 + 0x80)


def test_wait_for_gives_up(tmp_path):
    with pytest.raises(GrokscanError, match="no checkpoint file after waiting"):
        wait_for(str(tmp_path / "x.h5"), timeout=0.1, interval=0.02)


def test_a_refresh_reads_only_the_rows_after_those_seen(held, monkeypatch):
    """The cost of a poll does not depend on the rows already read: after the three rows of
    the file, a poll asks HDF5 for no row before the fourth and refreshes each watched dataset
    once."""
    asked, refreshed = [], []
    getitem, refresh = h5py.Dataset.__getitem__, h5py.Dataset.refresh

    def spy_get(ds, key):
        asked.append((ds.name, key))
        return getitem(ds, key)

    def spy_refresh(ds):
        refreshed.append(ds.name)
        return refresh(ds)

    with LiveRun(held, timeout=10) as live:
        assert len(live.poll()) == 3
        monkeypatch.setattr(h5py.Dataset, "__getitem__", spy_get)
        monkeypatch.setattr(h5py.Dataset, "refresh", spy_refresh)
        assert len(live.poll()) == 0
    assert asked and all(isinstance(k, slice) and k.start == 3 for _, k in asked), asked
    assert sorted(refreshed) == sorted(["/steps", "/params/E", *(f"/scalars/{k}" for k in
                                                                   SCALARS[0])])


def test_train_with_watch_shows_the_view_the_file_gives(tmp_path):
    path = tmp_path / "w.h5"
    r = CliRunner().invoke(main, ["train", "-o", str(path), "--p", "11", "--d-embed", "8",
                                  "--width", "16", "--steps", "40", "--every", "10",
                                  "--threads", "1", "--watch"])
    assert r.exit_code == 0, r.output
    assert "summary" in r.output and re.search(r"checkpoints\s+5, last step 40", r.output)
    replay = run_cli(path, "--replay")
    assert replay.exit_code == 0, replay.output

    def summary(text):  # the summary panel's rows, the title aside
        return text[text.index("summary"):].splitlines()[1:]

    assert summary(r.output)[:len(summary(replay.output))] == summary(replay.output)


def test_the_forecast_is_the_one_analyze_records(fast_run, tmp_path):
    """The view runs the default onset detector (grokscan/onset/shipped.py) on the signal it
    computes as checkpoints arrive: over every checkpoint it flags where `grokscan analyze`
    does, shows no flag before that checkpoint, and names the detector."""
    from grokscan.onset.shipped import default

    res = CliRunner().invoke(main, ["analyze", str(fast_run), "-o", str(tmp_path / "out"),
                                    "--families", "fourier", "--no-report", "-q"])
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "out" / "metrics.h5", "r") as f:
        want = int(f["metrics/onset"].attrs["step"])
    assert want > 0  # the fast recipe groks: the detector fires
    with LiveRun(fast_run, replay=True) as live:
        view = View(str(fast_run), live.task, live.run.residue_vectors)
        while not live.ended:
            rows = live.poll()
            view.update(rows)
            if len(rows) and rows.steps[-1] < want:
                assert view.onset is None
    assert view.onset == want
    assert f"{default().label}: flagged at step {want}" in frame(view)
    assert "onset flagged" not in frame(view)


def test_the_state_says_what_the_run_shows():
    """Memorised, not generalising, while test accuracy stays on its plateau; generalising
    once it rises; the forecast's flag does not change the state."""
    view = View("run.h5", SimpleNamespace(kind="ising", residues=None), [])
    view.update(Rows(np.array([0, 10]), {"train_acc": np.array([0.2, 1.0]),
                                         "test_acc": np.array([0.04, 0.05])}))
    assert view.state == "memorised"
    view.update(Rows(np.array([20]), {"train_acc": np.array([1.0]),
                                      "test_acc": np.array([0.08])}))
    assert view.state == "memorised"  # 0.04 below the floor's 0.05 rise
    view.update(Rows(np.array([30]), {"train_acc": np.array([1.0]),
                                      "test_acc": np.array([0.3])}, onset=30))
    assert view.state == "generalising"
    view.update(Rows(np.array([40]), {"train_acc": np.array([1.0]),
                                      "test_acc": np.array([0.995])}))
    assert view.state == "grokked"
