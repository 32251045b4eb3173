"""`grokscan analyze`, `grokscan report`, `grokscan metrics`."""

from __future__ import annotations

import os

import click

from grokscan.cli._click import THREADS_HELP, FiniteRange


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: metrics.h5 and metrics.csv.")
@click.option("--families", "families", help="Comma-separated metric families (the units of "
              "analysis, each several metrics); `grokscan "
              "metrics` lists them. [default: all that the run allows]")
@click.option("--model", "model_ref", metavar="MODULE:NAME",
              help="For a run of your own model (recorded with a ModelSpec): the callable that "
              "builds it, the one the file names; the replayed families run it only when you "
              "name it here (a file never makes grokscan import code).")
@click.option("--basis", type=click.Choice(["auto", "additive", "multiplicative"]),
              default="auto", show_default=True,
              help="Fourier basis; auto takes the operation's group.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Analyse every K-th checkpoint.")
@click.option("--steps", "step_range", metavar="A:B", help="Only checkpoints with A ≤ step ≤ B.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes.")
@click.option("--subset", type=click.IntRange(min=0), default=24, show_default=True,
              help="Checkpoints for the expensive families (per-sample gradients, Monte-Carlo "
              "dropout), spread over the run and denser where test accuracy moves; 0 = all.")
@click.option("--samples", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Examples in the activation PCA (drawn once, the same at every checkpoint).")
@click.option("--grad-samples", type=click.IntRange(min=2), default=128, show_default=True,
              help="Train and test examples each for the per-sample gradients.")
@click.option("--dropout-rate", type=FiniteRange(0, 1, max_open=True), default=0.3,
              show_default=True, help="Rate of the Monte-Carlo dropout passes "
              "(dropout/variance).")
@click.option("--dropout-passes", type=click.IntRange(min=1), default=100, show_default=True,
              help="Monte-Carlo dropout passes per checkpoint.")
@click.option("--llc-checkpoints", type=click.IntRange(min=0), default=10, show_default=True,
              help="llc: checkpoints estimated on (spread as --subset's); 0 = all.")
@click.option("--llc-chains", type=click.IntRange(min=1), default=4, show_default=True,
              help="llc: SGLD chains per checkpoint.")
@click.option("--llc-draws", type=click.IntRange(min=20), default=200, show_default=True,
              help="llc: draws per chain, after the burn-in.")
@click.option("--llc-burnin", type=click.IntRange(min=0), default=100, show_default=True,
              help="llc: burn-in steps per chain.")
@click.option("--llc-lr", type=FiniteRange(min=0, min_open=True), default=3e-4,
              show_default=True, help="llc: the SGLD step ε.")
@click.option("--llc-gamma", type=FiniteRange(min=0), default=100.0, show_default=True,
              help="llc: localization strength γ.")
@click.option("--llc-nbeta", type=FiniteRange(min=0), default=0.0, show_default=True,
              help="llc: inverse temperature nβ; 0 = n / log n (n train examples).")
@click.option("--llc-batch", type=click.IntRange(min=0), default=128, show_default=True,
              help="llc: SGLD minibatch; 0 = the full train set.")
@click.option("--llc-seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="llc: seed of the chains (a torch seed: 0 to 2^63 - 1).")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Draw OUT/report.html and OUT/figures/ at the end (see `grokscan report`).")
@click.option("--pdf", is_flag=True, help="Also write the report as one PDF, OUT/report.pdf.")
@click.option("--key-freqs", metavar="K,K,...", help="Fix the key frequencies of the "
              "restricted and excluded loss (freqloss). [default: those of the final "
              "checkpoint's embedding]")
@click.option("--threads", type=click.IntRange(0, 1024), default=0, help=THREADS_HELP
              + " With --jobs N > 1: one thread per worker.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def analyze(path, out_dir, families, model_ref, basis, every, step_range, jobs, subset, samples,
            grad_samples, dropout_rate, dropout_passes, report, pdf, key_freqs, threads, quiet,
            **llc):
    """Replay the checkpoints of a run and compute the progress measures.

    Writes OUT/metrics.h5 (every metric per checkpoint, arrays included) and OUT/metrics.csv
    (one row per checkpoint, one column per scalar metric), then the figure report
    OUT/report.html with OUT/figures/ (unless --no-report). The checkpoint file is only read.

    \b
    grokscan analyze run.h5 -o out/
    grokscan analyze run.h5 -o out/ --families fourier,norms --every 5 --steps 0:1000
    grokscan analyze run.h5 -o out/ --families llc   # needs pip install 'grokscan[llc]'
    """
    from grokscan.analysis import (
        FamilySettings,
        Options,
        analyze,
        parse_families,
        parse_ints,
        parse_steps,
    )
    from grokscan.analysis.families.llc import LLCSettings
    from grokscan.threads import use as use_threads

    chosen = parse_families(families)
    settings = FamilySettings(
        samples=samples, grad_samples=grad_samples, dropout_rate=dropout_rate,
        dropout_passes=dropout_passes, llc=LLCSettings(
            checkpoints=llc["llc_checkpoints"], num_chains=llc["llc_chains"],
            num_draws=llc["llc_draws"], num_burnin_steps=llc["llc_burnin"], lr=llc["llc_lr"],
            localization=llc["llc_gamma"], nbeta=llc["llc_nbeta"], batch_size=llc["llc_batch"],
            seed=llc["llc_seed"]))
    opts = Options(basis=basis, every=every, steps=parse_steps(step_range), jobs=jobs,
                   subset=subset, settings=settings, quiet=quiet,
                   key_freqs=parse_ints(key_freqs, "--key-freqs"), model=model_ref,
                   **({"families": chosen} if chosen else {}))
    use_threads(threads if jobs == 1 else 1)
    summary = analyze(path, out_dir, opts)
    for name, why in summary["left_out"].items():
        click.echo(f"left out {name}: {why}", err=True)
    if not quiet:
        basis_note = f"; {summary['basis']} basis" if summary["key_freqs"] else ""
        click.echo(f"{summary['n_checkpoints']} checkpoints analysed "
                   f"({', '.join(summary['families'])}{basis_note}): "
                   f"{summary['metrics_h5']}, {summary['metrics_csv']}", err=True)
    if report:
        _render(out_dir, pdf=pdf, quiet=quiet)


def _render(out_dir, *, pdf: bool, quiet: bool) -> None:
    from grokscan.reporting import render

    result = render(out_dir, pdf=pdf, quiet=quiet)
    if not quiet:
        click.echo(f"report: {result['html']} ({len(result['figures'])} figure files in "
                   f"{os.path.join(out_dir, 'figures')})"
                   + (f", {result['pdf']}" if result.get("pdf") else ""), err=True)


@click.command("report")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--pdf", is_flag=True, help="Also write the report as one PDF, OUT/report.pdf.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def report(out_dir, pdf, quiet):
    """Draw the figure report of an analysed run from OUT/metrics.h5, without recomputing.

    Writes OUT/report.html, one self-contained page (images embedded; it opens from disk with
    no server or network: a summary of the run first, every other figure in folded sections),
    and OUT/figures/<name>.png (the embedding constellation over training as .gif); with
    --pdf also OUT/report.pdf, one document of the summary and every figure. Sections whose
    metrics were not computed are left out. Only OUT/metrics.h5 is read: the checkpoint file
    may be gone.

    \b
    grokscan report out/
    grokscan report out/ --pdf
    """
    _render(out_dir, pdf=pdf, quiet=quiet)


@click.command("metrics")
def list_metrics():
    """List the metric families of `analyze` and the registered metric functions.

    \b
    grokscan metrics
    """
    from grokscan.analysis.families import ALL, OPTIONAL
    from grokscan.metrics import METRICS

    notes = {"replay": "replays the model", "subset": "on a subset of the checkpoints",
             "residues": "needs residues mod P", "residue_vectors": "needs the per-residue "
             "vectors", "logit_map": "needs the neuron-logit map",
             "moments": "on two checkpoints only", "attention": "transformers only",
             "first_layer": "MLPs only (hidden.0.W)"}
    width = max(map(len, ALL))
    for name, fam in ALL.items():
        needs = [notes[n] for n in sorted(fam.needs)]
        needs += ["only with --families"] if name in OPTIONAL else []
        click.echo(f"{name:<{width}}  {fam.doc}" + (f"  ({'; '.join(needs)})" if needs else ""))
    click.echo("\nmetric functions (grokscan.metrics.METRICS):")
    for name in sorted(METRICS):
        click.echo(f"  {name}")


COMMANDS = (analyze, report, list_metrics)
