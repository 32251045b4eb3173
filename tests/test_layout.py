"""The shape of the package: what imports what, what loads torch, and how large a function is."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import grokscan

PKG = Path(grokscan.__file__).parent
DATA = Path(__file__).parent / "data"


def modules() -> dict[str, Path]:
    """Every module of the package: {dotted name: file}."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def test_the_house_s_layers_hold():
    """import-linter with the contracts of pyproject.toml ([tool.importlinter]): each room
    imports only from the rooms below it, and no modules of a room import each other in a
    cycle; every import counts, those inside functions too."""
    from importlinter.cli import lint_imports

    root = PKG.parent
    assert (root / "pyproject.toml").exists()
    assert lint_imports(config_filename=str(root / "pyproject.toml"), no_cache=True,
                        no_logo=True) == 0


def _fresh_python(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object, returned here."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_help_and_info_load_no_torch():
    code = f"""
import json, sys, io, contextlib
from grokscan.cli import main
out = {{}}
for args in (["--help"], ["train", "--help"], ["info", {str(DATA / "checkpoints-v1.h5")!r}],
             ["metrics"]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args, standalone_mode=False)
        except SystemExit:
            pass
    out[args[0]] = "torch" in sys.modules
print(json.dumps(out))
"""
    assert _fresh_python(code) == {"--help": False, "train": False, "info": False,
                                   "metrics": False}


def test_the_report_loads_no_torch(tmp_path):
    (tmp_path / "metrics.h5").write_bytes((DATA / "metrics-v1.h5").read_bytes())
    code = f"""
import json, sys
from grokscan.reporting import render
result = render({str(tmp_path)!r}, quiet=True, dpi=30)
print(json.dumps({{"torch": "torch" in sys.modules, "figures": len(result["figures"])}}))
"""
    out = _fresh_python(code)
    assert out["torch"] is False and out["figures"] > 5


def _is_click_command(fn: ast.FunctionDef) -> bool:
    return any("command" in ast.unparse(d) or "group" in ast.unparse(d)
               for d in fn.decorator_list)


def test_functions_are_small():
    """At most ~60 lines of body (docstring aside) and 8 parameters, click commands aside:
    their parameters are their options."""
    big = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if _is_click_command(node):
                continue
            body = node.body
            doc = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                   and isinstance(body[0].value.value, str))
            first = body[1].lineno if doc and len(body) > 1 else body[0].lineno
            lines = node.end_lineno - first + 1
            a = node.args
            params = [x for x in a.posonlyargs + a.args + a.kwonlyargs
                      if x.arg not in ("self", "cls")]
            if lines > 60 or len(params) > 8:
                big.append(f"{name}.{node.name}: {lines} lines, {len(params)} parameters")
    assert not big, "\n".join(big)
