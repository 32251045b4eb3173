"""Train the setting of Salah & Yevick (arXiv:2411.05353 §3.3) until its last layer shows the
factors of P (``grokscan factor --p``; the reading itself is grokscan/factor/read.py).

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

Hence ``search``: every checkpoint of a seed is read as it is recorded (through the training
loop's ``on_checkpoint``); a seed stops at the first complete factorisation, ``patience``
steps after its test accuracy reached 0.99 without one, or at ``max_steps``. Further seeds
are tried while the divisors found so far, over all seeds, do not make up P.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from grokscan.errors import GrokscanError, TrainingDiverged
from grokscan.factor.read import CheckpointReading, FactorReport, _factorise, read_factors
from grokscan.factor.recipe import Recipe
from grokscan.store.layout import logit_map
from grokscan.summary import GROKKED


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


def search(p: int, recipe: Recipe | None = None, *, seeds: int = 3, first_seed: int = 0,
           out_dir=None, force: bool = False, quiet: bool = False) -> Search:
    """Train seeds ``first_seed``, ``first_seed + 1``, … (at most ``seeds``) until their
    weights, together, show a complete factorisation of P; see the module docstring.

    Run files go to ``out_dir`` as ``p{P}_seed{S}.h5`` when given, else to a temporary folder
    that is removed afterwards.
    """
    recipe = recipe or Recipe()
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
    """Train one seed, reading the last layer at every checkpoint as it is recorded."""
    from grokscan.progress import progress
    from grokscan.training import train

    t0 = time.perf_counter()
    watch = _Watch(p, recipe, path)
    bar = progress(recipe.max_steps, desc=f"P = {p}, seed {seed}", unit="step", quiet=quiet)
    watch.bar = bar
    try:
        train(recipe.config(p, seed), path, force=True, quiet=True, on_checkpoint=watch)
    except TrainingDiverged as e:
        watch.stopped = f"diverged ({e})"
    finally:
        bar.close()
    if watch.best is None:
        raise GrokscanError(f"{path}: training stopped before the first checkpoint "
                            f"({watch.stopped})")
    return SeedRun(seed, path, watch.step, time.perf_counter() - t0, watch.grokked_at,
                   watch.best, watch.stopped)


class _Watch:
    """The ``on_checkpoint`` of one seed: reads each checkpoint's last layer, keeps the most
    informative reading, and says when to stop (see the module docstring)."""

    def __init__(self, p: int, recipe: Recipe, path: str):
        self.p, self.recipe, self.path = p, recipe, path
        self.best: CheckpointReading | None = None
        self.grokked_at: int | None = None
        self.step, self.stopped, self.bar = 0, "max steps", None

    def __call__(self, ck) -> bool:
        acc = float(ck.scalars["test_acc"])
        self.step = ck.step
        reading = CheckpointReading(self.path, ck.step, acc,
                                    read_factors(model_last_layer(ck.model, self.p), p=self.p))
        if self.best is None or _rank(reading.report) >= _rank(self.best.report):
            self.best = reading
        if self.grokked_at is None and acc >= GROKKED:
            self.grokked_at = ck.step
        if self.bar is not None:
            self.bar.set_postfix_str(f"test acc {acc:.2f}, {self.best.report.summary()}",
                                     refresh=False)
            self.bar.update(ck.step - self.bar.n)
        if reading.report.complete:
            self.stopped = "complete factorisation"
            return True
        if self.grokked_at is not None and ck.step - self.grokked_at >= self.recipe.patience:
            self.stopped = (f"{self.recipe.patience} steps after test accuracy 0.99 without a "
                            "pattern")
            return True
        return False


def model_last_layer(model, p: int) -> np.ndarray:
    """The last layer of a grokscan model in training as (P, h), one row per class q: its
    neuron-logit map (store/SCHEMA.md), the first P columns, transposed."""
    import torch

    with torch.no_grad():
        params = {k: v.double() for k, v in model.named_parameters()}
        W = logit_map(params, model.neuron_logit_map())
    return W[:, :p].T.cpu().numpy()
