"""What a checkpoint file holds, as one dict (``grokscan info``), and the same as text."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.names import printable_all
from grokscan.store.reader import Run
from grokscan.summary import (
    crossings,
    first_crossing,
    grokking_delay,
    lead_words,
    model_line,
    onset_lead,
    optimizer_line,
)


def describe(path, metrics=None) -> dict:
    """The file's contents; with ``metrics`` (a metrics.h5 or the folder holding it) or a
    metrics.h5 beside the file that analysed this run, also the onset detector's result."""
    with Run(path) as run:
        cfg = run.config
        task = run.task
        scalars = run.scalars
        final = {k: float(v[-1]) for k, v in scalars.items() if len(v)}
        return {
            "path": os.fspath(path),
            "file_bytes": os.path.getsize(path),
            "format_version": run.version,
            "grokscan_version": str(run.f.attrs.get("grokscan_version", "")),
            "writer": run.writer,
            "crashed": run.crashed,
            "config": dataclasses.asdict(cfg) if cfg else None,
            "task": {**task.summary(), "line": task.describe()},
            "n_checkpoints": run.n,
            "steps": [int(run.steps[0]), int(run.steps[-1])] if run.n else None,
            "params": {k: list(run.shape(k)) for k in run.param_names},
            "n_params": int(sum(math.prod(run.shape(k)) for k in run.param_names)),
            "grads": run.has_grads,
            "scalars": sorted(scalars),
            "final": final,
            "crossings": crossings(run.steps, scalars) if run.n else {},
            "grokking_delay": grokking_delay(run.steps, scalars) if run.n else None,
            "provenance": _provenance(run),
            "onset": _onset(run, metrics),
            "onset_live": _onset_live(run),
        }


def _onset_live(run: Run) -> dict | None:
    """The in-loop onset detector's flag (/onset, grokscan/onset/live.py) with the lead;
    None when the file has no record of it."""
    from grokscan.onset.track import read_back

    rows = run.onset_rows()
    if rows is None:
        return None
    out = read_back(rows)
    acc = run.scalars.get("train_acc")  # the delay from the first checkpoint at 0.99, as
    mem = first_crossing(run.steps, acc, 0.99) if acc is not None else None  # evaluate has it
    out.update(onset_lead(out["step"], mem, run.steps, run.scalars))
    return out


def _analysis_of(run: Run, metrics):
    """The MetricsFile of this run: the one given (an error if it analysed another run), or
    the metrics.h5 beside the run if it analysed this one; else None. A metrics file is of
    this run when its run steps begin the run's steps and its run scalars equal the run's on
    them (so a run resumed after its analysis still matches)."""
    from grokscan.store.metrics import MetricsFile

    folder = os.path.dirname(os.path.abspath(run.path))
    if metrics is not None:
        folder = os.fspath(metrics)
        if not os.path.isdir(folder):
            if os.path.basename(folder) != "metrics.h5":
                raise GrokscanError(f"--metrics {metrics}: expected the metrics.h5 of "
                                    "`grokscan analyze` or the folder holding it")
            folder = os.path.dirname(os.path.abspath(folder))
    elif not os.path.exists(os.path.join(folder, "metrics.h5")):
        return None
    try:
        m = MetricsFile(folder)
    except GrokscanError:
        if metrics is not None:
            raise
        return None  # an unreadable metrics.h5 beside the run is not this command's business
    if _same_run(m, run):
        return m
    m.close()
    if metrics is not None:
        raise GrokscanError(f"{m.path} analysed another run ({m.source or 'unknown'}): its "
                            f"steps or scalars differ from {run.path}'s")
    return None


def _same_run(m, run: Run) -> bool:
    n, scalars = len(m.run_steps), run.scalars
    if n > run.n or not np.array_equal(m.run_steps, run.steps[:n]):
        return False
    return all(k in scalars and np.array_equal(np.asarray(v, float),
                                               np.asarray(scalars[k][:n], float), equal_nan=True)
               for k, v in m.run_scalars.items())


