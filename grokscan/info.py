"""What a checkpoint file holds, as one dict (``grokscan info``)."""

from __future__ import annotations

import dataclasses
import os

from grokscan.store.reader import Run
from grokscan.summary import crossings, grokking_delay
from grokscan.tasks.ising import IsingTask


def describe(path) -> dict:
    with Run(path) as run:
        cfg = run.config
        task = run.task
        scalars = run.scalars
        final = {k: float(v[-1]) for k, v in scalars.items() if len(v)}
        return {
            "path": os.fspath(path),
            "file_bytes": os.path.getsize(path),
            "format_version": int(run.f.attrs["format_version"]),
            "grokscan_version": str(run.f.attrs["grokscan_version"]),
            "config": dataclasses.asdict(cfg) if cfg else None,
            "task": _task_summary(task),
            "n_checkpoints": run.n,
            "steps": [int(run.steps[0]), int(run.steps[-1])] if run.n else None,
            "params": {k: list(run.shape(k)) for k in run.param_names},
            "n_params": int(sum(_prod(run.shape(k)) for k in run.param_names)),
            "grads": run.has_grads,
            "scalars": sorted(scalars),
            "final": final,
            "crossings": crossings(run.steps, scalars) if run.n else {},
            "grokking_delay": grokking_delay(run.steps, scalars) if run.n else None,
        }


def _task_summary(task: dict) -> dict:
    """The task's kind and sizes, not its arrays."""
    if task.get("kind") == "ising":
        return IsingTask.from_task(task).summary()
    return {k: (v.tolist() if hasattr(v, "tolist") and getattr(v, "ndim", 1) == 0 else v)
            for k, v in task.items() if k in ("kind", "p", "ops")}


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def format_text(d: dict) -> str:
    lines = [f"{d['path']}  ({d['file_bytes'] / 1e6:.1f} MB, format v{d['format_version']}, "
             f"grokscan {d['grokscan_version']})"]
    cfg, task = d["config"], d["task"]
    if task.get("kind") == "ising":
        lines.append(f"task     ising {task['L']}×{task['L']}, {task['n_classes']} energy classes:"
                     f" {task['n_train']} train, {task['n_test']} test, {task['n_inverted']} "
                     f"{task['n_flip']}-inverted lattices (from {task['source']})")
    if cfg:
        t, m, o = cfg["task"], cfg["model"], cfg["train"]
        if t["kind"] == "modular":
            lines.append(f"task     {','.join(t['ops'])} mod {t['p']}, frac {t['frac']}")
        ising = t["kind"] == "ising"
        lines.append(f"model    {m['kind']}"
                     + (f" d_in {m['d_in']}" if ising else f" d_embed {m['d_embed']}")
                     + f" width {m['width']} depth {m['depth']} {m['activation']}"
                     + (f" input {m['input']}" if m["kind"] == "mlp" and not ising else "")
                     + ("" if m["bias"] else " no bias")
                     + (f" init ×{m['init_scale']}" if m["init_scale"] != 1 else "")
                     + (f" dropout {m['dropout']}" if m["dropout"] else ""))
        opt = {"adamw": "AdamW", "adam": "Adam (L2)"}.get(o.get("optimizer"), "AdamW")
        lines.append(f"train    {opt} lr {o['lr']} wd {o['wd']} betas ({o['beta1']}, {o['beta2']})"
                     f" warmup {o['warmup']} seed {o['seed']}"
                     + (f" softmax β {o['beta']}" if o["beta"] != 1 else ""))
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
