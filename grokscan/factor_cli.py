"""`grokscan factor`: read the factors of P off a network's last layer (grokscan/factor.py), from
a checkpoint file, or by training the setting of Salah & Yevick (arXiv:2411.05353) until the
patterns appear.

The training recipe (``Recipe``) is the paper's network: one-hot(a) ‖ one-hot(b) → 256 → 256 →
P, φ(x) = x + a·x² (a = 0.1) on both hidden layers, train fraction 0.8, (a + b) mod P, with
full-batch AdamW, lr 1e-2, betas (0.9, 0.98) and weight decay 2 (the paper does not give its
optimizer settings). Measured on a 2-core machine (one torch thread), P = 12, 15, 21, 35 and
seeds 0-3, 1000 steps with a checkpoint every 20, each checkpoint's last layer read:

| weight decay | first pattern at step: median (range) | test acc ≥ 0.99: median | seeds without |
|---|---|---|---|
| 1 | 270 (160-480) | 340 (4 of 16 never) | 2 of 16 |
| 2 | 170 (100-400) | 220 (3 of 16 never) | 2 of 16 |
| 3 | 130 (100-260) | 180 (3 of 16 never) | 2 of 16 |

The patterns appear *before* test accuracy reaches 0.99, not some epochs after as the paper
reads them: 20-720 steps before (median 60-120) in every run where both happened, while test
accuracy rises. For P = 12 and 15 (29 and 45 test pairs) test accuracy often stalls at
0.7-0.98 with the pattern already clean. The seeds without a pattern (the same two at each
weight decay) put their weight on frequencies coprime to P (at weight decay 1: P = 15, 1 and 4;
P = 21, 2, 4 and 5) and showed none later either.
Weight decay 3 is fastest but prunes the factor frequencies of some runs again: at P = 33, 2
of 3 seeds had lost the pattern by step 1000 (P = 20, 22, 26, 33, seeds 0-2: first pattern at
100-140 with 3, 120-200 with 2, and weight decay 2 kept all 12). Weight decay 2 lost one
pattern in 28 runs (P = 35, seed 2, which shows one only briefly at weight decay 1 too).
Time per step: 3-5 ms at P = 12-15, 5-7 ms at P = 20-26, 10-15 ms at P = 33-35.

Hence ``search``: each seed trains in chunks of ``CHUNK`` steps; every checkpoint is read as it
comes; a seed stops at the first complete factorisation, ``patience`` steps after its test
accuracy reached 0.99 without one, or at ``max_steps``. Further seeds are tried while the
divisors found so far, over all seeds, do not make up P.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field

import click
import numpy as np

from grokscan.errors import GrokscanError, TrainingDiverged
from grokscan.factor import (
    CheckpointReading,
    FactorReport,
    _factorise,
    last_layer_rows,
    plot_evidence,
    read_checkpoint,
    read_factors,
)

NOT_FOUND = 3  # exit status when the weights show no factorisation
CHUNK = 100  # steps trained between two looks at the checkpoints (a resume per chunk)


@dataclass(frozen=True)
class Recipe:
    """How ``grokscan factor --p`` trains (the module docstring says why these values)."""

    frac: float = 0.8  # train fraction of the P² pairs (the paper's 0.8)
    act_a: float = 0.1  # a of φ(x) = x + a·x² (the paper: a < 0.5)
    width: int = 256  # units of each of the two hidden layers
    lr: float = 1e-2  # AdamW learning rate
    wd: float = 2.0  # AdamW weight decay
    every: int = 10  # checkpoint interval; each checkpoint is read
    max_steps: int = 2000  # the most steps one seed trains
    patience: int = 300  # steps a seed goes on after test accuracy ≥ 0.99 without a pattern

    def config(self, p: int, seed: int):
        from grokscan.config import ModelConfig, RunConfig, TaskConfig, TrainConfig

        return RunConfig(
            TaskConfig(ops=("add",), p=p, frac=self.frac),
            ModelConfig(input="onehot", depth=2, width=self.width, activation="quad",
                        act_a=self.act_a),
            TrainConfig(lr=self.lr, wd=self.wd, steps=min(CHUNK, self.max_steps),
                        every=self.every, seed=seed, grads=False),
        )


@dataclass
class SeedRun:
    """What one seed's training showed."""

    seed: int
    path: str | None  # the kept run file; None when it lived in a temporary folder
    steps: int  # steps trained
    seconds: float
    grokked_at: int | None  # first checkpoint with test accuracy ≥ 0.99
    reading: CheckpointReading  # the most informative checkpoint (see _rank)
    stopped: str  # why training stopped

    def to_json(self) -> dict:
        return {**self.reading.to_json(), "seed": self.seed, "path": self.path,
                "steps": self.steps, "seconds": round(self.seconds, 2),
                "grokked_at": self.grokked_at, "stopped": self.stopped}


