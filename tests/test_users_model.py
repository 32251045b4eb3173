"""Anyone's model, every measure: a plain torch model recorded from a user's own loop through
the public API gets the numbers grokscan's own model gets with the same weights, family by
family; a file that names code never makes analysis import it."""

import sys

import numpy as np
import pytest
import torch

import grokscan
from grokscan.errors import GrokscanError

P, D, W = 23, 8, 32
STEPS, EVERY = 60, 20
# the user's parameter -> grokscan's own MLP's, and whether it is stored transposed
OWN = {"emb.weight": ("embed.W_E", False), "fc1.weight": ("hidden.0.W", True),
       "fc1.bias": ("hidden.0.b", False), "fc2.weight": ("unembed.W_U", True),
       "fc2.bias": ("unembed.b_U", False)}


class Net(torch.nn.Module):
    """Embedding (shared by a and b, concatenated) -> Linear -> ReLU -> Linear: grokscan's
    own MLP written as a user would, with torch.nn modules."""

    def __init__(self, n_vocab: int, d: int = D, width: int = W, p: int = P):
        super().__init__()
        self.emb = torch.nn.Embedding(n_vocab, d)
        self.fc1 = torch.nn.Linear(2 * d, width)
        self.act = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(width, p)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(self.emb(x).flatten(1))))


def _scalars(model, split):
    out = {}
    with torch.no_grad():
        for name, x, y in (("train", split.x_train, split.y_train),
                           ("test", split.x_test, split.y_test)):
            logits = model(torch.from_numpy(x))
            y = torch.from_numpy(y)
            out[f"{name}_loss"] = torch.nn.functional.cross_entropy(logits, y).item()
            out[f"{name}_acc"] = (logits.argmax(-1) == y).sum().item() / len(y)
    return out


def _copy_into_own(net, own):
    with torch.no_grad():
        mine = dict(net.named_parameters())
        theirs = dict(own.named_parameters())
        for name, (other, transposed) in OWN.items():
            theirs[other].copy_(mine[name].T if transposed else mine[name])


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The user's net trained in a plain loop and recorded through the public API; grokscan's
    own MLP given the same weights at every checkpoint and recorded beside it; both analysed
    with every family."""
    from grokscan.models import for_split

    tmp = tmp_path_factory.mktemp("users")
    data = grokscan.modular_task("add", P, frac=0.5, seed=0)
    split = data.split("tokens")
    torch.manual_seed(0)
    net = Net(data.n_vocab)
    cfg, own = for_split(grokscan.run_config(p=P, frac=0.5, d_embed=D, width=W),
                         data.split("mlp"))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-2, weight_decay=1.0)
    x, y = torch.from_numpy(split.x_train), torch.from_numpy(split.y_train)
    spec = grokscan.ModelSpec(Net, kwargs={"n_vocab": data.n_vocab})
    with grokscan.Recorder(tmp / "mine.h5", net, task=data, config=spec, grads=False,
                           layout=grokscan.layout_of(net),
                           schedule=grokscan.Schedule(every=EVERY)) as rec, \
            grokscan.Recorder(tmp / "own.h5", own, task=data, config=cfg, grads=False,
                              schedule=grokscan.Schedule(every=EVERY)) as ref:
        for step in range(STEPS + 1):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            if rec.due(step):
                s = _scalars(net, split)
                rec.record(step, **s)
                _copy_into_own(net, own)
                ref.record(step, **s)
            opt.step()
    out = {}
    for name, model in (("mine", Net), ("own", None)):
        out[name] = grokscan.analyze(tmp / f"{name}.h5", tmp / name, model=model, report=False,
                                     subset=0)
    return tmp, out


def test_a_user_s_model_gets_every_family(both):
    _, out = both
    mine, own = out["mine"], out["own"]
    assert len(mine["families"]) >= 12, mine["left_out"]
    # every one the MLP gets, but the first layer's features: only grokscan's MLP names its
    # first hidden layer (hidden.0.W); a layout has no entry for it, and the reason says so
    assert set(mine["families"]) == set(own["families"]) - {"features/cosine"}
    assert set(mine["left_out"]) == {"attention/maps", "features/cosine"}
    assert "hidden.0.W" in mine["left_out"]["features/cosine"]


def _metrics(path) -> dict[str, np.ndarray]:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f["metrics"].visititems(visit)
        if "moments" in f:
            f["moments"].visititems(lambda n, o: visit(f"moments/{n}", o))
    return out


def _own_name(name: str) -> str:
    for mine, (other, _) in OWN.items():
        name = name.replace(mine, other)
    return name


def test_every_number_equals_grokscan_s_own_model_s(both):
    """Family by family, metric by metric: the user's file gives what grokscan's own model
    gives with the same weights (parameter-named metrics matched by the parameter; a
    transposed matrix has the same norm, entropy and small-weight share). PCA coordinates
    are equal up to each component's sign."""
    tmp, _ = both
    mine, own = _metrics(tmp / "mine" / "metrics.h5"), _metrics(tmp / "own" / "metrics.h5")
    own = {k: v for k, v in own.items() if not k.startswith("features/cosine/")}  # MLP only
    assert {_own_name(k) for k in mine} == set(own)
    for name, value in mine.items():
        want = own[_own_name(name)]
        got = np.asarray(value, float)
        want = np.asarray(want, float)
        if "coords" in name or "components" in name:  # a principal axis has either sign
            got, want = np.abs(got), np.abs(want)
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5, err_msg=name,
                                   equal_nan=True)
    assert len(mine) > 50


