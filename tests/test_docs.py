"""The documentation's generated reference and the README against the code: every command and
option of the command line is in the CLI reference (docs/reference/cli.md, rendered here as
sphinx-click renders it at build time), every command in the README's table, and the README
stays short. The build itself (`make docs`, with warnings as errors) checks every link."""

import re
from pathlib import Path

import click
import pytest

from grokscan.cli import main

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"


def _commands(group, prefix=""):
    for name, cmd in group.commands.items():
        yield f"{prefix}{name}", cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{prefix}{name} ")


def cli_reference() -> str:
    """The reStructuredText that docs/reference/cli.md's click directive produces: the group it
    names, every command under it (``:nested: full``), each with its usage and options."""
    ext = pytest.importorskip("sphinx_click.ext")
    page = (DOCS / "reference" / "cli.md").read_text()
    assert ".. click:: grokscan.cli:main" in page and ":prog: grokscan" in page
    assert ":nested: full" in page

    def render(cmd, name, parent=None):
        ctx = click.Context(cmd, info_name=name, parent=parent)
        cmd.get_params(ctx)  # `train` builds its options when first asked for them
        lines = list(ext._format_command(ctx, ext.NESTED_FULL))
        for sub_name, sub in getattr(cmd, "commands", {}).items():
            lines += render(sub, sub_name, ctx)
        return lines

    return "\n".join(render(main, "grokscan"))


@pytest.mark.parametrize("name, cmd", list(_commands(main)))
def test_every_command_and_option_is_in_the_cli_reference(name, cmd):
    text = cli_reference()
    assert f".. program:: grokscan {name}\n" in text, f"{name} missing from the CLI reference"
    block = text.split(f".. program:: grokscan {name}\n", 1)[1].split(".. program::", 1)[0]
    ctx = click.Context(cmd, info_name=name)
    for param in cmd.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden \
                and param is not cmd.get_help_option(ctx):
            for opt in param.opts + param.secondary_opts:
                assert re.search(rf"\.\. option:: .*{re.escape(opt)}\b", block), \
                    f"{name} {opt} missing from the CLI reference"


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_is_in_the_readme(name):
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"grokscan {re.escape(name)}\b", readme), f"{name} missing from README"


def test_the_readme_is_read_in_five_minutes():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_figure_function_has_a_gallery_example():
    """docs/_ext writes one gallery example per figure function (and single-panel figure),
    from its docstring's example; each such docstring has one."""
    import sys

    pytest.importorskip("docutils")  # the docs extra's
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import grokscan_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    import inspect

    import grokscan.figures as gf

    names = grokscan_docs.gallery_functions()
    figures = [n for n in gf.__all__ if callable(getattr(gf, n))
               and "ax" not in inspect.signature(getattr(gf, n)).parameters
               and n != "marker_legend"]
    assert set(figures) <= set(names)
    for n in names:
        assert ">>> " in (inspect.getdoc(getattr(gf, n)) or ""), f"{n} has no example to show"


def test_every_trainable_task_has_its_keys_in_the_reference():
    """docs/reference/config.md draws the table of `grokscan train`'s keys once per task: a new
    task needs its section there."""
    from grokscan.tasks import TRAINABLE

    page = (DOCS / "reference" / "config.md").read_text()
    for kind in TRAINABLE:
        assert f".. grokscan-train-keys::\n   :task: {kind}\n" in page, f"{kind} has no table"
