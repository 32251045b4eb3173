"""The training loop. It knows nothing of HDF5 beyond the Recorder.

At a checkpoint step s the file gets θ_s (the parameters after s optimizer steps), the
full-batch training gradient at θ_s, and the losses and accuracies at θ_s; then step s+1 is
taken. Resuming from step s restores θ_s, the optimizer moments and the random generators as
they were at the start of iteration s, so the continued run equals an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from grokscan.config import RunConfig
from grokscan.errors import GrokscanError, TrainingDiverged
from grokscan.models import build_model
from grokscan.store.reader import Run
from grokscan.store.writer import Recorder, Schedule, restore_optimizer
from grokscan.tasks import ising, modular


@dataclass
class Split:
    """Model inputs and labels of the train and test sets (and any extra test sets)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    extra: dict  # name -> (x, y)
    n_vocab: int  # token vocabulary; 0 for float inputs
    p: int  # residues (modular) or 0
    n_classes: int
    task: object  # what the Recorder writes under /task


def modular_data_from_task(task: dict) -> modular.ModularData:
    return modular.ModularData(int(task["p"]), tuple(task["ops"]), task["examples"],
                               task["labels"], task["train"].astype(bool))


def make_split(cfg: RunConfig, task: dict | None = None) -> Split:
    """The split of a run: drawn from the seed (modular) or read from the data-set file
    (Ising), or read back from a checkpoint file's ``task`` dict (``Run.task``)."""
    if cfg.task.kind == "ising":
        return ising_split(cfg, task)
    if cfg.task.kind != "modular":
        raise GrokscanError(f"unknown task {cfg.task.kind!r}; expected modular or ising")
    data = modular_data_from_task(task) if task else modular.make_data(cfg.task, cfg.train.seed)
    with_eq = cfg.model.kind == "transformer"
    x = torch.from_numpy(modular.tokens(data, with_eq=with_eq)).long()
    y = torch.from_numpy(data.labels).long()
    tr = torch.from_numpy(data.train)
    return Split(x[tr], y[tr], x[~tr], y[~tr], {}, data.n_vocab, data.p, data.n_classes, data)


def ising_split(cfg: RunConfig, task: dict | None = None) -> Split:
    """Lattices flattened to L² floats (±1) and bin labels. "test" is the random-spin test
    set; with ``eval_inverted`` the n-inverted set is evaluated too, as ``inverted``."""
    if task:
        it = ising.IsingTask.from_task(task)
    else:
        it = ising.IsingTask(*ising.training_data(cfg.task.data))
    d = it.data

    def xy(split):
        x, y = d.xy(split)
        return torch.from_numpy(x), torch.from_numpy(y)

    extra = {}
    if cfg.task.eval_inverted:
        if not len(d.inverted_y):
            raise GrokscanError(f"{it.source}: the n-inverted set is empty; "
                                "run without --eval-inverted")
        extra["inverted"] = xy("inverted")
    n_classes = len(d.config.bins)
    return Split(*xy("train"), *xy("test"), extra, 0, 0, n_classes, it)


def saved_config(path) -> RunConfig:
    """The RunConfig stored in a checkpoint file (GrokscanError if it has none)."""
    with Run(path) as run:
        cfg = run.config
    if cfg is None:
        raise GrokscanError(f"{path} was written by a Recorder without a config; "
                            "it cannot be resumed by grokscan train")
    return cfg


def build(cfg: RunConfig, split: Split):
    """The model a config describes, with the class count filled in from the data."""
    mcfg = dataclasses.replace(cfg.model, n_classes=split.n_classes,
                               d_in=0 if split.n_vocab else split.x_train.shape[1])
    cfg = dataclasses.replace(cfg, model=mcfg)
    model = build_model(mcfg, n_vocab=split.n_vocab, p=split.p,
                        n_ctx=split.x_train.shape[1], seed=cfg.train.seed)
    return cfg, model.to(cfg.train.device)


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor, beta: float) -> tuple[float, float]:
    loss = F.cross_entropy(beta * logits, y).item()
    acc = (logits.argmax(-1) == y).float().mean().item()
    return loss, acc


