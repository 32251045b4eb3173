"""How many threads torch and numpy's BLAS use: one setting for train, analyze and factor.

torch's own default is one thread per core. That is the fastest choice on an idle machine
(2 threads 1.3–1.8× faster than 1 on a 2-core box), and a very slow one on a busy machine:
there, threads that wait for each other on oversubscribed cores made a training step 3–25×
slower than one thread did (scripts/bench_threads.py measures both on the machine at hand).
So the default (``threads = 0``, "auto") takes the cores that are idle when the command starts
— the usable cores less the 1-minute load average, rounded — and at least one. A number given
with ``--threads N`` is used as it is.
"""

from __future__ import annotations

import os

AUTO = 0


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_cores() -> int:
    """The usable cores less the 1-minute load average (rounded), at least 1."""
    n = cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average here: take every core
        return n
    return max(1, min(n, n - round(load)))


def choose(threads: int | None = AUTO) -> int:
    """The thread count that ``threads`` means: itself when positive, else the idle cores."""
    return int(threads) if threads and threads > 0 else idle_cores()


def use(threads: int | None = AUTO) -> int:
    """Set torch's thread count (and that of numpy's BLAS, through threadpoolctl) to
    :func:`choose` (``threads``) for the rest of the process; returns it."""
    import torch
    from threadpoolctl import threadpool_limits

    n = choose(threads)
    torch.set_num_threads(n)
    threadpool_limits(n)
    return n
