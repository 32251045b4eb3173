"""`grokscan import`: a tiny run in each source layout, made here, imported and replayed; its
logits equal the source model's forward pass (tests/importers/conftest.py); what is missing
or wrong is a one-line error and leaves no file."""

import json

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from source_models import P, forward, gelu, nanda_split, nanda_state_dict, relu, tl_state_dict

from grokscan.analysis.replay import replay
from grokscan.cli import main
from grokscan.store.reader import Run


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def grid_logits(path, i: int) -> np.ndarray:
    """grokscan's replay of checkpoint i over every (a, b), row a·P + b."""
    with Run(path) as run:
        rp = replay(run)
        rp.load(run.params_at(i))
        logits, _ = rp.forward(rp.grid("add" if "add" in run.task.ops else run.task.ops[0]))
    return logits.double().numpy()


def source_grid(sd: dict, kind: str, act=relu) -> np.ndarray:
    return np.stack([forward(sd, kind, a, b, act) for a in range(P) for b in range(P)])


def assert_same_logits(path, sds: list, kind: str, act=relu):
    for i, sd in enumerate(sds):
        want = source_grid(sd, kind, act)
        np.testing.assert_allclose(grid_logits(path, i), want, rtol=0,
                                   atol=1e-5 * max(1, np.abs(want).max()))


@pytest.fixture
def nanda_dir(tmp_path):
    """His Trainer's folder: init.pth with the split, {epoch}.pth every 100 epochs."""
    d = tmp_path / "grok_1"
    d.mkdir()
    train = nanda_split(0.3, 0)
    test = [t for t in ((i, j, P) for i in range(P) for j in range(P)) if t not in set(train)]
    torch.save({"model": nanda_state_dict(0), "train_data": train, "test_data": test},
               d / "init.pth")
    for i, epoch in enumerate((0, 100, 200)):
        torch.save({"model": nanda_state_dict(i + 1), "train_loss": 1.0, "test_loss": 2.0,
                    "epoch": epoch}, d / f"{epoch}.pth")
    return d


def test_nanda_folder_imports_with_his_split_and_steps(nanda_dir, tmp_path):
    out = tmp_path / "nanda.h5"
    r = run_cli("import", nanda_dir, "-o", out, "--op", "add", "--activation", "relu")
    assert r.exit_code == 0, r.output
    with Run(out) as run:
        assert run.version == 4 and list(run.steps) == [0, 1, 101, 201]
        mask = run.task.train
        ex = run.task.examples
        want = {(a, b) for a, b, _ in nanda_split(0.3, 0)}
        assert {(int(a), int(b)) for a, _, b in ex[mask]} == want
        assert run.config.model.attn_bias is False and run.has_grads
        prov = json.loads(run.f.attrs["provenance"])
    assert prov["format"] == "nanda" and prov["parametrisation"] == "nanda"
    assert {f["name"] for f in prov["files"]} == {"init.pth", "0.pth", "100.pth", "200.pth"}
    assert all(len(f["sha256"]) == 64 for f in prov["files"])
    assert prov["check"]["steps"] == [0, 201] and max(prov["check"]["max_error"]) < 1e-5
    sds = [nanda_state_dict(i) for i in range(4)]
    assert_same_logits(out, sds, "nanda")
    assert not list(tmp_path.glob("nanda.h5.*"))


