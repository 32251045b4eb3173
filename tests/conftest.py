import pytest
import torch

# Small models on a 2-core machine: one thread is faster under contention and bitwise stable.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def one_thread():
    """A command run in a test chooses its own thread count (grokscan/threads.py); the next
    test starts with one again."""
    yield
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fast_run(tmp_path_factory):
    """The fast grokking recipe (docs/tutorials/first-run.md): (a+b) mod 41, frac 0.5, MLP
    emb 32 → 128 ReLU, AdamW lr 1e-2, wd 1; 1500 steps, a checkpoint every 10. Trained once per
    test session."""
    from grokscan.training import train

    path = tmp_path_factory.mktemp("runs") / "fast.h5"
    train(fast_config(), path, quiet=True)
    return path


@pytest.fixture(scope="session")
def analysed(fast_run, tmp_path_factory):
    """Every metric family on every third checkpoint of ``fast_run`` (51 checkpoints, the
    expensive families on the default subset): (out_dir, summary)."""
    from grokscan.analysis import Options, analyze

    out = tmp_path_factory.mktemp("analysed")
    before = fast_run.read_bytes()
    summary = analyze(fast_run, out, Options(every=3, quiet=True))
    assert fast_run.read_bytes() == before  # the checkpoint file is never modified
    return out, summary


def fast_config(**train_kw):
    from grokscan.config import ModelConfig, RunConfig, TrainConfig
    from grokscan.tasks.modular import ModularConfig

    return RunConfig(
        ModularConfig(ops=("add",), p=41, frac=0.5),
        ModelConfig(d_embed=32, width=128),
        TrainConfig(**{"steps": 1500, "every": 10, **train_kw}),
    )


def run_contents(path, *, task: bool = False) -> dict:
    """Everything a checkpoint file records, as arrays: parameters, gradients, scalars, steps
    (and the task's datasets), for comparing two files bitwise."""
    import numpy as np

    from grokscan.store.reader import Run

    with Run(path) as run:
        out = {f"p/{k}": run.param(k) for k in run.param_names}
        out.update({f"g/{k}": run.grad(k) for k in run.param_names})
        out.update({f"s/{k}": v for k, v in run.scalars.items()})
        if task:
            out.update({f"t/{k}": v[()] for k, v in run.f["task"].items()})
        out["steps"] = run.steps
        onset = run.onset_rows()
        if onset is not None:  # the in-loop detector's record, rows and state
            out.update({"o/steps": onset.steps, "o/values": onset.values,
                        "o/score": onset.score,
                        "o/state": np.array([onset.memorised or -1, onset.flag or -1])})
    return out


def assert_same_contents(a: dict, b: dict) -> None:
    import numpy as np

    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def cli(*args):
    """``grokscan ARGS`` in this process (click's CliRunner), every argument as text."""
    from click.testing import CliRunner

    from grokscan.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *needles) -> str:
    """The one line starting "Error" of a command that failed cleanly (a non-zero exit, no
    traceback), after checking that it holds each of ``needles``."""
    assert result.exit_code not in (0, 3), result.output  # 3: factor's "no factor found"
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    lines = [ln for ln in result.output.strip().splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def tree(root) -> dict:
    """Everything under ``root``, links not followed: {relative path: the file's bytes, "dir",
    or "link -> target"}; two snapshots differ if anything was written, removed or replaced."""
    import os

    out = {}
    for folder, dirs, files in os.walk(root):
        for n in dirs + files:
            path = os.path.join(folder, n)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = f"link -> {os.readlink(path)}"
            elif os.path.isdir(path):
                out[rel] = "dir"
            else:
                with open(path, "rb") as fh:
                    out[rel] = fh.read()
    return out
