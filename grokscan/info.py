"""What a checkpoint file holds, as one dict (``grokscan info``), and the same as text.

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py)."""

from __future__ import annotations

import dataclasses
import math
import os

from grokscan.names import printable_all
from grokscan.onset.forecast import not_applicable
from grokscan.onset.shipped import flag_line
from grokscan.store.reader import Run
from grokscan.summary import (
    lead_words,
    memorised,
    model_line,
    of_run,
    onset_lead,
    optimizer_line,
)


def describe(path) -> dict:
    """The file's contents, with the forecast: the default onset detector's flag over its
    checkpoints (grokscan/onset/shipped.py) and, where the run has its record, the in-loop
    model's, each with its name and its held-out numbers."""
    with Run(path) as run:
        cfg = run.config
        task = run.task
        scalars = run.scalars
        summary = of_run(run.steps, scalars)
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
            "final": summary["final"],
            "crossings": summary["crossings"],
            "grokking_delay": summary["delay"],
            "provenance": run.provenance,
            "forecast": _forecast(run),
            "forecast_not_applicable": not_applicable(
                task.kind, residues=task.residues is not None,
                vectors=bool(run.residue_vectors)),
            "onset_live": _onset_live(run),
        }


def _detector(d) -> dict:
    """A shipped detector's name, label and held-out numbers, for the JSON."""
    h = d.held_out
    return {"detector": d.name, "label": d.label, "experimental": d.experimental,
            "reliability": d.reliability(),
            "held_out": None if h is None else {**dataclasses.asdict(h),
                                                "coverage": h.coverage,
                                                "false_alarm_rate": h.false_alarm_rate}}


def _forecast(run: Run) -> dict | None:
    """The default detector over the run's checkpoints, with the lead (its delay from the
    first checkpoint at train accuracy 0.99, as ``onset evaluate`` measures it); None where
    the run lacks its inputs or the default reads every step (see ``onset_live``)."""
    from grokscan.onset.forecast import Forecast
    from grokscan.onset.shipped import default

    d = default()
    if d.settings is None:
        return None
    res = Forecast.of_run(run, d.settings).result
    if res is None:
        return None
    out = {**_detector(d), "step": res.step, "memorisation": res.memorisation,
           "reason": res.reason}
    out.update(onset_lead(res.step, res.memorisation, run.steps, run.scalars))
    return out


def _onset_live(run: Run) -> dict | None:
    """The in-loop model's flag (/onset, grokscan/onset/live.py) with the lead; None when the
    file has no record of it."""
    from grokscan.onset.shipped import LIVE, default, detectors
    from grokscan.onset.track import read_back

    rows = run.onset_rows()
    if rows is None:
        return None
    out = read_back(rows)
    mem = memorised(run.steps, run.scalars)  # the delay from there, as evaluate has it
    out.update(onset_lead(out["step"], mem, run.steps, run.scalars))
    return {**_detector(detectors()[LIVE]), "default": default().name == LIVE, **out}


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
    if d.get("forecast"):
        lines.append(_forecast_line(d["forecast"]))
    if d.get("forecast_not_applicable"):  # said once, rather than each detector's "no flag"
        lines.append(d["forecast_not_applicable"])
    elif d.get("onset_live"):
        lines.append(_onset_live_line(d["onset_live"]))
    return "\n".join(lines)


def _forecast_line(o: dict) -> str:
    text = flag_line(_shipped(o), o["step"], o["reason"], indent=INDENT,
                     memorisation=o["memorisation"])
    return f"{text}\n{INDENT}{lead_words(o)}"


def _onset_live_line(o: dict) -> str:
    d = _shipped(o)
    head = d.label if o["default"] else f"{d.name} ({'experimental; ' * d.experimental}not " \
        "the default forecast)"
    text = flag_line(d, o["step"], o["reason"], indent=INDENT, head=head)
    return (f"{text}\n{INDENT}{lead_words(o)}  [/onset, observed to step {o['observed_to']}; "
            f"model fitted on {o['model']}]")


INDENT = " " * 9


def _shipped(o: dict):
    from grokscan.onset.shipped import detectors

    return detectors()[o["detector"]]
