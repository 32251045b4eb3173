"""Benchmark `grokscan factor --p`: how often the weights of one trained seed show the factors of
P, how often they show a false one on a prime P (must be never), and what it costs.

For each P and each seed, one seed's search (`grokscan.factor.search` with seeds = 1 and
the default recipe) trains until a complete factorisation, the patience after grokking, or
--max-steps. A found factor is checked against the prime factorisation of P; on a prime P every
factor found is false. One torch thread. Prints a markdown table.

    python scripts/bench_factor.py                         # the default list, 3 seeds each
    python scripts/bench_factor.py --p 12,15,20 --seeds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from grokscan.factor import Recipe, search

COMPOSITE = (12, 15, 20, 21, 22, 26, 33, 35)
PRIME = (13, 23, 31)


def true_factors(p: int) -> dict[int, int]:
    """The prime factorisation of p, {prime: exponent}, by trial division."""
    out, q = {}, 2
    while p > 1:
        while p % q:
            q += 1
        out[q], p = out.get(q, 0) + 1, p // q
    return out


def is_prime(p: int) -> bool:
    return true_factors(p) == {p: 1}


def bench_one(p: int, seed: int, recipe: Recipe) -> dict:
    t0 = time.perf_counter()
    s = search(p, recipe, seeds=1, first_seed=seed, quiet=True)
    seconds = time.perf_counter() - t0
    run = s.runs[0]
    report = run.reading.report
    truth = true_factors(p)
    false = {q: e for q, e in report.factors.items() if truth.get(q) != e}
    false.update({c: e for c, e in report.unresolved.items() if p % c})
    outcome = "complete" if report.complete else "partial" if report.found else "none"
    return dict(p=p, seed=seed, outcome=outcome, false=len(false), seconds=seconds,
                steps=run.steps, pattern_step=run.reading.step if report.found else None,
                acc=run.reading.test_acc, grokked_at=run.grokked_at)


def table(rows: list[dict]) -> str:
    out = ["| P | | complete | partial | none | false factors | s (all seeds) | s per seed "
           "| steps per seed | pattern at step | test acc there | test acc ≥ 0.99 at step |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in dict.fromkeys(r["p"] for r in rows):
        rs = [r for r in rows if r["p"] == p]
        count = {k: sum(r["outcome"] == k for r in rs) for k in ("complete", "partial", "none")}
        pat = [r["pattern_step"] for r in rs if r["pattern_step"] is not None]
        grok = [r["grokked_at"] for r in rs if r["grokked_at"] is not None]
        accs = [r["acc"] for r in rs if r["pattern_step"] is not None]
        out.append(
            f"| {p} | {'prime' if is_prime(p) else 'composite'} | {count['complete']} "
            f"| {count['partial']} | {count['none']} | {sum(r['false'] for r in rs)} "
            f"| {sum(r['seconds'] for r in rs):.1f} | {np.mean([r['seconds'] for r in rs]):.1f} "
            f"| {np.mean([r['steps'] for r in rs]):.0f} "
            f"| {', '.join(map(str, pat)) or '—'} "
            f"| {', '.join(f'{a:.2f}' for a in accs) or '—'} "
            f"| {_steps(grok, len(rs))} |"
        )
    return "\n".join(out)


def _steps(steps: list[int], n: int) -> str:
    """The steps, and how many seeds stopped before reaching it."""
    short = n - len(steps)
    return ", ".join(map(str, steps)) + (f"{'; ' if steps else ''}{short} not reached"
                                         if short else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", default=",".join(map(str, COMPOSITE + PRIME)),
                    help="comma-separated moduli")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per P")
    ap.add_argument("--max-steps", type=int, default=Recipe.max_steps)
    args = ap.parse_args()
    torch.set_num_threads(1)
    recipe = dataclasses.replace(Recipe(), max_steps=args.max_steps)
    rows = []
    for p in (int(x) for x in args.p.split(",")):
        for seed in range(args.seeds):
            rows.append(bench_one(p, seed, recipe))
    print(f"recipe: {recipe}")
    print(table(rows))


if __name__ == "__main__":
    main()