@torch.no_grad()
def evaluate(model, x, y, beta: float) -> tuple[float, float]:
    was = model.training
    model.eval()
    out = loss_and_accuracy(model(x), y, beta)
    model.train(was)
    return out


@dataclass
class TrainResult:
    path: str
    n_checkpoints: int
    last_step: int
    stopped_early: bool


def train(cfg: RunConfig, path, *, force: bool = False, resume: bool = False,
          quiet: bool = False) -> TrainResult:
    """Train as ``cfg`` says and write checkpoints to ``path``; see the module docstring.

    Raises TrainingDiverged (after closing the file) when the loss becomes NaN or inf;
    KeyboardInterrupt leaves every checkpoint written so far on disk.
    """
    path = os.fspath(path)
    t = cfg.train
    if resume:
        cfg, model, split, opt, batch_rng, start, keep = _resume_state(path, cfg)
        rec = Recorder.reopen(path, model, keep=keep, schedule=_schedule(cfg))
    else:
        if os.path.exists(path) and not force:
            raise GrokscanError(f"{path} exists; pass --force to overwrite it, or --resume")
        split = make_split(cfg)
        cfg, model = build(cfg, split)
        opt = _optimizer(cfg, model)
        batch_rng = torch.Generator().manual_seed(t.seed + 1)
        start = 0
        rec = Recorder(path, model, task=split.task, config=cfg, schedule=_schedule(cfg),
                       grads=t.grads, force=force)
    rec.track(opt, batch_rng)
    t = cfg.train
    dev = t.device
    xtr, ytr = split.x_train.to(dev), split.y_train.to(dev)
    xte, yte = split.x_test.to(dev), split.y_test.to(dev)
    full = t.batch_size <= 0 or t.batch_size >= len(ytr)
    # The training forward is the evaluation of the train set when it sees the whole set
    # deterministically; otherwise the train set is evaluated (and differentiated) separately.
    exact = full and cfg.model.dropout == 0
    grokked_since, stopped, step = None, False, start
    bar = tqdm(total=t.steps, initial=start, disable=quiet, unit="step", dynamic_ncols=True)
    model.train()
    try:
        for step in range(start, t.steps + 1):
            due = rec.due(step) or step == t.steps
            if due:
                torch_rng = torch.get_rng_state()
                batch_state = batch_rng.get_state()
            for g in opt.param_groups:
                g["lr"] = t.lr * min(1.0, (step + 1) / max(t.warmup, 1))
            if full:
                xb, yb = xtr, ytr
            else:
                idx = torch.randperm(len(ytr), generator=batch_rng)[: t.batch_size].to(dev)
                xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=False)
            logits = model(xb)
            loss = F.cross_entropy(t.beta * logits, yb)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"the training loss became {loss.item()} at step {step}; the "
                    f"{rec.n} checkpoints before it are kept in {path}"
                )
            loss.backward()
            if due:
                if exact:
                    train_loss, train_acc = loss_and_accuracy(logits.detach(), yb, t.beta)
                    rec_grads = None
                else:
                    rec_grads = _full_batch_grads(model, xtr, ytr, t.beta)
                    train_loss, train_acc = evaluate(model, xtr, ytr, t.beta)
                test_loss, test_acc = evaluate(model, xte, yte, t.beta)
                scalars = dict(train_loss=train_loss, train_acc=train_acc, test_loss=test_loss,
                               test_acc=test_acc, lr=opt.param_groups[0]["lr"],
                               weight_norm=_weight_norm(model))
                for name, (xe, ye) in split.extra.items():
                    scalars[f"{name}_loss"], scalars[f"{name}_acc"] = evaluate(
                        model, xe.to(dev), ye.to(dev), t.beta)
                _record(rec, model, step, scalars, rec_grads)
                # the resume state is that of the start of this iteration
                now_rng, now_batch = torch.get_rng_state(), batch_rng.get_state()
                torch.set_rng_state(torch_rng)
                batch_rng.set_state(batch_state)
                rec.save_state(step)
                torch.set_rng_state(now_rng)
                batch_rng.set_state(now_batch)
                bar.set_postfix_str(
                    f"loss {train_loss:.3g}/{test_loss:.3g} acc {train_acc:.3f}/{test_acc:.3f}",
                    refresh=False)
                if test_acc >= 0.99:
                    grokked_since = step if grokked_since is None else grokked_since
                else:
                    grokked_since = None
                if (t.stop_when_grokked and grokked_since is not None
                        and step - grokked_since >= t.stop_when_grokked):
                    stopped = True
                    break
            if step == t.steps:
                break
            opt.step()
            bar.update(1)
    finally:
        bar.close()
        n = rec.n
        rec.close()
    return TrainResult(path, n, step, stopped)


