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
    """


@onset.command()
@click.argument("sweep_dir", metavar="SWEEP", type=click.Path(exists=True, file_okay=False))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def evaluate(sweep_dir, quiet):
    """Run the onset detector and its baselines over every finished run of a sweep and judge
    them: per run the memorisation step, the steps of test accuracy 0.5 and 0.9, the flag
    and the lead fraction; over the sweep the coverage, the lead's quartiles, the
    false-alarm rate on the runs that never reach test accuracy 0.5, the ROC AUC and the
    coverage at 5 % and 10 % false alarms. Writes SWEEP/onset.csv, SWEEP/onset_summary.csv
    and SWEEP/onset.html, and prints the summary. A run without the fourier and norms
    analysis is analysed first.

    \b
    grokscan onset evaluate SWEEP/
    """
    from grokscan.onset.evaluate import evaluate as run_evaluation
    from grokscan.progress import progress
    from grokscan.report.onset import table_text, write
    from grokscan.sweep import table

    n = int((table.read(sweep_dir)["status"] == "done").sum())
    bar = progress(n, desc="onset", unit="run", quiet=quiet)
    try:
        per_run, summary, curves = run_evaluation(sweep_dir, tick=bar.update)
    finally:
        bar.close()
    paths = write(sweep_dir, per_run, summary, curves)
    click.echo(table_text(summary))
    click.echo("written: " + ", ".join(paths))


COMMANDS = (onset,)
