"""Run the points of a grid on Dask workers: local processes, or a running cluster.

The process that submits reads and checks the grid (grokscan/sweep/grid.py), connects (a
``LocalCluster`` of ``jobs`` worker processes with one thread each, or the scheduler at
``scheduler``), checks that every worker sees SWEEP/ and can write in it, then submits one
future per point (grokscan/sweep/worker.py) and collects the rows as they complete
(``as_completed``), writing SWEEP/summary.csv at the end and every few seconds on the way. Dask
does the scheduling: a worker that dies has its points sent to another, which resumes them
from their last checkpoint. Running the same grid again trains only what is not finished.

A local cluster serves no one else (:func:`local_cluster`): everything listens on 127.0.0.1
only, and every connection is TLS with a certificate made for it, so another process on the
machine can neither join it nor run code in it. A ``scheduler`` is the user's own cluster:
the client takes Dask's security settings (``distributed.comm.tls.*``) from Dask's config.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

from grokscan.errors import GrokscanError
from grokscan.progress import progress
from grokscan.sweep import grid, table
from grokscan.sweep.worker import Job, check_folder, one_line, run_point

ANALYZE = ("none", "cheap", "full")
SAVE_EVERY = 10.0  # seconds between two writes of the summary while the sweep runs


@dataclass(frozen=True)
class SweepOptions:
    jobs: int | None = None  # local worker processes; None: the idle cores
    scheduler: str | None = None  # a Dask scheduler's address (tcp://host:8786) instead
    analyze: str = "cheap"  # "none", "cheap" (weight-only families) or "full" (all)
    timeout: float = 30.0  # seconds to reach the scheduler and to see a worker
    quiet: bool = False
    dashboard: bool = False  # a local cluster's dashboard, on 127.0.0.1; its address printed


def run_sweep(grid_path, out_dir, opts: SweepOptions = SweepOptions()) -> dict:
    """Run every point of the grid in ``grid_path`` into ``out_dir``; returns {"summary":
    the table, "files": the summary files, "wall_s", "start_s": seconds to have the workers}."""
    t0 = time.perf_counter()
    out_dir = os.fspath(out_dir)
    if opts.analyze not in ANALYZE:
        raise GrokscanError(f"analyze: expected one of {', '.join(ANALYZE)}, got {opts.analyze!r}")
    g = grid.load(grid_path)
    points = grid.points(g)
    with connect(opts) as client:
        os.makedirs(os.path.join(out_dir, "runs"), exist_ok=True)
        check_workers(client, out_dir)
        start_s = time.perf_counter() - t0
        grid.write(g, points, out_dir)
        jobs = [Job(p.name, p.params, _config(p), out_dir, opts.analyze, g.rule)
                for p in points]
        rows = collect(client, jobs, out_dir, g.varied, quiet=opts.quiet)
    df = table.frame([rows[j.name] for j in jobs], g.varied)
    files = table.write(out_dir, df)
    return {"summary": df, "files": files, "wall_s": time.perf_counter() - t0,
            "start_s": start_s}


def _config(p: grid.Point) -> str:
    from grokscan.config import resolve

    return resolve(p.values).to_json()


@contextmanager
def connect(opts: SweepOptions):
    """A dask.distributed Client: on the scheduler at ``opts.scheduler``, or on a new local
    cluster of ``opts.jobs`` processes (one thread each, :func:`local_cluster`) that is shut
    down after."""
    from distributed import Client

    from grokscan.threads import idle_cores

    if opts.scheduler:
        with _client(opts) as client:
            _wait_for_workers(client, opts)
            yield client
        return
    with local_cluster(opts.jobs or idle_cores(), dashboard=opts.dashboard) as cluster, \
            Client(cluster) as client:
        if opts.dashboard:
            print(f"dashboard: {cluster.dashboard_link}{_bokeh_note()}", file=sys.stderr,
                  flush=True)
        yield client


def _client(opts: SweepOptions):
    """A Client on the scheduler at ``opts.scheduler``, with Dask's own security settings (its
    config), as any Dask client; a GrokscanError when it cannot connect."""
    from distributed import Client

    try:
        return Client(opts.scheduler, timeout=opts.timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as e:  # TypeError: no TLS settings
        why = one_line(e)
    # The Client that failed is garbage in a reference cycle: collected here and now. Collected
    # later, in the thread of a new cluster's event loop as it starts, its __del__ waits on the
    # lock that the start holds (distributed's LoopRunner), and the start fails after 10 s.
    gc.collect()
    raise GrokscanError(f"--scheduler {opts.scheduler}: cannot reach a Dask scheduler there "
                        f"({why})")


# Without a dashboard, the scheduler's and workers' HTTP servers (which Dask always starts)
# serve only /health: not the pages about the cluster's tasks, workers and logs.
HEALTH_ONLY = {"distributed.scheduler.http.routes": ["distributed.http.health"],
               "distributed.worker.http.routes": ["distributed.http.health"]}


def local_cluster(n: int, *, dashboard: bool = False):
    """A LocalCluster of ``n`` worker processes with one thread each, for this process only:
    the scheduler, the nannies, the workers and their HTTP servers listen on 127.0.0.1, on
    free ports; every connection between them and the client is TLS, both ends authenticated
    with a key and certificate made now (Security.temporary: kept in memory, written by Dask
    only for a moment, to load them, into a private temporary folder), so a process without
    them can neither connect nor run code in the cluster. The dashboard is served (on
    127.0.0.1) only with ``dashboard``."""
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    try:
        security = Security.temporary()
    except ImportError:
        raise GrokscanError("a local sweep makes a TLS certificate for its cluster and needs "
                            "the cryptography package for it (pip install cryptography)") from None
    with dask.config.set({} if dashboard else HEALTH_ONLY):
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                            host="127.0.0.1", protocol="tls://", security=security,
                            dashboard_address="127.0.0.1:0",
                            scheduler_kwargs={"dashboard": dashboard},
                            silence_logs=logging.ERROR)


def _bokeh_note() -> str:
    try:
        import bokeh  # noqa: F401  (the dashboard's plots)
    except ImportError:
        return " (bokeh is not installed: only its plain pages, /info/main/workers.html)"
    return ""


def _wait_for_workers(client, opts: SweepOptions) -> None:
    try:
        client.wait_for_workers(1, timeout=opts.timeout)
    except TimeoutError:
        raise GrokscanError(f"--scheduler {opts.scheduler}: no worker joined within "
                            f"{opts.timeout:g} s (start some with `dask worker "
                            f"{opts.scheduler}`)") from None


def check_workers(client, out_dir: str) -> None:
    """A GrokscanError unless every worker sees ``out_dir`` as this process does and can
    write in it: they share nothing else."""
    token = secrets.token_hex(8)
    probe = os.path.join(out_dir, ".sweep-check")
    with open(probe, "w") as fh:
        fh.write(token)
    try:
        answers = client.run(check_folder, os.path.abspath(out_dir), token)
    finally:
        os.remove(probe)
    bad = {w: why for w, why in answers.items() if why}
    if bad:
        worker, why = next(iter(bad.items()))
        raise GrokscanError(f"{out_dir}: worker {worker} cannot use it: {why}")


def collect(client, jobs: list[Job], out_dir: str, varied: list[str], *, quiet: bool) -> dict:
    """Submit every job and gather its row as it completes: {name: row}. A task that Dask
    gives up on (a worker that keeps dying) becomes a failed row; nothing stops the sweep.
    The summary so far is written every SAVE_EVERY seconds, and on an interruption."""
    from distributed import as_completed

    futures = {client.submit(run_point, j, pure=False): j for j in jobs}
    slots = max(1, sum(client.nthreads().values()))
    rows, failed, saved = {}, 0, time.perf_counter()
    bar = progress(len(jobs), desc="sweep", unit="run", quiet=quiet)
    try:
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                row = fut.result()
            except Exception as e:  # the task itself was lost (KilledWorker, ...)
                row = {"run": job.name, **job.params, "status": "failed",
                       "error": one_line(e)}
            fut.release()
            rows[job.name] = row
            failed += row["status"] == "failed"
            left = len(jobs) - len(rows)
            bar.set_postfix_str(f"{failed} failed, {min(slots, left)} running", refresh=False)
            bar.update(1)
            if time.perf_counter() - saved > SAVE_EVERY and left:
                table.write(out_dir, table.frame(list(rows.values()), varied))
                saved = time.perf_counter()
    except BaseException:
        if rows:  # what finished is kept; a rerun continues the rest
            table.write(out_dir, table.frame(list(rows.values()), varied))
        raise
    finally:
        bar.close()
    return rows