def _schedule(cfg: RunConfig) -> Schedule:
    t = cfg.train
    return Schedule(every=t.every, dense_until=t.dense_until, dense_every=t.dense_every)


OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}


def _optimizer(cfg: RunConfig, model) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer not in OPTIMIZERS:
        raise GrokscanError(f"unknown optimizer {t.optimizer!r}; expected one of: "
                            f"{', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[t.optimizer](model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2),
                                   weight_decay=t.wd)


def _weight_norm(model) -> float:
    with torch.no_grad():
        return float(torch.sqrt(sum((p.double() ** 2).sum() for p in model.parameters())))


def _full_batch_grads(model, x, y, beta: float) -> dict[str, torch.Tensor]:
    """The full-batch training gradient in eval mode (no dropout), leaving ``.grad`` intact."""
    params = dict(model.named_parameters())
    was = model.training
    model.eval()
    loss = F.cross_entropy(beta * model(x), y)
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    model.train(was)
    return {k: (g if g is not None else torch.zeros_like(p))
            for (k, p), g in zip(params.items(), grads)}


def _record(rec: Recorder, model, step: int, scalars: dict, grads: dict | None) -> None:
    if grads is None:
        rec.record(step, **scalars)
        return
    saved = {k: p.grad for k, p in model.named_parameters()}
    for k, p in model.named_parameters():
        p.grad = grads[k]
    try:
        rec.record(step, **scalars)
    finally:
        for k, p in model.named_parameters():
            p.grad = saved[k]


def _resume_state(path: str, override: RunConfig):
    """Everything needed to continue the run in ``path`` from its latest resume state."""
    with Run(path) as run:
        cfg = run.config
        if cfg is None:
            raise GrokscanError(f"{path} was written by a Recorder without a config; "
                                "it cannot be resumed by grokscan train")
        if "resume" not in run.f or int(run.f["resume/step"][0]) < 0:
            raise GrokscanError(f"{path} holds no resume state yet (fewer than 2 checkpoints)")
        g = run.f["resume"]
        step = int(g["step"][0])
        rows = np.flatnonzero(run.steps == step)
        if not rows.size:
            raise GrokscanError(f"{path}: the resume step {step} has no checkpoint")
        row = int(rows[0])
        params = run.params_at(row)
        flat = g["optimizer"][()]
        layout = json.loads(bytes(g["layout"][()]).decode())
        torch_rng = torch.from_numpy(g["torch_rng"][()])
        batch_rng_state = torch.from_numpy(g["batch_rng"][()])
        task = run.task
    # the run's own settings, with the length and early stop the user asked for now
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, steps=override.train.steps, stop_when_grokked=override.train.stop_when_grokked))
    split = make_split(cfg, task)
    cfg2, model = build(cfg, split)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(params[name]))
    opt = _optimizer(cfg2, model)
    restore_optimizer(opt, dict(model.named_parameters()), flat, layout)
    batch_rng = torch.Generator()
    if batch_rng_state.numel():
        batch_rng.set_state(batch_rng_state)
    torch.set_rng_state(torch_rng)
    return cfg2, model, split, opt, batch_rng, step, row