def _onset(run: Run, metrics) -> dict | None:
    """The onset detector's flag as analyze recorded it (grokscan/onset), with memorisation,
    the step of test accuracy 0.5 and the lead; None when no analysis of this run is found."""
    m = _analysis_of(run, metrics)
    if m is None:
        return None
    with m:
        out = {"metrics": m.path, "analysed_to": int(m.steps[-1]),
               "run_to": int(run.steps[-1]) if run.n else None}
        onset = m.onset()
        if onset is None:
            return {**out, "computed": False,
                    "why": "not computed (the fourier family was not analysed)"}
        out.update(computed=True, **onset)
        out.update(onset_lead(onset["step"], onset["memorisation"], m.run_steps, m.run_scalars))
        return out


def _provenance(run: Run) -> dict | None:
    """Where an imported run came from (``grokscan import``), or None; {"unreadable": the
    start of it} when it is not a JSON object."""
    raw = run.f.attrs.get("provenance")
    if raw is None:
        return None
    try:
        prov = json.loads(raw)
    except (TypeError, ValueError):
        prov = None
    return prov if isinstance(prov, dict) else {"unreadable": str(raw)[:80]}


def _provenance_line(prov: dict) -> str:
    if "unreadable" in prov:
        return f"imported from an unreadable provenance: {prov['unreadable']}"
    files = prov.get("files")
    return (f"imported from {prov.get('source')} ({prov.get('format')}, "
            f"{len(files) if isinstance(files, list) else 0} files; split {prov.get('split')})")


def format_text(d: dict) -> str:
    """The text of ``grokscan info``: ``d`` (:func:`describe`) line by line, every string of it
    (most come from the file) with its control characters escaped (grokscan.names.printable),
    so that only the lines' own breaks reach the terminal."""
    d = printable_all(d)
    lines = [f"{d['path']}  ({d['file_bytes'] / 1e6:.1f} MB, format v{d['format_version']}, "
             f"grokscan {d['grokscan_version']})"]
    if d["writer"]:
        lines.append(f"live     being written by {d['writer']}")
    if d["crashed"]:
        lines.append("note     its writer was killed: HDF5 tools other than grokscan refuse it "
                     f"until `grokscan repair {d['path']}` (or --resume) clears the flag")
    lines.append(f"task     {d['task']['line']}")
    if d.get("provenance"):
        lines.append(_provenance_line(d["provenance"]))
    cfg = d["config"]
    if cfg:
        lines.append(f"model    {model_line(cfg['model'])}")
        t = cfg["train"]
        lines.append(f"train    {optimizer_line(t)}, warmup {t['warmup']}")
    steps = d["steps"]
    lines.append(f"checkpoints {d['n_checkpoints']}"
                 + (f", steps {steps[0]}..{steps[1]}" if steps else "")
                 + (", with gradients" if d["grads"] else ""))
    lines.append(f"parameters {d['n_params']:,}:")
    lines += [f"  {k:<28} {tuple(v)}" for k, v in d["params"].items()]
    if d["final"]:
        lines.append("final    " + "  ".join(f"{k} {v:.4g}" for k, v in d["final"].items()))
    for key, row in d["crossings"].items():
        cells = "  ".join(f"≥{t}: {'—' if s is None else s}" for t, s in row.items())
        lines.append(f"{key:<10}first reached {cells}")
    if d["grokking_delay"] is not None:
        lines.append(f"grokking delay (train ≥ 0.99 → test ≥ 0.99): {d['grokking_delay']} steps")
    if d.get("onset_live"):
        lines.append(_onset_live_line(d["onset_live"]))
    if d.get("onset"):
        lines.append(_onset_line(d["onset"]))
    return "\n".join(lines)


def _onset_live_line(o: dict) -> str:
    text = (f"flagged at step {o['step']}: {o['reason']}" if o["step"] is not None
            else o["reason"])
    return (f"onset    in the loop: {text}\n         {lead_words(o)}  [/onset, observed to "
            f"step {o['observed_to']}; model fitted on {o['model']}]")


def _onset_line(o: dict) -> str:
    where = f"  [checkpoints: {o['metrics']}, analysed to step {o['analysed_to']}"
    where += f" of {o['run_to']}]" if o["run_to"] != o["analysed_to"] else "]"
    if not o["computed"]:
        return f"onset    {o['why']}{where}"
    if o["step"] is None:
        text = ("not flagged" + ("" if o["memorisation"] is not None
                                 else " (train accuracy never reached 0.99)"))
    else:
        text = f"flagged at step {o['step']}: {o['reason']}"
    text += "\n         " + lead_words(o)
    return f"onset    {text}{where}"
