"""How many threads torch and numpy's BLAS use: one setting for train, analyze and factor.

torch's own default is one thread per core. That is the fastest choice on an idle machine
(2 threads 1.3–1.8× faster than 1 on a 2-core box), and a very slow one on a busy machine:
there, threads that wait for each other on oversubscribed cores made a training step 3–25×
slower than one thread did (scripts/bench_threads.py measures both on the machine at hand).
So the default (``threads = 0``, "auto") takes the cores that are idle when the command starts
— the usable cores less the 1-minute load average, rounded — and at least one. A number given
with ``--threads N`` is used as it is.

And whether the CPU flushes subnormal floats to zero: a run whose train loss falls towards 0
has gradients in the subnormal range, where the CPU computes tens of times slower (profiled,
a weight-decay-0 run's backward pass took 6.5 ms a step over its first 600 steps and 54 ms
over its first 2500);
``grokscan train`` flushes them while it trains (scripts/bench_denormal.py measures the gain
and the difference it makes to the run).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

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


@contextmanager
def flush_denormals():
    """Subnormal floats flushed to zero on the CPU inside the block. torch's setting belongs to
    each thread: it is set on the calling thread, and torch's worker threads take it from the
    thread that starts them, so they flush too when they start inside the block (as in
    ``grokscan train``, whose first parallel operation is the probe of :func:`flushing` here);
    workers started before it keep theirs (:func:`flushing` then says False). After the block
    the calling thread has its own setting back; workers started inside keep flushing."""
    import torch

    before = bool(torch.tensor(1e-39) * torch.tensor(1.0) == 0)  # this thread's setting
    torch.set_flush_denormal(True)
    flushing()  # a parallel operation: workers not yet started start with the setting
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def flushing() -> bool:
    """Whether subnormal float32 values are flushed to zero now, on this thread and on each of
    torch's worker threads: a product over 2¹⁸ of the smallest subnormals (built from their
    bits, so that no conversion flushes them first), which torch splits across its threads,
    comes out all zero."""
    import torch

    tiny = torch.ones(1 << 18, dtype=torch.int32).view(torch.float32)  # 1.4e-45 each
    return bool(((tiny * 1.0) == 0).all())
