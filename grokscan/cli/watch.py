"""`grokscan watch`."""

from __future__ import annotations

import sys

import click

from grokscan.cli._click import FiniteRange


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--replay", is_flag=True,
              help="Step through a complete file's checkpoints quickly, in the same view.")
@click.option("--interval", type=FiniteRange(0.05, 60), default=1.0, show_default=True,
              help="Seconds between two looks at the file.")
@click.option("--timeout", type=FiniteRange(0.1), default=300.0, show_default=True,
              help="Give up after this many seconds without a new checkpoint (or without "
                   "the file, while it has not appeared yet).")
@click.option("--html", "html", type=click.Path(dir_okay=False),
              help="Also write the view to this self-contained page, rewritten as "
                   "checkpoints arrive and reloading itself in the browser.")
def watch(path, replay, interval, timeout, html):
    """Watch a run while it trains: losses, accuracies, the Fourier spectrum of the embedding
    and the residues' constellation, redrawn as checkpoints arrive.

    It reads the file that `grokscan train` (or a Recorder) is writing, never writes to it,
    and ends by itself when the training ends, with a summary. Ctrl-C stops watching (the
    training goes on).

    \b
    grokscan train -o run.h5 & grokscan watch run.h5
    grokscan watch run.h5 --html live.html
    grokscan watch run.h5 --replay
    """
    from grokscan.watch.live import WatchOptions
    from grokscan.watch.live import watch as follow

    try:
        follow(path, WatchOptions(replay=replay, interval=interval, timeout=timeout,
                                  html=html))
    except KeyboardInterrupt:
        click.echo("stopped watching", err=True)
        sys.exit(130)


COMMANDS = (watch,)
