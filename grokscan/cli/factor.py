"""`grokscan factor`: the factors of P read off a run's last layer, or off the paper's network
trained until they show."""

from __future__ import annotations

import json
import sys

import click

from grokscan.cli._click import THREADS_HELP
from grokscan.factor import NOT_FOUND
from grokscan.factor.recipe import Recipe

MIN_PLOT_PX = 1200  # width of the --plot picture in pixels, at least


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--step", type=int, help="Read this checkpoint's step. [default: the last]")
@click.option("--p", "p", type=int, help="Train the paper's network on (a + b) mod P instead.")
@click.option("--seeds", type=int, default=3, show_default=True,
              help="--p: the most seeds to train while the factorisation is incomplete.")
@click.option("--seed", "first_seed", type=int, default=0, show_default=True,
              help="--p: the first seed.")
@click.option("--max-steps", type=int, default=Recipe.max_steps, show_default=True,
              help="--p: the most steps per seed.")
@click.option("--frac", type=float, default=Recipe.frac, show_default=True,
              help="--p: train fraction.")
@click.option("--act-a", type=float, default=Recipe.act_a, show_default=True,
              help="--p: a of the activation x + a x^2.")
@click.option("--lr", type=float, default=Recipe.lr, show_default=True,
              help="--p: AdamW learning rate.")
@click.option("--wd", type=float, default=Recipe.wd, show_default=True,
              help="--p: AdamW weight decay.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False),
              help="--p: keep the run files here (p{P}_seed{S}.h5). [default: a temporary "
              "folder]")
@click.option("--force", is_flag=True, help="--p: overwrite run files in --out.")
@click.option("--threads", type=click.IntRange(0, 1024), default=0, help=THREADS_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Draw the projections, clusters labelled, to this PNG file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def factor(path, step, p, seeds, first_seed, max_steps, frac, act_a, lr, wd, out_dir, force,
           threads, as_json, plot_path, quiet):
    """Read the factors of P off the last layer of a network trained on (a + b) mod P.

    The last layer's P rows (one per output class) are projected on principal-component pairs
    and on the planes of strong frequencies; a learned frequency k with gcd(k, P) = d > 1 puts
    them in P/d clusters of d rows, each a residue class mod P/d, which shows P/d and d
    (Salah & Yevick, arXiv:2411.05353). Each pattern is printed with its projection, its
    clusters, their residue classes and a quality score (the widest cluster over the narrowest
    gap; below 1).

    From a run file, the last checkpoint is read (--step for another). With --p, the paper's
    network (one-hot inputs, 2P → 256 → 256 → P, activation x + a·x², train fraction 0.8) is
    trained until its weights show the patterns, trying further seeds while the factorisation
    is incomplete.

    Exit status: 0 when the weights show at least one factor; 3 when they show none (P prime,
    an untrained network, only frequencies coprime to P); 1 on bad input; 2 on a usage error
    (options that do not go together).

    \b
    grokscan factor run.h5
    grokscan factor run.h5 --step 400 --json
    grokscan factor --p 21 --seeds 3 -o runs/ --plot p21.png
    """
    if (path is None) == (p is None):
        raise click.UsageError("give a run file or --p N, not both" if path else
                               "give a run file, or --p N to train one")
    if path is not None and (out_dir or force):
        raise click.UsageError("-o/--force go with --p: a run file is only read")
    if p is not None and step is not None:
        raise click.UsageError("--step goes with a run file: --p reads as it trains")
    from grokscan.factor import text

    if p is not None:  # only training uses threads
        from grokscan.threads import use as use_threads

        use_threads(threads)
    try:
        if path is not None:
            from grokscan.factor.read import read_checkpoint

            result = read_checkpoint(path, step=step)
            report, found, words = result.report, result.report.found, text.format_reading
        else:
            from grokscan.factor.search import search

            recipe = Recipe(frac=frac, act_a=act_a, lr=lr, wd=wd, max_steps=max_steps)
            result = search(p, recipe, seeds=seeds, first_seed=first_seed, out_dir=out_dir,
                            force=force, quiet=quiet or as_json)
            report, found, words = result.best().reading.report, result.found, text.format_search
    except KeyboardInterrupt:
        click.echo("\ninterrupted", err=True)
        sys.exit(130)
    if plot_path:
        from grokscan.figures.factor import factor_evidence
        from grokscan.reporting import save_figure

        fig = factor_evidence(report, rejected=not report.found)
        # at least MIN_PLOT_PX wide however few panels: one panel is 3.6 in
        save_figure(fig, plot_path, dpi=max(200, round(MIN_PLOT_PX / fig.get_figwidth())))
    click.echo(json.dumps(result.to_json(), indent=1, default=_json_default) if as_json
               else words(result))
    if not found:
        sys.exit(NOT_FOUND)


def _json_default(x):
    if hasattr(x, "item"):  # a numpy scalar
        return x.item()
    raise TypeError(f"not JSON: {type(x)}")


COMMANDS = (factor,)
