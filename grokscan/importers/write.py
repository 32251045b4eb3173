"""The second half of ``grokscan import``: the check of the mapping at the first and the last
checkpoint, then every checkpoint through grokscan's Recorder into ``<out>.tmp``, renamed to
``out`` once complete; on any error nothing is left (no ``.tmp``, no ``.part``)."""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from grokscan.errors import GrokscanError
from grokscan.hdf5.lock import WriterLock
from grokscan.importers import params
from grokscan.importers.sources import Checkpoint, Source
from grokscan.models import for_split, weight_norm
from grokscan.progress import progress
from grokscan.recorder import Schedule
from grokscan.store.layout import Layout
from grokscan.store.writer import Header, Writer
from grokscan.training import evaluate

# the largest difference allowed between grokscan's replay and the source's own forward pass,
# as a fraction of the logits' scale
TOLERANCE = 1e-5

CHUNK = 4096  # (a, b) pairs per forward pass of the check


def _load(model, ck: Checkpoint, d: params.Dims) -> dict:
    """Put checkpoint ``ck``'s weights, mapped, into grokscan's ``model``; its state dict."""
    sd = ck.load()
    got = params.dims(sd, d.kind, ck.label)  # every checkpoint: the same parameters, shapes
    if got != d:
        raise GrokscanError(f"{ck.label}: a model of other sizes than the first checkpoint's "
                            f"({got} against {d})")
    mapped = params.to_grokscan(sd, d)
    for name, value in mapped.items():
        if not np.all(np.isfinite(value)):
            raise GrokscanError(f"{ck.label}: {name} holds NaN or inf")
    state = model.state_dict()
    if set(state) != set(mapped):
        raise GrokscanError(f"{ck.label}: maps to {sorted(set(mapped) ^ set(state))} that "
                            "grokscan's transformer does not have")
    with torch.no_grad():
        for name, value in mapped.items():
            state[name].copy_(torch.from_numpy(value))
    return sd


def check(model, task, d: params.Dims, activation: str, ck: Checkpoint) -> float:
    """max |grokscan logit − source logit| / max(1, max |source logit|) over the P² pairs."""
    sd = _load(model, ck, d)
    p, op = task.p, task.ops[0]
    ours = task.residues.grid_inputs(op, "transformer")  # [a, b, '='] with '=' at P + 1
    theirs = ours.copy()
    theirs[:, -1] = p  # the source's '=' is token P
    worst, scale = 0.0, 1.0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(ours), CHUNK):
            got = model(torch.from_numpy(ours[i: i + CHUNK])).double().numpy()
            want = params.source_logits(sd, d, activation, theirs[i: i + CHUNK])
            worst = max(worst, float(np.abs(got - want).max()))
            scale = max(scale, float(np.abs(want).max()))
    return worst / scale


def _scalars(model, data: dict, beta: float) -> dict[str, float]:
    out = {}
    for name, (x, y) in data.items():
        out[f"{name}_loss"], out[f"{name}_acc"] = evaluate(model, x, y, beta)
    with torch.no_grad():
        out["weight_norm"] = weight_norm(model.parameters())
    return out


def _grads(model, x, y, beta: float) -> None:
    """The full-batch training gradient of grokscan's loss (P classes) into each ``.grad``."""
    model.zero_grad()
    torch.nn.functional.cross_entropy(beta * model(x), y).backward()


def write(out: str, src: Source, d: params.Dims, r, cfg, opts, *, task, provenance) -> dict:
    """Check, then write every checkpoint of ``src`` to ``out``; see the module docstring.
    ``task``: the run's data (every (a, b) pair, the resolved split); ``provenance(check)``:
    the file's provenance attribute, given the check's report."""
    split = task.split("transformer")
    cfg, model = for_split(cfg, split)
    ends = [src.checkpoints[0]] + ([src.checkpoints[-1]] if len(src.checkpoints) > 1 else [])
    errors = [check(model, task, d, r.activation, ck) for ck in ends]
    for ck, err in zip(ends, errors):
        if not err <= TOLERANCE:
            raise GrokscanError(f"{ck.label}: grokscan's replay of the imported weights differs "
                                f"from the source model's own forward pass by {err:.3g} of the "
                                f"logits' scale (tolerance {TOLERANCE:g}); nothing was written")
    report = {"steps": [ck.step for ck in ends], "max_error": errors, "tolerance": TOLERANCE,
              "measure": "max |grokscan − source| over the P² (a, b) logits / max(1, max "
                         "|source logit|); the source's own forward pass in float64 "
                         "(grokscan/importers/params.py), grokscan's model in float32"}
    prov = provenance(report)
    lock = WriterLock(out).acquire()
    try:
        _record_all(out, src, d, model, task, cfg, prov, opts)
    finally:
        lock.release()
    return {"out": out, "format": src.fmt, "parametrisation": prov["parametrisation"],
            "n_checkpoints": len(src.checkpoints), "steps": [src.checkpoints[0].step,
                                                             src.checkpoints[-1].step],
            "p": r.p, "op": r.op, "split": r.split, "check": report}


def _record_all(out: str, src: Source, d, model, task, cfg, prov: dict, opts) -> None:
    tmp = out + ".tmp"
    split = task.split("transformer")
    data = {k: (torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))
            for k, (x, y) in {"train": (split.x_train, split.y_train),
                              "test": (split.x_test, split.y_test)}.items()}
    beta = cfg.train.beta
    schedule = json.dumps(Schedule(every=cfg.train.every).__dict__)
    header = Header(Layout.of(model), cfg, {"schedule": schedule,
                                            "provenance": json.dumps(prov)})
    rec = Writer(tmp, dict(model.named_parameters()), header, task=task, grads=opts.grads,
                 force=True)
    bar = progress(len(src.checkpoints), desc="import", unit="checkpoint", quiet=opts.quiet)
    try:
        for ck in src.checkpoints:
            _load(model, ck, d)
            model.eval()
            if opts.grads:
                _grads(model, *data["train"], beta)
            rec.record(ck.step, **_scalars(model, data, beta))
            bar.update(1)
        rec.close()
        os.replace(tmp, out)
    except BaseException:
        rec.abort()
        for path in (tmp, tmp + ".part", tmp + ".lock"):
            if os.path.exists(path):
                os.remove(path)
        raise
    finally:
        bar.close()
