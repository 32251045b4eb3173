"""What a checkpoint file holds, as one dict (``grokscan info``), and the same as text."""

from __future__ import annotations

import dataclasses
import json
import math
import os

from grokscan.store.reader import Run
from grokscan.summary import crossings, grokking_delay, model_line, optimizer_line


def describe(path) -> dict:
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
        }


def _provenance(run: Run) -> dict | None:
    """Where an imported run came from (``grokscan import``), or None."""
    raw = run.f.attrs.get("provenance")
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return {"unreadable": str(raw)[:80]}


def format_text(d: dict) -> str:
    lines = [f"{d['path']}  ({d['file_bytes'] / 1e6:.1f} MB, format v{d['format_version']}, "
             f"grokscan {d['grokscan_version']})"]
    if d["writer"]:
        lines.append(f"live     being written by {d['writer']}")
    if d["crashed"]:
        lines.append("note     its writer was killed: HDF5 tools other than grokscan refuse it "
                     f"until `grokscan repair {d['path']}` (or --resume) clears the flag")
    lines.append(f"task     {d['task']['line']}")
    prov = d.get("provenance")
    if prov:
        lines.append(f"imported from {prov.get('source')} ({prov.get('format')}, "
                     f"{len(prov.get('files', []))} files; split {prov.get('split')})")
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
    return "\n".join(lines)
