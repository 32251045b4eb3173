"""`grokscan onset …`: the grokking onset detector, judged on a sweep's runs."""

from __future__ import annotations

import click

from grokscan.cli._click import Group


@click.group(cls=Group)
def onset():
    """The causal grokking onset detector (training-side measures only) and its evaluation
    on held-out runs.

    \b
    grokscan onset evaluate SWEEP/     # coverage, lead, false alarms, ROC
    grokscan onset evaluate A/ B/ -o OUT/   # several sweeps judged together
    """


@onset.command()
@click.argument("sweep_dirs", metavar="SWEEP...", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where to write onset.csv, onset_summary.csv and onset.html. [default: "
              "SWEEP/ when one sweep is given; needed for several]")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def evaluate(sweep_dirs, out_dir, quiet):
    """Run the onset detectors over every finished run of one or more sweeps and judge them
    (the in-loop model on the runs whose run.h5 has its record, replayed with the model this
    grokscan ships; the checkpoint detectors on every run): per run the memorisation step,
    the steps of test accuracy 0.5 and 0.9, the flag and the lead fraction; over all the
    runs (and, for several sweeps, over each) the coverage, the lead's quartiles, the
    false-alarm rate on the controls, the ROC AUC and the coverage at 5 % and 10 % false
    alarms. A control never reaches test accuracy 0.5 and is not rising at the end; a run
    still rising is undecided and counted apart. Writes onset.csv, onset_summary.csv and
    onset.html, prints the summary and which detectors it judged. A run without the fourier
    and norms analysis is analysed first; a run file that is there but does not open is an
    error, its metrics.h5 or not.

    \b
    grokscan onset evaluate SWEEP/
    grokscan onset evaluate SWEEP_A/ SWEEP_B/ -o judged/
    """
    import os

    from grokscan.errors import GrokscanError
    from grokscan.progress import progress
    from grokscan.reporting.onset import table_text, which, write
    from grokscan.studies.onset import evaluate as run_evaluation
    from grokscan.studies.onset import finished_count

    if out_dir is None:
        if len(sweep_dirs) > 1:
            raise GrokscanError(f"{len(sweep_dirs)} sweeps given: say where to write the "
                                "evaluation with -o OUT/")
        out_dir = sweep_dirs[0]
    os.makedirs(out_dir, exist_ok=True)
    bar = progress(finished_count(sweep_dirs), desc="onset", unit="run", quiet=quiet)
    try:
        per_run, summary, curves = run_evaluation(sweep_dirs, tick=bar.update)
    finally:
        bar.close()
    paths = write(out_dir, per_run, summary, curves, sources=sweep_dirs)
    click.echo(table_text(summary))
    click.echo(which(per_run))
    click.echo("written: " + ", ".join(paths))


COMMANDS = (onset,)