def test_full_run_data_with_its_config_needs_no_options(tmp_path):
    sds = [nanda_state_dict(i) for i in range(3)]
    cfg = {"p": P, "fn_name": "subtract", "frac_train": 0.5, "seed": 3, "act_type": "GeLU",
           "lr": 1e-3, "weight_decay": 1.0}
    torch.save({"state_dicts": sds, "epochs": [0, 10, 20], "train_losses": [1.0] * 21,
                "test_losses": [1.0] * 21, "config": cfg}, tmp_path / "full_run_data.pth")
    out = tmp_path / "run.h5"
    r = run_cli("import", tmp_path / "full_run_data.pth", "-o", out, "--no-grads")
    assert r.exit_code == 0, r.output
    with Run(out) as run:
        assert list(run.steps) == [1, 11, 21] and run.task.ops == ("sub",)
        a, _, b = run.task.examples.T
        np.testing.assert_array_equal(run.task.labels, (a - b) % P)
        want = {(i, j) for i, j, _ in nanda_split(0.5, 3)}
        assert {(int(x), int(y)) for x, _, y in run.task.examples[run.task.train]} == want
        assert run.config.train.lr == 1e-3 and not run.has_grads
        assert run.config.model.activation == "gelu"
    assert_same_logits(out, sds, "nanda", gelu)


def test_transformer_lens_folder_with_biases_and_a_pairs_file(tmp_path):
    src = tmp_path / "tl"
    src.mkdir()
    sds = [tl_state_dict(i) for i in range(3)]
    for sd, step in zip(sds, (0, 50, 100)):
        torch.save(sd, src / f"ckpt_{step}.pt")
    pairs = tmp_path / "train.txt"
    pairs.write_text("".join(f"{a},{b}\n" for a in range(P) for b in range(P) if (a + b) % 3))
    out = tmp_path / "tl.h5"
    r = run_cli("import", src, "-o", out, "--op", "add", "--activation", "relu",
                "--train-pairs", pairs, "--p", P)
    assert r.exit_code == 0, r.output
    with Run(out) as run:
        assert list(run.steps) == [0, 50, 100] and run.config.model.attn_bias
        assert "unembed.b_U" in run.param_names
        a, _, b = run.task.examples.T
        np.testing.assert_array_equal(run.task.train, (a + b) % 3 != 0)
        assert json.loads(run.f.attrs["provenance"])["format"] == "transformer-lens"
    assert_same_logits(out, sds, "tl")


def test_an_extra_equals_logit_is_dropped(tmp_path):
    sd = tl_state_dict(0, n_out=P + 1)
    torch.save(sd, tmp_path / "model.pt")
    out = tmp_path / "one.h5"
    r = run_cli("import", tmp_path / "model.pt", "-o", out, "--op", "add", "--activation",
                "relu", "--frac", "0.3", "--seed", "598", "--split-rule", "randperm")
    assert r.exit_code == 0, r.output
    g = torch.Generator().manual_seed(598)
    idx = torch.randperm(P * P, generator=g)[: int(P * P * 0.3)].numpy()
    with Run(out) as run:
        assert run.shape("unembed.W_U") == (16, P)
        np.testing.assert_array_equal(np.flatnonzero(run.task.train), np.sort(idx))
    assert_same_logits(out, [sd], "tl")


def test_plain_state_dicts_are_detected_and_use_the_named_rule(tmp_path):
    src = tmp_path / "sds"
    src.mkdir()
    sds = [nanda_state_dict(i) for i in range(2)]
    for sd, step in zip(sds, (10, 20)):
        torch.save(sd, src / f"step{step}.pth")
    out = tmp_path / "sd.h5"
    r = run_cli("import", src, "-o", out, "--op", "add", "--activation", "relu",
                "--frac", "0.3", "--seed", "1")
    assert r.exit_code != 0 and "--split-rule" in r.output
    r = run_cli("import", src, "-o", out, "--op", "add", "--activation", "relu",
                "--frac", "0.3", "--seed", "1", "--split-rule", "nanda")
    assert r.exit_code == 0, r.output
    with Run(out) as run:
        assert list(run.steps) == [10, 20]
        assert json.loads(run.f.attrs["provenance"])["format"] == "state-dicts"
    assert_same_logits(out, sds, "nanda")


