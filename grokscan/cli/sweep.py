"""`grokscan sweep …`: many runs from one grid file, their summary and their report."""

from __future__ import annotations

import click

from grokscan.cli._click import FiniteRange, Group


class SweepGroup(Group):
    """`grokscan sweep GRID.toml …` runs the grid (the `run` command); `grokscan sweep status
    SWEEP/` and `grokscan sweep report SWEEP/` are the others."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SweepGroup)
def sweep():
    """Train and analyse every point of a grid, on local processes or a Dask cluster; the
    summary table, the phase diagrams.

    \b
    grokscan sweep grid.toml -o SWEEP/            # run the grid (same as `sweep run`)
    grokscan sweep grid.toml -o SWEEP/ --scheduler tls://host:8786
    grokscan sweep status SWEEP/                  # counts, failures, the table's head
    grokscan sweep report SWEEP/                  # SWEEP/report.html
    """


@sweep.command("run")
@click.argument("grid_path", metavar="GRID.toml", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="The sweep folder (runs/, summary.csv, points.json).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Local worker processes, one torch thread each. [default: the cores idle "
              "now]")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on the Dask scheduler at this address (tls://host:8786) instead of "
              "local processes; its workers must share the sweep folder's file system. The "
              "client takes its TLS settings from Dask's config (docs/howto/dask.md).")
@click.option("--dashboard", is_flag=True,
              help="Serve the local cluster's Dask dashboard on 127.0.0.1 and print its "
              "address (anyone on this machine can view it). [default: none]")
@click.option("--analyze/--no-analyze", default=True, show_default=True,
              help="Analyse each finished run on the worker that trained it.")
@click.option("--full-analysis", is_flag=True,
              help="Every analysis family, not only the weight-only ones (fourier, norms).")
@click.option("--timeout", type=FiniteRange(min=0, min_open=True), default=30.0,
              show_default=True, help="Seconds to reach the scheduler and to see a worker.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def run(grid_path, out_dir, jobs, scheduler, dashboard, analyze, full_analysis, timeout,
        quiet):
    """Run every point of GRID.toml into the sweep folder: one run.h5 per point under
    runs/<name>/, named by its values. Finished runs are skipped and interrupted ones resumed,
    so the same command continues a sweep and trains only the points a grid gains. A failed
    point is kept in summary.csv with its error; the others go on. Exit status 1 if any point
    failed.

    The grid file is a `grokscan train --config` file with [axes] (lists: a full grid),
    `seeds = N` (or a list) and [sample] (n random draws; see docs/reference/grid.md).

    \b
    grokscan sweep grid.toml -o SWEEP/ --jobs 2
    """
    if jobs and scheduler:
        raise click.UsageError("--jobs is for local processes; a --scheduler has its own workers")
    if dashboard and scheduler:
        raise click.UsageError("--dashboard is for local processes; a --scheduler's cluster "
                               "serves its own")
    from grokscan.sweep import SweepOptions, run_sweep

    mode = ("full" if full_analysis else "cheap") if analyze else "none"
    res = run_sweep(grid_path, out_dir, SweepOptions(jobs=jobs, scheduler=scheduler,
                                                     analyze=mode, timeout=timeout,
                                                     quiet=quiet, dashboard=dashboard))
    df = res["summary"]
    failed = int((df["status"] == "failed").sum())
    if not quiet:
        counts = df["action"].value_counts()
        acts = ", ".join(f"{counts[a]} {a}" for a in ("trained", "resumed", "skipped")
                         if a in counts)
        click.echo(f"{len(df)} points ({acts or 'none run'}), {failed} failed, "
                   f"{res['wall_s']:.1f} s; summary: {', '.join(res['files'])}")
    if failed:
        raise click.ClickException(f"{failed} of {len(df)} points failed; their errors are in "
                                   f"{res['files'][0]} (grokscan sweep status {out_dir})")


@sweep.command()
@click.argument("sweep_dir", metavar="SWEEP", type=click.Path(exists=True, file_okay=False))
@click.option("--head", type=click.IntRange(min=0), default=10, show_default=True,
              help="Rows of the table to print.")
def status(sweep_dir, head):
    """Print a sweep's counts (done, failed, not run yet, phases), its failed runs' errors and
    the head of its summary table.

    \b
    grokscan sweep status SWEEP/
    """
    from grokscan.sweep import status as sweep_status

    click.echo(sweep_status(sweep_dir, head=head))


@sweep.command()
@click.argument("sweep_dir", metavar="SWEEP", type=click.Path(exists=True, file_okay=False))
@click.option("--x", "x", help="The phase diagram's column axis. [default: the first varied]")
@click.option("--y", "y", help="Its row axis. [default: the second varied]")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing.")
def report(sweep_dir, x, y, quiet):
    """Write SWEEP/report.html: the phase diagram over two axes (delay, step of test accuracy
    0.9 and final test accuracy, averaged over seeds, with the phase of each cell), the time to
    grok against each axis with a bootstrap interval, every run's training curves, and the
    delay over seeds at the default point. Self-contained: the images are in the page.

    \b
    grokscan sweep report SWEEP/ --x wd --y frac
    """
    from grokscan.reporting.sweep import render

    render(sweep_dir, x=x, y=y, quiet=quiet)


COMMANDS = (sweep,)