def test_a_file_that_names_code_never_runs_it(both, tmp_path):
    """A crafted file whose model reference names a module: without --model, the replayed
    families are left out, saying what to give, and the module is not imported; naming
    another callable is refused in one line."""
    import shutil

    import h5py

    from grokscan.store.spec import ModelSpec

    src, _ = both
    path = tmp_path / "crafted.h5"
    shutil.copy(src / "mine.h5", path)
    with h5py.File(path, "r+") as f:
        spec = ModelSpec.from_json(f.attrs["model"], "x")
        f.attrs["model"] = ModelSpec("grokscan_crafted_module:boom", spec.kwargs,
                                     spec.hidden, spec.inputs).to_json()
    res = grokscan.analyze(path, tmp_path / "out", report=False)
    assert "grokscan_crafted_module" not in sys.modules
    why = res["left_out"]["neurons"]
    assert "names its model's code, grokscan_crafted_module:boom" in why
    assert "give --model grokscan_crafted_module:boom" in why
    assert "fourier" in res["families"] and "neurons" not in res["families"]
    with pytest.raises(GrokscanError, match="was recorded from grokscan_crafted_module:boom; "
                                            "name that one"):
        grokscan.analyze(path, tmp_path / "out2", model=Net, report=False)
    assert "grokscan_crafted_module" not in sys.modules


def test_a_spec_that_does_not_build_the_model_is_refused(tmp_path):
    data = grokscan.modular_task("add", P, frac=0.5)
    net = Net(data.n_vocab)
    wrong = grokscan.ModelSpec(Net, kwargs={"n_vocab": data.n_vocab, "width": W + 1})
    with pytest.raises(GrokscanError, match="builds a model whose parameters differ"):
        grokscan.Recorder(tmp_path / "r.h5", net, task=data, config=wrong,
                          layout=grokscan.layout_of(net))
    with pytest.raises(GrokscanError, match="hidden names 'relu'"):
        grokscan.Recorder(tmp_path / "r.h5", net, task=data, layout=grokscan.layout_of(net),
                          config=grokscan.ModelSpec(Net, kwargs={"n_vocab": data.n_vocab},
                                                    hidden=["relu"]))
    assert not (tmp_path / "r.h5").exists()


def test_the_in_loop_detector_names_what_is_missing(tmp_path):
    """Without a logit map, the in-loop detector's reason names the signals missing from the
    first step and the layout entry that gives them."""
    data = grokscan.modular_task("add", P, frac=0.5)
    net = Net(data.n_vocab)
    layout = grokscan.layout_of(net)
    bare = grokscan.Layout(layout.residue_vectors, ())
    x = torch.from_numpy(data.split("tokens").x_train)
    y = torch.from_numpy(data.split("tokens").y_train)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-2)
    with grokscan.Recorder(tmp_path / "r.h5", net, task=data, layout=bare) as rec:
        for step in range(121):
            opt.zero_grad()
            logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            loss.backward()
            acc = (logits.argmax(-1) == y).float().mean().item()
            rec.observe(step, train_loss=loss.item(), train_acc=acc)
            if rec.due(step):
                rec.record(step, train_loss=loss.item(), train_acc=acc)
            opt.step()
    assert rec.onset.reason == ("no flag: signals missing from the first step (gini_logit, "
                                "entropy_logit: give the layout's neuron_logit_map)")


def tutorial_loop() -> str:
    """The code cell of the tutorial "Your own training loop" (docs/tutorials/own-loop.md) that
    follows ``<!-- users-loop -->``."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "tutorials" / "own-loop.md").read_text()
    after = text.split("<!-- users-loop -->", 1)[1]
    return after.split("```{code-cell} ipython3\n", 1)[1].split("```", 1)[0]


def test_the_tutorial_loop_runs_as_printed(tmp_path):
    """The tutorial's loop of a user's own model, run as a script exactly as printed: it
    records, analyses every family but attention and draws the report."""
    import subprocess

    (tmp_path / "loop.py").write_text(tutorial_loop())
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # beside the suite's other worker
    r = subprocess.run([sys.executable, "loop.py"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("16 families; left out: {'features/cosine':"), r.stdout
    assert "'attention/maps'" in r.stdout
    assert (tmp_path / "mine.h5").exists() and (tmp_path / "out" / "report.html").exists()
    with grokscan.open_run(tmp_path / "mine.h5") as run:
        assert run.steps.tolist() == list(range(0, 401, 100))
        assert run.model_spec.factory == "__main__:Net"
