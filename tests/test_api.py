"""The front door: what ``import grokscan`` exports, each name documented, and the Python path
from a config to a report giving what the command line gives."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import grokscan

ROOT = Path(__file__).parent.parent
# the public modules: grokscan and the packages a user imports on purpose, each with its
# public names in __all__ (docs/reference/api); every other module is internal
PUBLIC_MODULES = ("grokscan", "grokscan.cli", "grokscan.figures", "grokscan.metrics",
                  "grokscan.onset", "grokscan.tasks", "grokscan.tasks.modular",
                  "grokscan.tasks.ising", "grokscan.factor", "grokscan.sweep", "grokscan.watch",
                  "grokscan.studies")
SMALL = dict(p=23, frac=0.5, d_embed=8, width=16, steps=60, every=20, threads=1)


def test_dir_lists_the_public_api():
    assert dir(grokscan)[: len(grokscan.__all__)] == sorted(grokscan.__all__) or \
        set(grokscan.__all__) <= set(dir(grokscan))
    for name in grokscan.__all__:
        assert getattr(grokscan, name) is not None, name
    assert not [n for n in grokscan.__all__ if n.startswith("_") and n != "__version__"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        grokscan.nope  # noqa: B018


def test_import_grokscan_loads_no_torch():
    code = "import sys, grokscan; dir(grokscan); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", [n for n in grokscan.__all__ if n != "__version__"])
def test_every_public_name_is_documented(name):
    """numpydoc: a summary line; a function's docstring also has Parameters, Returns and
    Examples; a class's has its own docstring."""
    obj = getattr(grokscan, name)
    doc = inspect.getdoc(obj)
    assert doc and len(doc.splitlines()[0]) > 10, name
    if inspect.isfunction(obj):
        for section in ("Parameters", "Returns", "Examples"):
            assert f"\n{section}\n---" in doc, (name, section)
        documented = set(_parameter_names(doc))
        for p in inspect.signature(obj).parameters.values():
            shown = f"**{p.name}" if p.kind is p.VAR_KEYWORD else p.name
            assert shown in documented, (name, p.name)


def _parameter_names(doc: str) -> list[str]:
    """The names a numpydoc Parameters section documents."""
    part = doc.split("\nParameters\n")[1].split("\nReturns\n")[0]
    names = [line.split(" : ")[0].strip() for line in part.splitlines()
             if line and not line.startswith(" ") and not line.startswith("-")]
    return [n.strip() for line in names for n in line.split(",")]


def test_run_config_is_what_train_options_give():
    cfg = grokscan.run_config(op="mul", p=59, frac=0.5, wd=0.5, steps=500)
    assert (cfg.task.ops, cfg.task.p, cfg.task.frac) == (("mul",), 59, 0.5)
    assert (cfg.train.wd, cfg.train.steps) == (0.5, 500)
    with pytest.raises(grokscan.GrokscanError, match="unknown key"):
        grokscan.run_config(nope=1)


def test_train_analyze_report_and_open_what_they_wrote(tmp_path):
    cfg = grokscan.run_config(**{k: v for k, v in SMALL.items() if k != "threads"})
    res = grokscan.train(tmp_path / "run.h5", cfg, stop_when_grokked=0)
    assert (res.n_checkpoints, res.last_step) == (4, 60)
    with grokscan.open_run(tmp_path / "run.h5") as run:
        assert run.steps.tolist() == [0, 20, 40, 60]
        assert run.config.flat() == cfg.flat()
        E = run.param("embed.W_E")
    with h5py.File(tmp_path / "run.h5", "r") as f:  # an independent read of the same rows
        np.testing.assert_array_equal(E, f["params/embed.W_E"][()])
    summary = grokscan.analyze(tmp_path / "run.h5", tmp_path / "out",
                               families=["fourier", "norms"])
    assert summary["n_checkpoints"] == 4 and set(summary["families"]) == {"fourier", "norms"}
    assert (tmp_path / "out" / "report.html").exists()
    for where in (tmp_path / "out", tmp_path / "out" / "metrics.h5"):  # the folder or the file
        with grokscan.open_metrics(where) as m:
            df = m.table()
            gini = m.get("metrics/fourier/gini_embed")
    assert df.index.tolist() == [0, 20, 40, 60]
    np.testing.assert_array_equal(df["fourier/gini_embed"].to_numpy(), gini)
    with h5py.File(tmp_path / "out" / "metrics.h5", "r") as f:
        np.testing.assert_array_equal(df["test_acc"].to_numpy(), f["scalars/test_acc"][()])
    report = grokscan.report(tmp_path / "out")
    assert report["html"].endswith("report.html")


def test_train_resumes_with_the_run_s_own_settings(tmp_path):
    path = tmp_path / "run.h5"
    grokscan.train(path, **SMALL)
    res = grokscan.train(path, resume=True, steps=100)
    assert res.last_step == 100 and res.added == 2
    with pytest.raises(grokscan.GrokscanError, match="lr"):
        grokscan.train(path, resume=True, steps=120, lr=0.5)


def _imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) of every grokscan import of a file (name None for ``import m``)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names if a.name.startswith("grokscan")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grokscan"):
            out += [(node.module, a.name) for a in node.names]
    return out


@pytest.mark.parametrize("script", sorted((ROOT / "scripts").glob("*.py")),
                         ids=lambda p: p.name)
def test_scripts_use_only_public_names(script):
    """scripts/ is written as a user would: grokscan's public names only (grokscan's
    __all__, and the public modules' own)."""
    import importlib

    for module, name in _imports(script):
        assert module in PUBLIC_MODULES, f"{script.name}: imports {module}"
        if name is None or f"{module}.{name}" in PUBLIC_MODULES:
            continue
        public = getattr(importlib.import_module(module), "__all__", ())
        assert name in public, f"{script.name}: {module}.{name} is not public"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_modules_say_what_they_export(module):
    import importlib

    m = importlib.import_module(module)
    assert m.__doc__ and m.__all__, module
    for name in m.__all__:
        assert hasattr(m, name), f"{module}.{name}"


def test_a_lazy_name_is_not_its_submodule():
    """``from grokscan.factor import search`` gives the function, not the submodule search.py
    that importing it binds under the same name (a fresh interpreter: nothing loaded yet)."""
    code = ("import inspect; from grokscan.factor import Recipe, search; "
            "import grokscan.factor as f; print(inspect.isfunction(search), f.search is search)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "True"]


def test_a_config_round_trips_through_its_flat_keys():
    from grokscan.config import from_flat

    for kw in (dict(op="mul", p=59, wd=0.3), dict(task="ising", beta=0.5),
               dict(task="parity", n_bits=20), dict(task="digits", n_train=300),
               dict(model="transformer", op="add,sub")):
        cfg = grokscan.run_config(**kw)
        assert from_flat(cfg.flat()) == cfg, kw