def test_safetensors_files(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    src = tmp_path / "st"
    src.mkdir()
    sds = [tl_state_dict(i) for i in range(2)]
    for sd, step in zip(sds, (0, 7)):
        st.save_file({k: v.contiguous() for k, v in sd.items()}, str(src / f"{step}.safetensors"))
    out = tmp_path / "st.h5"
    r = run_cli("import", src, "-o", out, "--op", "add", "--activation", "relu",
                "--train-pairs", _pairs_npy(tmp_path))
    assert r.exit_code == 0, r.output
    assert_same_logits(out, sds, "tl")


def _pairs_npy(tmp_path):
    path = tmp_path / "train.npy"
    np.save(path, np.arange(0, P * P, 2))
    return path


def test_without_the_safetensors_package_one_line_says_how_to_get_it(tmp_path, monkeypatch):
    (tmp_path / "0.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    monkeypatch.setitem(__import__("sys").modules, "safetensors", None)
    monkeypatch.setitem(__import__("sys").modules, "safetensors.torch", None)
    r = run_cli("import", tmp_path, "-o", tmp_path / "x.h5", "--op", "add")
    assert r.exit_code != 0 and "pip install safetensors" in r.output
    assert len(r.output.strip().splitlines()) == 1


def _one_line_error(r, needle: str, tmp_path) -> None:
    assert r.exit_code != 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.output
    assert "Traceback" not in r.output
    assert not [p for p in tmp_path.rglob("*.h5*")], list(tmp_path.rglob("*.h5*"))


def test_a_wrong_p_is_a_one_line_error(nanda_dir, tmp_path):
    r = run_cli("import", nanda_dir, "-o", tmp_path / "x.h5", "--op", "add", "--activation",
                "relu", "--p", "17")
    _one_line_error(r, "--p 17", tmp_path)


def test_a_missing_split_is_a_one_line_error(tmp_path):
    torch.save(tl_state_dict(0), tmp_path / "model.pt")
    r = run_cli("import", tmp_path / "model.pt", "-o", tmp_path / "x.h5", "--op", "add",
                "--activation", "relu")
    _one_line_error(r, "holds no train/test split", tmp_path)


def test_a_missing_operation_or_activation_is_asked_for(nanda_dir, tmp_path):
    _one_line_error(run_cli("import", nanda_dir, "-o", tmp_path / "x.h5", "--activation",
                            "relu"), "--op", tmp_path)
    _one_line_error(run_cli("import", nanda_dir, "-o", tmp_path / "x.h5", "--op", "add"),
                    "--activation", tmp_path)


def test_an_unknown_layout_is_a_one_line_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    _one_line_error(run_cli("import", tmp_path, "-o", tmp_path / "x.h5"), "notes.txt",
                    tmp_path)
    torch.save({"fc1.weight": torch.zeros(3, 3)}, tmp_path / "mlp.pt")
    _one_line_error(run_cli("import", tmp_path / "mlp.pt", "-o", tmp_path / "x.h5"),
                    "fc1.weight", tmp_path)
    sd = tl_state_dict(0)
    sd["blocks.0.ln1.w"] = torch.ones(16)
    torch.save(sd, tmp_path / "ln.pt")
    _one_line_error(run_cli("import", tmp_path / "ln.pt", "-o", tmp_path / "x.h5"),
                    "LayerNorm", tmp_path)


def test_a_mixed_folder_is_ambiguous(tmp_path):
    torch.save(tl_state_dict(0), tmp_path / "0.pt")
    (tmp_path / "1.safetensors").write_bytes(b"")
    _one_line_error(run_cli("import", tmp_path, "-o", tmp_path / "x.h5"), "--from", tmp_path)


def test_a_mismatch_is_an_error_and_leaves_no_file(nanda_dir, tmp_path, monkeypatch):
    from grokscan.importers import params

    real = params.to_grokscan

    def wrong(sd, d):  # a transpose forgotten
        out = real(sd, d)
        out["blocks.0.mlp.W_in"] = np.ascontiguousarray(
            out["blocks.0.mlp.W_in"].reshape(-1)[::-1].reshape(out["blocks.0.mlp.W_in"].shape))
        return out

    monkeypatch.setattr(params, "to_grokscan", wrong)
    r = run_cli("import", nanda_dir, "-o", tmp_path / "x.h5", "--op", "add", "--activation",
                "relu")
    _one_line_error(r, "differs from the source model's own forward pass", tmp_path)


def test_an_error_while_writing_leaves_no_file(nanda_dir, tmp_path):
    (nanda_dir / "200.pth").write_bytes(b"not a torch file")
    r = run_cli("import", nanda_dir, "-o", tmp_path / "x.h5", "--op", "add", "--activation",
                "relu")
    _one_line_error(r, "200.pth", tmp_path)


def test_info_and_analyze_run_on_an_imported_file(nanda_dir, tmp_path):
    out = tmp_path / "nanda.h5"
    assert run_cli("import", nanda_dir, "-o", out, "--op", "add", "--activation",
                   "relu").exit_code == 0
    r = run_cli("info", out)
    assert r.exit_code == 0 and "add mod 13" in r.output and "imported from" in r.output
    r = run_cli("factor", out)
    assert r.exit_code in (0, 3), r.output  # P = 13 is prime: no factor, exit 3
    r = run_cli("analyze", out, "-o", tmp_path / "an", "--families",
                "fourier,norms,neurons,freqloss,embedding/cosine", "--no-report", "-q")
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "an" / "metrics.h5", "r") as f:
        assert json.loads(f.attrs["left_out"]) == {}
        assert f["steps"].shape == (4,)
        assert np.isfinite(f["metrics/freqloss/restricted_train"][()]).all()
    r = run_cli("report", tmp_path / "an", "-q")
    assert r.exit_code == 0, r.output
    page = (tmp_path / "an" / "report.html").read_text()
    assert "Restricted and excluded loss" in page and "Trig components" in page


class Config:
    """A stand-in for Nanda's Config dataclass: a Python object in the pickle."""

    p, fn_name, frac_train, seed, act_type = P, "add", 0.3, 0, "ReLU"


def test_a_pickled_config_object_needs_trust(tmp_path):
    sds = [nanda_state_dict(0), nanda_state_dict(1)]
    torch.save({"state_dicts": sds, "epochs": [0, 1], "config": Config()},
               tmp_path / "full_run_data.pth")
    out = tmp_path / "run.h5"
    r = run_cli("import", tmp_path, "-o", out)
    _one_line_error(r, "--trust-pickle", tmp_path)
    r = run_cli("import", tmp_path, "-o", out, "--trust-pickle")
    assert r.exit_code == 0, r.output
    assert_same_logits(out, sds, "nanda")


def test_a_grokscan_run_written_in_nanda_s_layout_comes_back_unchanged(tmp_path):
    """Train grokscan's transformer, save its checkpoints as Nanda's Trainer would (his
    shapes, '=' at P, an extra '=' logit, init.pth with the split), import them: every
    parameter comes back as it was (the unused operation-token row of W_E aside)."""
    from conftest import fast_config

    from grokscan.config import ModelConfig
    from grokscan.training import train

    cfg = fast_config(steps=40, every=20)
    cfg = type(cfg)(type(cfg.task)(ops=("add",), p=P, frac=0.5),
                    ModelConfig(kind="transformer", d_embed=16, width=32, n_heads=2),
                    cfg.train)
    run_path = tmp_path / "native.h5"
    train(cfg, run_path, quiet=True)
    src = tmp_path / "nanda"
    src.mkdir()
    with Run(run_path) as run:
        params = [run.params_at(i) for i in range(run.n)]
        steps, task = list(run.steps), run.task
    for step, w in zip(map(int, steps), params):
        W_E = np.concatenate([w["embed.W_E"][:P], w["embed.W_E"][P + 1:]])  # '=' to P
        sd = {"embed.W_E": W_E.T, "pos_embed.W_pos": w["pos_embed.W_pos"],
              "unembed.W_U": np.concatenate([w["unembed.W_U"], np.zeros((16, 1))], 1)}
        for n in "QKV":
            sd[f"blocks.0.attn.W_{n}"] = w[f"blocks.0.attn.W_{n}"].transpose(0, 2, 1)
        sd["blocks.0.attn.W_O"] = w["blocks.0.attn.W_O"].reshape(16, 16).T
        sd["blocks.0.mlp.W_in"] = w["blocks.0.mlp.W_in"].T
        sd["blocks.0.mlp.W_out"] = w["blocks.0.mlp.W_out"].T
        sd.update({k: w[k] for k in ("blocks.0.mlp.b_in", "blocks.0.mlp.b_out")})
        sd = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
              for k, v in sd.items()}
        if step == 0:
            a, _, b = task.examples[task.train].T
            torch.save({"model": sd, "train_data": [(int(x), int(y), P) for x, y in zip(a, b)]},
                       src / "init.pth")
        else:
            torch.save({"model": sd, "epoch": step - 1}, src / f"{step - 1}.pth")
    out = tmp_path / "back.h5"
    r = run_cli("import", src, "-o", out, "--op", "add", "--activation", "relu")
    assert r.exit_code == 0, r.output
    with Run(out) as back:
        assert list(back.steps) == steps
        np.testing.assert_array_equal(back.task.train, task.train)
        for i, w in enumerate(params):
            for name, value in back.params_at(i).items():
                if name == "embed.W_E":
                    value, w_name = np.delete(value, P, 0), np.delete(w[name], P, 0)
                else:
                    w_name = w[name]
                np.testing.assert_allclose(value, w_name, rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(back.scalars["test_acc"], run_scalars(run_path)["test_acc"])


def run_scalars(path):
    with Run(path) as run:
        return run.scalars


def test_the_transformer_lens_demo_dict_carries_its_split(tmp_path):
    sds = [tl_state_dict(i) for i in range(2)]
    g = torch.Generator().manual_seed(598)
    idx = torch.randperm(P * P, generator=g)
    torch.save({"checkpoints": sds, "checkpoint_epochs": [99, 199],
                "train_indices": idx[:50], "test_indices": idx[50:],
                "train_losses": [1.0] * 200, "test_losses": [1.0] * 200},
               tmp_path / "grokking_demo.pth")
    out = tmp_path / "demo.h5"
    r = run_cli("import", tmp_path / "grokking_demo.pth", "-o", out, "--op", "add",
                "--activation", "relu")
    assert r.exit_code == 0, r.output
    with Run(out) as run:
        assert list(run.steps) == [100, 200]
        np.testing.assert_array_equal(np.flatnonzero(run.task.train), np.sort(idx[:50]))
        assert json.loads(run.f.attrs["provenance"])["format"] == "transformer-lens"
    assert_same_logits(out, sds, "tl")
    # options that disagree with what the source holds are refused
    r = run_cli("import", tmp_path / "grokking_demo.pth", "-o", tmp_path / "x.h5", "--op",
                "add", "--activation", "relu", "--frac", "0.3", "--seed", "1",
                "--split-rule", "randperm")
    _one_line_error(r, "is not the one", tmp_path / "none")  # demo.h5 is there, x.h5 is not
    assert not list(tmp_path.glob("x.h5*"))


def test_an_operation_that_disagrees_with_the_config_is_refused(tmp_path):
    torch.save({"state_dicts": [nanda_state_dict(0)], "epochs": [0],
                "config": {"fn_name": "add", "act_type": "ReLU", "frac_train": 0.3, "seed": 0}},
               tmp_path / "full_run_data.pth")
    r = run_cli("import", tmp_path, "-o", tmp_path / "x.h5", "--op", "sub")
    _one_line_error(r, "--op sub", tmp_path)
