"""The in-loop onset detector in a checkpoint file (/onset): written as training goes, read
back equal to what fired, its signals those of the stored weights, resumed exactly."""

import json

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from grokscan.cli import main
from grokscan.errors import GrokscanError
from grokscan.metrics import fourier as fm
from grokscan.onset.live import SIGNALS, OnsetModel, Source, replay, shipped, signals
from grokscan.onset.track import NO_SPECTRUM, NOT_RECORDED
from grokscan.recorder import Recorder
from grokscan.store.layout import Layout
from grokscan.store.reader import Run

SMALL = ["--p", "23", "--frac", "0.6", "--d-embed", "16", "--width", "64", "--steps", "300",
         "--every", "20", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("track") / "run.h5"
    r = CliRunner().invoke(main, ["train", "-o", str(path), *SMALL, "--dense-memorised", "40",
                                  "--dense-every", "5"])
    assert r.exit_code == 0, r.output
    return path


def test_every_step_is_observed_and_the_flag_read_back_is_the_one_that_fired(run_file):
    with Run(run_file) as run:
        rec = run.onset_rows()
        steps = run.steps
    assert rec is not None and rec.names == SIGNALS
    np.testing.assert_array_equal(rec.steps, np.arange(301))
    model = OnsetModel.from_json(rec.model)
    assert model == shipped()
    scores, mon = replay(rec.steps, rec.values, model)
    np.testing.assert_array_equal(scores, rec.score)  # NaN where NaN
    assert (mon.memorised, mon.flag) == (rec.memorised, rec.flag)
    assert rec.memorised is not None
    # the dense stretch after memorisation: every 5 steps for 40 steps
    after = steps[(steps > rec.memorised) & (steps <= rec.memorised + 40)]
    assert len(after) >= 8 and set(np.diff(after)) <= {5}


def test_the_signals_at_a_checkpoint_are_those_of_its_stored_weights(run_file):
    with Run(run_file) as run:
        rec = run.onset_rows()
        layout = Layout(tuple(run.residue_vectors), tuple(run.neuron_logit_map))
        src = Source.of(layout, 23, False, 23)
        for i in (0, run.n // 2, run.n - 1):
            step = int(run.steps[i])
            params = {k: torch.from_numpy(run.param(k, i)) for k in run.param_names}
            grads = {k: torch.from_numpy(run.grad(k, i)) for k in run.param_names}
            scal = {k: float(v[i]) for k, v in run.scalars.items()}
            want = signals(params, grads, src, train_loss=scal["train_loss"],
                           train_acc=scal["train_acc"])
            row = rec.values[int(np.flatnonzero(rec.steps == step)[0])]
            for k, name in enumerate(SIGNALS):
                assert row[k] == pytest.approx(want[name], rel=1e-4, abs=1e-7), (step, name)


def test_no_test_set_number_reaches_the_detector():
    with pytest.raises(Exception, match="test-set quantity"):
        signals({}, None, Source((), (), None, 0), test_loss=1.0)
    assert not any(w in name for name in SIGNALS for w in ("test", "val", "inverted"))


def test_a_users_loop_gets_it_through_the_recorder(tmp_path):
    p = 7
    model, rec = _users_run(tmp_path / "mine.h5", steps=59)
    with Run(tmp_path / "mine.h5") as run:
        rows = run.onset_rows()
        at50 = run.param("emb.weight", run.n - 1).astype(np.float64)  # the checkpoint of 50
        W50 = run.param("W", run.n - 1).astype(np.float64)
    assert len(rows.steps) == 51  # the rows up to the last checkpoint (step 50)
    assert np.isfinite(rows.values[:, SIGNALS.index("weight_norm")]).all()
    # the layout's 7 residue vectors: P = 7, the additive basis (the operation is not known)
    assert rec.onset.source.basis.shape == (7, 7)
    want = fm.gini(fm.fourier_norms(at50, fm.additive_basis(p)))
    assert rows.values[50, SIGNALS.index("gini_embed")] == pytest.approx(want, rel=1e-5)
    want = fm.gini(fm.fourier_norms(W50.T, fm.additive_basis(p)))  # the logit map's spectrum
    assert rows.values[50, SIGNALS.index("gini_logit")] == pytest.approx(want, rel=1e-5)
    # without a layout there is no spectrum, and the reason says so
    with Recorder(tmp_path / "bare.h5", model, task={"p": np.array(p)}, layout=Layout()) as bare:
        bare.observe(0, train_loss=1.0, train_acc=0.1)
        bare.record(0, train_loss=1.0)
    assert bare.onset.reason == NO_SPECTRUM
    with Run(tmp_path / "bare.h5") as run:
        assert np.isnan(run.onset_rows().values[:, SIGNALS.index("gini_embed")]).all()


def test_a_run_of_format_version_2_resumed_says_it_has_no_record(tmp_path, run_file):
    path = tmp_path / "old.h5"
    path.write_bytes(run_file.read_bytes())
    with h5py.File(path, "r+") as f:  # as written before the in-loop detector
        del f["onset"]
        f.attrs["format_version"] = 2
    r = CliRunner().invoke(main, ["train", "-o", str(path), "--resume", "--steps", "340", "-q"])
    assert r.exit_code == 0, r.output
    with Run(path) as run:
        assert run.steps[-1] == 340 and run.onset_rows() is None
        assert run.f.attrs["format_version"] == 2
    assert "version 2" in NOT_RECORDED


def test_no_onset_trains_without_it(tmp_path):
    path = tmp_path / "off.h5"
    r = CliRunner().invoke(main, ["train", "-o", str(path), *SMALL, "--no-onset"])
    assert r.exit_code == 0, r.output
    with Run(path) as run:
        assert run.onset_rows() is None and "onset" not in run.f
        assert json.loads(run.f.attrs["config"])["train"]["onset"] is False


def test_dense_checkpoints_follow_memorisation_without_a_spectrum_too(tmp_path):
    from grokscan.recorder import Schedule

    model = torch.nn.Linear(3, 2)
    sched = Schedule(every=10, dense_memorised=6, dense_every=2)
    steps = []
    with Recorder(tmp_path / "d.h5", model, layout=Layout(), schedule=sched) as rec:
        for step in range(25):
            rec.observe(step, train_loss=1.0, train_acc=1.0 if step >= 5 else 0.5)
            if rec.due(step):
                rec.record(step, train_loss=1.0)
                steps.append(step)
    assert rec.onset.memorised == 5 and rec.onset.flag is None
    assert steps == [0, 7, 9, 10, 11, 20]  # 5 < s ≤ 11, every 2 from memorisation; every 10


def _users_run(path, steps=30, every=10, train_acc=None):
    """A user's own loop over an embedding and a logit map (x @ W) of 7 residues, observing
    every step (the batch's accuracy, or ``train_acc``) and recording every ``every``:
    (model, recorder)."""
    from grokscan.recorder import Schedule

    torch.manual_seed(0)
    p = 7
    emb = torch.nn.Embedding(p, 8)
    model = torch.nn.ModuleDict({"emb": emb})
    model.W = torch.nn.Parameter(torch.randn(8, p) / 3)  # x @ W: (d, classes), as a layout says
    layout = Layout(({"param": "emb.weight", "start": 0, "stop": p, "operand": "a"},), ("W",))
    x = torch.arange(p)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    with Recorder(path, model, layout=layout, task={"p": np.array(p)},
                  schedule=Schedule(every=every)) as rec:
        for step in range(steps + 1):
            opt.zero_grad()
            logits = emb(x) @ model.W
            loss = torch.nn.functional.cross_entropy(logits, x)
            loss.backward()
            acc = float((logits.argmax(-1) == x).float().mean()) if train_acc is None \
                else train_acc
            rec.observe(step, train_loss=float(loss.detach()), train_acc=acc)
            if rec.due(step):
                rec.record(step, train_loss=float(loss.detach()))
            opt.step()
    return model, rec


def test_rows_a_killed_writer_resized_but_never_wrote_are_not_read(tmp_path):
    path = tmp_path / "mine.h5"
    model, _ = _users_run(path, train_acc=0.5)
    with h5py.File(path, "r+") as f:  # killed inside Track.write: resized, steps not written
        g = f["onset"]
        for name in ("steps", "values", "score"):
            g[name].resize(g[name].shape[0] + 5, axis=0)
        g["state"][:] = [35, -1]  # the state of step 35, never committed
    with Run(path) as run:
        rows = run.onset_rows()
        assert list(rows.steps) == list(range(31)) and rows.memorised is None
    from grokscan.recorder import Schedule

    with Recorder.reopen(path, model, schedule=Schedule(every=10)) as rec:
        assert rec.onset.memorised is None
        rec.observe(30, train_loss=1.0, train_acc=0.5)
        rec.observe(31, train_loss=1.0, train_acc=0.5)
        rec.record(31, train_loss=1.0)
    with Run(path) as run:
        assert list(run.onset_rows().steps) == list(range(32))


def test_a_step_observed_twice_is_refused(tmp_path):
    model = torch.nn.Linear(2, 2)
    with Recorder(tmp_path / "twice.h5", model, layout=Layout()) as rec:
        rec.observe(0, train_loss=1.0, train_acc=0.1)
        with pytest.raises(GrokscanError, match="observe\\(\\): steps must increase; got "
                                                "step 0 after 0"):
            rec.observe(0, train_loss=1.0, train_acc=0.1)
        rec.record(0, train_loss=1.0)
    with Run(tmp_path / "twice.h5") as run:
        assert list(run.onset_rows().steps) == [0]


def test_a_record_without_scalars_resumed_goes_on_observing(tmp_path):
    from grokscan.recorder import Schedule

    model, path = torch.nn.Linear(2, 2), tmp_path / "bare.h5"
    with Recorder(path, model, layout=Layout()) as rec:
        rec.observe(0, train_loss=1.0, train_acc=0.1)
        rec.record(0)
    with Recorder.reopen(path, model, schedule=Schedule()) as rec:  # as --resume: the last
        for step in (0, 1):  # checkpoint's step is taken again
            rec.observe(step, train_loss=1.0, train_acc=0.1)
        rec.record(1)
    with Run(path) as run:
        assert list(run.steps) == [0, 1] and list(run.onset_rows().steps) == [0, 1]
