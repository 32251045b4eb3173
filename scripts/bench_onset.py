"""The onset detector's cost beyond the measures it reads: microseconds per checkpoint of
``grokscan.onset.detect`` over a run of ``--n`` checkpoints (the median of ``--repeat``
calls), run offline over the whole series and online (once per new checkpoint, on the
series so far, as a training loop would call it). Target: far below one checkpoint's
analysis (docs/results/onset.md).

    .venv/bin/python scripts/bench_onset.py --n 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from grokscan.onset import detect


def series(n: int) -> tuple[np.ndarray, dict]:
    steps = np.arange(n) * 20
    r = np.random.default_rng(0)
    acc = np.minimum(1.0, np.linspace(0, 3, n))
    gini = 0.1 + 0.002 * np.maximum(0, np.arange(n) - n // 3) + 0.005 * r.standard_normal(n)
    return steps, {"train_acc": acc, "fourier/gini_embed": gini}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    steps, s = series(a.n)
    offline = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        detect(steps, s)
        offline.append((time.perf_counter() - t0) / a.n)
    t0 = time.perf_counter()
    for k in range(1, a.n + 1):  # online: re-run on the checkpoints so far
        detect(steps[:k], {name: v[:k] for name, v in s.items()})
    online = (time.perf_counter() - t0) / a.n
    print(json.dumps({"n": a.n, "offline_us_per_checkpoint": 1e6 * statistics.median(offline),
                      "online_us_per_new_checkpoint": 1e6 * online}))


if __name__ == "__main__":
    main()
