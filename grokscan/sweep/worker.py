"""What a worker does with one point of a sweep: train it (or resume it, or find it finished),
analyse it, and return its summary row. Runs in a Dask worker process, on any machine that
sees SWEEP/; torch is imported here, never in the process that submits.

The run file's own state decides what to do: absent, train; there but short of its steps
(an interrupted run, a killed worker, a grid that asks for more steps now), resume from the
last checkpoint, which continues it exactly as if uninterrupted (grokscan/training.py); reaching
its steps (or stopped by --stop-when-grokked), nothing. One writer per file is enforced by
the file's lock (grokscan/hdf5/lock.py), so a point sent twice is refused, never written
twice. Any error of a point becomes its row's status and message: it never stops the sweep.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.summary import FINAL, THRESHOLDS, finished, of_run
from grokscan.sweep.paths import run_dir, run_file
from grokscan.sweep.phase import PhaseRule, phase

# the crossings of the summary: 0.7 and 0.8 for the Ising task, whose test accuracy ends near
# 0.83 (Hutchison & Yevick, arXiv:2510.25966)
CHEAP = ("fourier", "norms")  # weight-only families: seconds, no replay of the model
log = logging.getLogger("grokscan.sweep")


@dataclass(frozen=True)
class Job:
    """One point, as sent to a worker (small and picklable)."""

    name: str
    params: dict  # the varied values
    config: str  # the point's RunConfig as JSON
    out_dir: str  # SWEEP/
    analyze: str = "cheap"  # "none", "cheap" (CHEAP) or "full" (every family)
    rule: PhaseRule = PhaseRule()  # the thresholds of the phase label


def run_point(job: Job) -> dict:
    """Train and analyse one point; its summary row, ``status`` "done" or "failed" (with
    ``error``, one line)."""
    t0 = time.perf_counter()
    row = {"run": job.name, **job.params, "status": "done", "error": "", "action": ""}
    try:
        row.update(_work(job))
    except Exception as e:  # a point's failure is data in the summary, not a crash
        if not isinstance(e, GrokscanError):
            log.exception("sweep point %s failed", job.name)
        row.update(status="failed", error=one_line(e))
    row["wall_s"] = round(time.perf_counter() - t0, 3)
    return row


def one_line(e: BaseException) -> str:
    """An exception as one line: its message (with its type unless it is grokscan's own)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if not isinstance(e, GrokscanError):
        text = f"{type(e).__name__}: {text}" if text else type(e).__name__
    return text[:500]


def _work(job: Job) -> dict:
    from grokscan.config import RunConfig
    from grokscan.threads import use
    from grokscan.training import train

    use(1)  # the worker processes are the parallelism: one torch and BLAS thread each
    cfg = RunConfig.from_json(job.config)
    path = run_file(job.out_dir, job.name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    t0 = time.perf_counter()
    state = _state(path, cfg)
    if state != "finished":
        train(cfg, path, resume=state == "partial", quiet=True)
    t1 = time.perf_counter()
    action = {"absent": "trained", "partial": "resumed", "finished": "skipped"}[state]
    key_freqs = _analysis(path, job.analyze, fresh=state != "finished")
    row = {"action": action, **summary_row(path, job.rule), "key_freqs": key_freqs,
           "train_s": round(t1 - t0, 3), "analyze_s": round(time.perf_counter() - t1, 3)}
    return row


def _state(path: str, cfg) -> str:
    """"absent", "partial" or "finished": what the run file says of the point ``cfg``."""
    from grokscan.hdf5.lock import holder
    from grokscan.store.reader import Run

    if not os.path.exists(path):
        return "absent"
    writer = holder(path)  # asked before opening: a file still being created is not read
    if writer is not None:
        raise GrokscanError(f"{path} is being written by {writer}")
    with Run(path) as run:
        if run.writer is not None:
            raise GrokscanError(f"{path} is being written by {run.writer}")
        _check_same(run.config, cfg, path)
        steps, test_acc = run.steps, run.scalars.get("test_acc")
    if not len(steps):
        return "partial"
    return "finished" if finished(steps, test_acc, cfg.train) else "partial"


# what may differ between a run file and its point: the length (a grid may ask for more
# steps), the early stop, the device, and what training fills in from the data
_FREE = {"train": ("steps", "stop_when_grokked", "device"), "model": ("d_in", "n_classes")}


def _check_same(saved, cfg, path: str) -> None:
    """A GrokscanError if the run file was made with another configuration than the point:
    a changed base must not be mixed with earlier runs of the same name."""
    if saved is None:
        raise GrokscanError(f"{path} has no config; it is not a run of this sweep")
    want = dataclasses.replace(cfg, **{
        s: dataclasses.replace(getattr(cfg, s), **{k: getattr(getattr(saved, s), k) for k in ks})
        for s, ks in _FREE.items()})
    if want == saved:
        return
    a, b = dataclasses.asdict(saved), dataclasses.asdict(want)
    diff = next((f"{s}.{k} = {a[s].get(k)!r} in the file, {b[s][k]!r} in the grid"
                 for s in b for k in b[s] if a[s].get(k) != b[s][k]), "a setting differs")
    raise GrokscanError(f"{path} was made with another configuration ({diff}); remove its "
                        "folder or sweep into another -o folder")


def _analysis(path: str, mode: str, *, fresh: bool) -> str:
    """Analyse the run into its folder unless done before (and the run unchanged since);
    the key frequencies of its final checkpoint, "" if none."""
    from grokscan.analysis import FAMILIES, Options, analyze

    if mode == "none":
        return ""
    families = CHEAP if mode == "cheap" else tuple(FAMILIES)
    out = os.path.dirname(path)
    done = None if fresh else _analysed(path, out, families)
    if done is None:
        done = analyze(path, out, Options(families=families, quiet=True))["key_freqs"]
    return format_key_freqs(done)


def _analysed(path: str, out: str, families: tuple) -> dict | None:
    """The key frequencies of OUT/metrics.h5 if it is this run's analysis as it is now: its
    families, the run's every checkpoint (steps and scalars as metrics.h5 keeps them) and
    analysed up to the last; None otherwise (a sweep killed after resuming a run, before
    analysing it again, leaves the analysis of the shorter run)."""
    from grokscan.store.metrics import MetricsFile
    from grokscan.store.reader import Run

    if not os.path.exists(os.path.join(out, "metrics.h5")):
        return None
    with Run(path) as run:
        steps, scalars = run.steps, run.scalars
    with MetricsFile(out) as m:
        current = (set(families) <= set(m.families) | set(m.left_out)
                   and same_rows(m.run_steps, m.run_scalars, steps, scalars)
                   and int(m.steps[-1]) == int(steps[-1]))
        return m.key_freqs if current else None


def same_rows(steps_a, scalars_a: dict, steps_b, scalars_b: dict) -> bool:
    """Whether two records of checkpoints hold the same steps and scalars, bitwise."""
    return (np.array_equal(steps_a, steps_b) and scalars_a.keys() == scalars_b.keys()
            and all(np.array_equal(scalars_a[k], scalars_b[k], equal_nan=True)
                    for k in scalars_a))


def format_key_freqs(key_freqs: dict) -> str:
    """{"add": [4, 9]} -> "4 9"; with several operations "add: 4 9; sub: 3"."""
    parts = {op: " ".join(map(str, ks)) for op, ks in key_freqs.items() if ks}
    if len(parts) == 1:
        return next(iter(parts.values()))
    return "; ".join(f"{op}: {ks}" for op, ks in parts.items())


def summary_row(path: str, rule: PhaseRule | None = None) -> dict:
    """A run file's row of summary.csv: its summary (grokscan.summary.of_run) as columns,
    ``step_<split>_<accuracy>``, ``delay``, ``final_<name>`` of the FINAL scalars, and its
    phase."""
    rule = rule or PhaseRule()
    from grokscan.store.reader import Run

    with Run(path) as run:
        steps, scalars = run.steps, run.scalars
    s = of_run(steps, scalars)
    row = {f"step_{split}_{t:g}": s["crossings"].get(f"{split}_acc", {}).get(str(t))
           for split in ("train", "test") for t in THRESHOLDS}
    row["delay"] = s["delay"]
    row.update({f"final_{k}": s["final"][k] for k in FINAL if k in s["final"]})
    row["last_step"] = int(steps[-1])
    row["phase"] = phase(row[f"step_train_{rule.fit:g}"], row[f"step_test_{rule.fit:g}"], rule)
    return row


def check_folder(out_dir: str, token: str) -> str | None:
    """Run on every worker at the start: None if this worker sees SWEEP/ (the file
    ``.sweep-check`` holds ``token``) and can write in SWEEP/runs/; else why not."""
    probe = os.path.join(out_dir, ".sweep-check")
    try:
        with open(probe) as fh:
            seen = fh.read()
    except OSError:
        seen = None
    if seen != token:
        return (f"it does not see {out_dir} as the submitting process does (workers need a "
                "file system shared with it)")
    test = run_dir(out_dir, f".write-test-{os.getpid()}")
    try:
        os.makedirs(test, exist_ok=True)
        os.rmdir(test)
    except OSError as e:
        return f"it cannot write in {os.path.dirname(test)} ({e.strerror or e})"
    return None
