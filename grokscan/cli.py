"""The command line: a thin click layer (STYLE.md 8). Each command parses its options, calls one
library function, and turns GrokscanError into a one-line message and a non-zero exit."""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from grokscan.errors import GrokscanError


def _errors(fn):
    """Run a command body; bad input becomes a one-line error, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GrokscanError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # a file the OS or HDF5 refused: still one line, no traceback
            raise click.ClickException(str(e)) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="grokscan")
def main():
    """grokscan: train small models on modular arithmetic or Ising lattices, record dense
    checkpoints, and measure the hidden reorganisation behind grokking.

    \b
    grokscan train -o run.h5         train the default recipe (addition mod 97)
    grokscan info run.h5             what a checkpoint file holds
    """


# --- train -----------------------------------------------------------------------------------

def _ops_help() -> str:
    from grokscan.tasks.modular import OPS

    return ", ".join(OPS)


TRAIN_OPTIONS = [
    # (flags, click kwargs); every default is None so that --config and task defaults can fill in
    (("--task",), dict(type=click.Choice(["modular", "ising"]), help="Task (default modular).")),
    (("--op",), dict(help="Operation, or several comma-separated for one multi-task model "
                          "(default add; see `grokscan ops`).")),
    (("--p",), dict(type=int, help="Modulus P (default 97).")),
    (("--frac",), dict(type=float, help="Train fraction of the (a, b) pairs (default 0.3).")),
    (("--exclude-zero/--include-zero",), dict(default=None,
                                              help="Operands from Z_P^* (mul, div).")),
    (("--data",), dict(type=click.Path(dir_okay=False), help="Ising data-set file "
                                                             "(default: data/ising8.h5).")),
    (("--eval-inverted/--no-eval-inverted",), dict(default=None, help="Ising: also evaluate "
                                                   "the n-inverted test set (off).")),
    (("--model",), dict(type=click.Choice(["mlp", "transformer"]), help="Model (default mlp).")),
    (("--input",), dict(type=click.Choice(["concat", "sum", "onehot"]),
                        help="MLP input: shared embedding concatenated or summed, or one-hot "
                             "(default concat).")),
    (("--d-embed",), dict(type=int, help="Embedding size; d_model of the transformer (128).")),
    (("--width",), dict(type=int, help="Hidden units per layer; d_mlp of the transformer (512).")),
    (("--depth",), dict(type=int, help="Hidden layers; transformer blocks (1).")),
    (("--n-heads",), dict(type=int, help="Transformer attention heads (4).")),
    (("--pos-embed/--no-pos-embed",), dict(default=None, help="Transformer positional "
                                                                "embedding (on).")),
    (("--activation",), dict(help="relu, gelu, square, quad, abscube, cube, signsquare, relu3 "
                                  "(default relu).")),
    (("--act-a",), dict(type=float, help="a of quad (x + a x^2); gamma of relu3 (0.1).")),
    (("--dropout",), dict(type=float, help="Dropout after each hidden layer (0).")),
    (("--bias/--no-bias",), dict(default=None, help="Biases on hidden layers (on).")),
    (("--init-scale",), dict(type=float, help="Multiply every initial weight (1).")),
    (("--optimizer",), dict(type=click.Choice(["adamw", "adam"]), help="adamw (decoupled "
                            "weight decay) or adam (L2 in the gradient); default adamw, "
                            "ising adam.")),
    (("--lr",), dict(type=float, help="Learning rate (1e-2; Ising 5e-4).")),
    (("--wd",), dict(type=float, help="Weight decay (1.0; Ising 5e-4).")),
    (("--beta1",), dict(type=float, help="Adam beta1 (0.9).")),
    (("--beta2",), dict(type=float, help="Adam beta2 (0.98; Ising 0.999).")),
    (("--warmup",), dict(type=int, help="Linear learning-rate warm-up steps (10).")),
    (("--batch-size",), dict(type=int, help="Examples per step (default: full batch).")),
    (("--beta",), dict(type=float, help="Softmax inverse temperature in the loss (1).")),
    (("--steps",), dict(type=int, help="Optimizer steps (2000).")),
    (("--every",), dict(type=int, help="Checkpoint every N steps (20).")),
    (("--dense-until",), dict(type=int, help="Before this step, checkpoint every "
                                             "--dense-every steps (0: off).")),
    (("--dense-every",), dict(type=int, help="Interval before --dense-until (1).")),
    (("--seed",), dict(type=int, help="Seed of the split, the init and the sampling (0).")),
    (("--device",), dict(help="torch device (cpu).")),
    (("--stop-when-grokked",), dict(type=int, metavar="N", help="Stop N steps after test "
                                    "accuracy has stayed ≥ 0.99 (0: off).")),
    (("--grads/--no-grads",), dict(default=None, help="Record gradients (on).")),
]


def _train_options(fn):
    for flags, kw in reversed(TRAIN_OPTIONS):
        fn = click.option(*flags, **kw)(fn)
    return fn


def _load_toml(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise GrokscanError(f"{path}: cannot read the TOML config ({e})") from None
    flat = {}
    for k, v in values.items():  # accept flat keys or [task]/[model]/[train] tables
        if isinstance(v, dict):
            flat.update({kk: vv for kk, vv in v.items()})
        else:
            flat[k] = v
    return flat


@main.command()
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="The checkpoint file to write.")
@_train_options
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A TOML file with the same keys as these options (the options win).")
@click.option("--threads", type=int, default=0, help="torch threads (0: torch's default).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint"
              " (its own settings; --steps and --stop-when-grokked may change).")
@click.option("--force", is_flag=True, help="Overwrite an existing --out.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_errors
def train(out, config_file, threads, resume, force, quiet, **options):
    """Train a model and record dense checkpoints to one HDF5 file.

    With no options: addition mod 97, train fraction 0.3, MLP (embedding 128 → 512 ReLU → 97),
    AdamW lr 1e-2, weight decay 1, 2000 full-batch steps, a checkpoint every 20 steps;
    it groks in about two minutes on two CPU cores. With --task ising: the network of
    Hutchison & Yevick on data/ising8.h5 (64 spins → 4 × 48 ReLU, no biases, init × 7 → 4
    energy classes), Adam lr 5e-4, L2 weight decay 5e-4, 20000 full-batch steps.

    \b
    grokscan train -o run.h5
    grokscan train -o mul.h5 --op mul --p 59 --frac 0.5 --every 10
    grokscan train -o tf.h5 --model transformer --lr 1e-3 --p 59 --frac 0.5
    grokscan train -o run.h5 --resume --steps 4000
    grokscan train -o ising.h5 --task ising --beta 0.5 --eval-inverted
    """
    import torch

    from grokscan.config import TASK_DEFAULTS, from_flat
    from grokscan.train import train as run_training

    values = _load_toml(config_file) if config_file else {}
    values.update({k: v for k, v in options.items() if v is not None})
    if resume and "steps" not in values:  # the run's own length, whatever its task's default
        from grokscan.train import saved_config

        values["steps"] = saved_config(out).train.steps
    kind = values.get("task", "modular")
    values = {**TASK_DEFAULTS.get(kind, {}), **values}
    cfg = from_flat(values)
    if threads:
        torch.set_num_threads(threads)
    try:
        result = run_training(cfg, out, force=force, resume=resume, quiet=quiet)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: the checkpoints written so far are in {out} "
                   "(continue with --resume)", err=True)
        sys.exit(130)
    if not quiet:
        how = "stopped after grokking" if result.stopped_early else "done"
        click.echo(f"{how}: {result.n_checkpoints} checkpoints, last step {result.last_step}, "
                   f"in {out}", err=True)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_errors
def info(path, as_json):
    """What a checkpoint file holds: config, checkpoints, parameters, accuracy crossings.

    \b
    grokscan info run.h5
    grokscan info run.h5 --json
    """
    from grokscan.info import describe, format_text

    d = describe(path)
    click.echo(json.dumps(d, indent=1) if as_json else format_text(d))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ops(as_json):
    """List the modular operations by family.

    \b
    grokscan ops
    """
    from grokscan.tasks.modular import OPS

    if as_json:
        click.echo(json.dumps({k: {"family": o.family, "group": o.group,
                                   "needs_prime": o.needs_prime} for k, o in OPS.items()}))
        return
    families: dict[str, list[str]] = {}
    for name, op in OPS.items():
        families.setdefault(op.family, []).append(name)
    for fam, names in families.items():
        click.echo(f"{fam:<13} {'  '.join(names)}")
    click.echo("(x is a, y is b; x2 is a², (x+y)3 is (a+b)³. mul and div use the multiplicative "
               "Fourier basis.)")


# --- analyze ---------------------------------------------------------------------------------

def _family_names() -> list[str]:
    from grokscan.analyze import FAMILIES

    return list(FAMILIES)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: metrics.h5 and metrics.csv.")
@click.option("--metrics", "families", help="Comma-separated metric families (default: all; "
              f"{', '.join(_family_names())}).")
@click.option("--basis", type=click.Choice(["auto", "additive", "multiplicative"]),
              default="auto", show_default=True,
              help="Fourier basis; auto takes the operation's group.")
@click.option("--every", type=int, default=1, show_default=True,
              help="Analyse every K-th checkpoint.")
@click.option("--steps", "step_range", metavar="A:B", help="Only checkpoints with A ≤ step ≤ B.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--subset", type=int, default=24, show_default=True,
              help="Checkpoints for the expensive families (per-sample gradients, Monte-Carlo "
              "dropout), spread over the run and denser where test accuracy moves; 0 = all.")
@click.option("--samples", type=int, default=1024, show_default=True,
              help="Examples in the activation PCA (drawn once, the same at every checkpoint).")
@click.option("--grad-samples", type=int, default=128, show_default=True,
              help="Train and test examples each for the per-sample gradients.")
@click.option("--dropout-rate", type=float, default=0.3, show_default=True,
              help="Rate of the Monte-Carlo dropout passes (dropout/variance).")
@click.option("--dropout-passes", type=int, default=100, show_default=True,
              help="Monte-Carlo dropout passes per checkpoint.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Draw OUT/report.html and OUT/figures/ at the end (see `grokscan report`).")
@click.option("--pdf", is_flag=True, help="Save the report's figures as PDF too.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_errors
def analyze(path, out_dir, families, basis, every, step_range, jobs, subset, samples,
            grad_samples, dropout_rate, dropout_passes, report, pdf, quiet):
    """Replay the checkpoints of a run and compute the progress measures.

    Writes OUT/metrics.h5 (every metric per checkpoint, arrays included) and OUT/metrics.csv
    (one row per checkpoint, one column per scalar metric), then the figure report
    OUT/report.html with OUT/figures/ (unless --no-report). The checkpoint file is only read.

    \b
    grokscan analyze run.h5 -o out/
    grokscan analyze run.h5 -o out/ --metrics fourier,norms --every 5 --steps 0:1000
    """
    from grokscan.analyze import Options, parse_steps
    from grokscan.analyze import analyze as run_analysis
    from grokscan.families import Settings

    chosen = tuple(f.strip() for f in families.split(",")) if families else None
    settings = Settings(samples=samples, grad_samples=grad_samples, dropout_rate=dropout_rate,
                        dropout_passes=dropout_passes)
    opts = Options(basis=basis, every=every, steps=parse_steps(step_range), jobs=jobs,
                   subset=subset, settings=settings, quiet=quiet,
                   **({"families": chosen} if chosen else {}))
    summary = run_analysis(path, out_dir, opts)
    if not quiet:
        click.echo(f"{summary['n_checkpoints']} checkpoints analysed "
                   f"({', '.join(summary['families'])}; {summary['basis']} basis): "
                   f"{summary['metrics_h5']}, {summary['metrics_csv']}", err=True)
    if report:
        _render_report(out_dir, pdf=pdf, quiet=quiet)


def _render_report(out_dir, *, pdf: bool, quiet: bool) -> None:
    from grokscan.report import render

    result = render(out_dir, pdf=pdf, quiet=quiet)
    if not quiet:
        click.echo(f"report: {result['html']} ({len(result['figures'])} figure files in "
                   f"{os.path.join(out_dir, 'figures')})", err=True)


@main.command("report")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--pdf", is_flag=True, help="Save every figure as PDF too.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_errors
def report_command(out_dir, pdf, quiet):
    """Draw the figure report of an analysed run from OUT/metrics.h5, without recomputing.

    Writes OUT/report.html, one self-contained page (images embedded; it opens from disk with
    no server or network), and OUT/figures/<name>.png (and .pdf with --pdf; the embedding
    constellation over training as .gif). Sections whose metrics were not computed are left
    out.

    \b
    grokscan report out/
    grokscan report out/ --pdf
    """
    _render_report(out_dir, pdf=pdf, quiet=quiet)


@main.command("metrics")
def list_metrics():
    """List the metric families of `analyze` and the registered metric functions.

    \b
    grokscan metrics
    """
    from grokscan.analyze import FAMILIES
    from grokscan.metrics import METRICS

    width = max(map(len, FAMILIES))
    for name, fam in FAMILIES.items():
        notes = [n for n, on in (("replays the model", fam.replay),
                                 ("a subset of checkpoints", fam.expensive),
                                 ("modular tasks", fam.modular)) if on]
        click.echo(f"{name:<{width}}  {fam.doc}" + (f"  ({'; '.join(notes)})" if notes else ""))
    click.echo("\nmetric functions (grokscan.metrics.METRICS):")
    for name in sorted(METRICS):
        click.echo(f"  {name}")


from grokscan.factor_cli import factor  # noqa: E402
from grokscan.ising_cli import ising  # noqa: E402

main.add_command(ising)
main.add_command(factor)
