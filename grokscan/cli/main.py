"""The command line: a thin click layer. Each command parses its options, calls one library
function and prints; the group turns every GrokscanError (and any error the OS or HDF5 raises
about a file) into a one-line message and a non-zero exit, in one place (cli/_click.py).

Nothing heavy is imported here: each command imports the library inside its body, so that
``grokscan --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import click

from grokscan.cli._click import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"],
                                          "max_content_width": 100})
@click.version_option(package_name="grokscan")
def main():
    """grokscan: train small models on modular arithmetic or Ising lattices, record dense
    checkpoints, and measure the hidden reorganisation behind grokking.

    \b
    grokscan train -o run.h5         train the default recipe (addition mod 97)
    grokscan info run.h5             what a checkpoint file holds
    grokscan analyze run.h5 -o out/  the progress measures and the figure report
    grokscan sweep grid.toml -o S/  many runs from one grid, their phase diagrams
    grokscan watch run.h5            a live view of a run while it trains
    """


def _register() -> None:
    from grokscan.cli import analyze, factor, importer, ising, onset, sweep, train, watch

    for module in (train, analyze, factor, ising, importer, sweep, onset, watch):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