@dataclass
class Search:
    """The seeds tried for one P and what their weights show together."""

    p: int
    recipe: Recipe
    runs: list[SeedRun] = field(default_factory=list)

    @property
    def divisors(self) -> list[int]:
        return sorted({d for r in self.runs for d in r.reading.report.divisors})

    @property
    def factorisation(self) -> tuple[dict[int, int], dict[int, int]]:
        return _factorise(self.p, self.divisors)

    @property
    def found(self) -> bool:
        return any(r.reading.report.found for r in self.runs)

    @property
    def complete(self) -> bool:
        return self.found and not self.factorisation[1]

    def best(self) -> SeedRun | None:
        return max(self.runs, key=lambda r: _rank(r.reading.report), default=None)

    def to_json(self) -> dict:
        factors, unresolved = self.factorisation
        return {
            "p": self.p, "found": self.found, "complete": self.complete,
            "factors": {str(q): e for q, e in factors.items()},
            "unresolved": {str(q): e for q, e in unresolved.items()},
            "divisors": self.divisors,
            "evidence": [{"seed": r.seed, "step": r.reading.step, **e.to_json()}
                         for r in self.runs for e in r.reading.report.evidence],
            "runs": [r.to_json() for r in self.runs],
            "recipe": dataclasses.asdict(self.recipe),
        }


def _rank(report: FactorReport) -> tuple:
    return (report.complete, len(report.factors), len(report.divisors))


def search(p: int, recipe: Recipe = Recipe(), *, seeds: int = 3, first_seed: int = 0,
           out_dir=None, force: bool = False, quiet: bool = False) -> Search:
    """Train seeds ``first_seed``, ``first_seed + 1``, … (at most ``seeds``) until their
    weights, together, show a complete factorisation of P; see the module docstring.

    Run files go to ``out_dir`` as ``p{P}_seed{S}.h5`` when given, else to a temporary folder
    that is removed afterwards.
    """
    if p < 2:
        raise GrokscanError(f"--p {p}: the modulus must be at least 2")
    if seeds < 1:
        raise GrokscanError(f"--seeds {seeds}: need at least one seed")
    if recipe.max_steps < 1:
        raise GrokscanError(f"--max-steps {recipe.max_steps}: need at least one step")
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        for s in range(first_seed, first_seed + seeds):
            path = os.path.join(out_dir, f"p{p}_seed{s}.h5")
            if os.path.exists(path) and not force:
                raise GrokscanError(f"{path} exists; pass --force to overwrite it")
    result = Search(p, recipe)
    with tempfile.TemporaryDirectory(prefix="grokscan-factor-") as tmp:
        for s in range(first_seed, first_seed + seeds):
            path = os.path.join(out_dir or tmp, f"p{p}_seed{s}.h5")
            run = _train_seed(p, s, recipe, path, quiet=quiet)
            run.path = path if out_dir is not None else None
            result.runs.append(run)
            if result.complete:
                break
    return result


def _train_seed(p: int, seed: int, recipe: Recipe, path: str, *, quiet: bool) -> SeedRun:
    from tqdm.auto import tqdm

    from grokscan.store.reader import Run
    from grokscan.train import train

    cfg = recipe.config(p, seed)
    t0 = time.perf_counter()
    best: CheckpointReading | None = None
    grokked_at, done, read_rows, stopped = None, 0, 0, "max steps"
    bar = tqdm(total=recipe.max_steps, disable=quiet, unit="step", dynamic_ncols=True,
               desc=f"P = {p}, seed {seed}", file=sys.stderr)
    try:
        while True:
            target = min(done + CHUNK, recipe.max_steps)
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=target))
            try:
                train(cfg, path, resume=done > 0, force=True, quiet=True)
            except TrainingDiverged as e:
                stopped = f"diverged ({e})"
            with Run(path) as run:
                if run.n == 0:
                    raise GrokscanError(f"{path}: training stopped before the first checkpoint"
                                        f" ({stopped})")
                acc = run.scalars["test_acc"]
                for row in range(read_rows, run.n):
                    step = int(run.steps[row])
                    reading = CheckpointReading(path, step, float(acc[row]),
                                                read_factors(last_layer_rows(run, row), p=p))
                    if best is None or _rank(reading.report) >= _rank(best.report):
                        best = reading
                    if grokked_at is None and acc[row] >= 0.99:
                        grokked_at = step
                    if reading.report.complete:
                        break
                read_rows, done = run.n, int(run.steps[run.n - 1])
            bar.set_postfix_str(f"test acc {acc[read_rows - 1]:.2f}, {best.report.summary()}",
                                refresh=False)
            bar.update(done - bar.n)
            if best.report.complete:
                stopped = "complete factorisation"
                break
            if stopped.startswith("diverged") or done >= recipe.max_steps:
                break
            if grokked_at is not None and done - grokked_at >= recipe.patience:
                stopped = f"{recipe.patience} steps after test accuracy 0.99 without a pattern"
                break
    finally:
        bar.close()
    return SeedRun(seed, path, done, time.perf_counter() - t0, grokked_at, best, stopped)


# --- output ----------------------------------------------------------------------------------

def _evidence_lines(report: FactorReport, indent: str = "  ") -> list[str]:
    lines = []
    for e in report.evidence:
        head = (f"{e.projection}: {e.n_clusters} clusters of {e.cluster_size}, share "
                f"{e.share:.2f}, quality {e.quality:.2f}; residue classes mod {e.n_clusters}:")
        classes = " ".join("{" + ",".join(map(str, arc)) + "}" for arc in e.residues)
        lines.append(indent + head)
        lines += textwrap.wrap(classes, 96, initial_indent=indent * 3,
                               subsequent_indent=indent * 3)
    reasons: dict[str, list[str]] = {}
    for e in report.rejected:
        reasons.setdefault(e.reason, []).append(e.projection)
    for reason, names in reasons.items():
        lines += textwrap.wrap(f"not read: {', '.join(names)}: {reason}", 96,
                               initial_indent=indent, subsequent_indent=indent * 3)
    return lines


def _verdict(report: FactorReport) -> str:
    if report.found:
        return report.summary()
    return (f"P = {report.p}: no factorisation; the weights show no residue-class clusters "
            "in any projection")


def _acc(acc: float | None) -> str:
    return "no recorded test accuracy" if acc is None else f"test accuracy {acc:.3f}"


def format_reading(r: CheckpointReading) -> str:
    lines = [f"{r.path}, step {r.step}, {_acc(r.test_acc)}", _verdict(r.report)]
    return "\n".join(lines + _evidence_lines(r.report))


def format_search(s: Search) -> str:
    lines = []
    for r in s.runs:
        where = f" ({r.path})" if r.path else ""
        grok = "not reached" if r.grokked_at is None else f"at step {r.grokked_at}"
        lines.append(f"seed {r.seed}: {r.steps} steps in {r.seconds:.1f} s, test accuracy ≥ "
                     f"0.99 {grok}; stopped: {r.stopped}{where}")
        lines.append(f"  step {r.reading.step}, {_acc(r.reading.test_acc)}: "
                     f"{_verdict(r.reading.report)}")
        lines += _evidence_lines(r.reading.report, indent="    ")
    factors, unresolved = s.factorisation
    n = sum(r.reading.report.found for r in s.runs)
    if s.found:
        combined = FactorReport(s.p, True, s.complete, factors, unresolved, tuple(s.divisors),
                                (), ())
        lines.append(f"{combined.summary()}: from the weights of {n} of {len(s.runs)} seeds")
    else:
        lines.append(f"P = {s.p}: no factorisation; the weights of none of the {len(s.runs)} "
                     "seeds show residue-class clusters")
    return "\n".join(lines)


def _save_plot(report: FactorReport, path: str) -> None:
    fig = plot_evidence(report, rejected=not report.found)
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as e:
        raise GrokscanError(f"{path}: cannot write the plot ({e})") from None


# --- the command -----------------------------------------------------------------------------

@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--step", type=int, help="Read this checkpoint's step (default: the last).")
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
              help="--p: keep the run files here (p{P}_seed{S}.h5); default: a temporary folder.")
@click.option("--force", is_flag=True, help="--p: overwrite run files in --out.")
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="torch threads (0: torch's default).")
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
    try:
        if threads:
            import torch

            torch.set_num_threads(threads)
        if path is not None:
            result = read_checkpoint(path, step=step)
            report, found, text = result.report, result.report.found, format_reading
        else:
            recipe = Recipe(frac=frac, act_a=act_a, lr=lr, wd=wd, max_steps=max_steps)
            result = search(p, recipe, seeds=seeds, first_seed=first_seed, out_dir=out_dir,
                            force=force, quiet=quiet or as_json)
            report, found, text = result.best().reading.report, result.found, format_search
        if plot_path:
            _save_plot(report, plot_path)
    except (GrokscanError, OSError) as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        click.echo("\ninterrupted", err=True)
        sys.exit(130)
    click.echo(json.dumps(result.to_json(), indent=1, default=_json_default) if as_json
               else text(result))
    if not found:
        sys.exit(NOT_FOUND)


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON: {type(x)}")
