"""The training loop. It knows nothing of HDF5 beyond the Recorder.

At a checkpoint step s the file gets θ_s (the parameters after s optimizer steps), the
full-batch training gradient at θ_s, and the losses and accuracies at θ_s; then step s+1 is
taken. Resuming from step s restores θ_s, the optimizer moments and the random generators as
they were at the start of iteration s, so the continued run equals an uninterrupted one.

``on_checkpoint`` sees every checkpoint as it is recorded (the step, the scalars, the model)
and may stop the training by returning True: ``grokscan factor --p`` reads the weights that way
while they train.

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from grokscan import tasks, threads
from grokscan.config import RunConfig
from grokscan.errors import GrokscanError, TrainingDiverged
from grokscan.hdf5.lock import WriterLock
from grokscan.hdf5.superblock import clear_writer_flags, writer_flags
from grokscan.models import check_shapes, for_split, weight_norm
from grokscan.models.loss import loss as loss_of
from grokscan.onset.forecast import Forecast, Spectrum, not_applicable
from grokscan.onset.shipped import default, flag_line
from grokscan.progress import progress, say
from grokscan.recorder import Recorder, Schedule
from grokscan.store.layout import Layout
from grokscan.store.reader import Run
from grokscan.store.writer import restore_optimizer
from grokscan.summary import GROKKED, grokked_since

DEFAULT = default()  # the forecast: the shipped onset detector that measured best held out


@dataclass
class Checkpoint:
    """What ``on_checkpoint`` is given: the step, the recorded scalars, the model at θ_step,
    and the forecast's flag (the default onset detector, grokscan/onset/shipped.py; None until
    it fires)."""

    step: int
    scalars: dict[str, float]
    model: torch.nn.Module
    onset: int | None = None  # the forecast's flag step, once it has fired


@dataclass
class TrainResult:
    path: str
    n_checkpoints: int
    last_step: int
    stopped_early: bool  # by --stop-when-grokked or by on_checkpoint
    added: int  # checkpoints this call wrote (0: a resume of a run already that long)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: ``n`` checkpoints of ``path`` are committed and kept."""

    def __init__(self, path: str, n: int):
        super().__init__(path, n)
        self.path, self.n = path, n


@dataclass
class _Session:
    """Everything one training needs, fresh or resumed."""

    cfg: RunConfig  # with the class count and input size filled in
    model: torch.nn.Module
    data: dict  # name -> (x, y) tensors on the device: "train", "test", then the extra sets
    opt: torch.optim.Optimizer
    batch_rng: torch.Generator
    rec: Recorder
    start: int
    recorded: bool = False  # the checkpoint of step ``start`` is in the file already (resume)
    grokked_since: int | None = None  # first step of the last stretch of test acc ≥ 0.99
    forecast: Forecast | None = None  # the default onset detector over the checkpoints
    no_forecast: str | None = None  # why the forecast cannot read this run (one line), if so


def loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor, beta: float,
                      kind: str = "cross_entropy") -> tuple[float, float]:
    loss = loss_of(logits, y, beta=beta, kind=kind).item()
    # the exact ratio: a float32 mean stores 54 of 60 as 0.8999999761581421, below 0.9
    acc = (logits.argmax(-1) == y).sum().item() / len(y)
    return loss, acc


@torch.no_grad()
def evaluate(model, x, y, beta: float, kind: str = "cross_entropy") -> tuple[float, float]:
    was = model.training
    model.eval()
    out = loss_and_accuracy(model(x), y, beta, kind)
    model.train(was)
    return out


def tensors(split: tasks.Split, device: str) -> dict:
    """The split's sets as (x, y) tensors on ``device``: "train", "test", then the extra ones."""
    sets = {"train": (split.x_train, split.y_train), "test": (split.x_test, split.y_test),
            **split.extra}
    return {k: (torch.from_numpy(np.ascontiguousarray(x)).to(device),
                torch.from_numpy(np.asarray(y, np.int64)).to(device)) for k, (x, y) in sets.items()}


def train(cfg: RunConfig, path, *, force: bool = False, resume: bool = False,
          quiet: bool = False, on_checkpoint: Callable[[Checkpoint], bool] | None = None
          ) -> TrainResult:
    """Train as ``cfg`` says and write checkpoints to ``path``; see the module docstring.

    Raises TrainingDiverged (after closing the file) when the loss becomes NaN or inf;
    KeyboardInterrupt leaves every checkpoint written so far on disk.
    """
    path = os.fspath(path)
    check_device(cfg.train.device)
    if cfg.train.dense_memorised and not cfg.train.onset:
        raise GrokscanError("--dense-memorised needs the in-loop onset detector, which finds "
                            "memorisation step by step; it cannot go with --no-onset")
    with deterministic(cfg.train.device), threads.flush_denormals(), stop_requests() as stop:
        s = _resumed(path, cfg) if resume else _fresh(path, cfg, force)
        if isinstance(s, TrainResult):  # resumed: the run is that long already
            return s
        before = s.rec.n
        bar = progress(s.cfg.train.steps, desc="train", unit="step", initial=s.start,
                       quiet=quiet)
        if s.no_forecast:
            say(bar, s.no_forecast)
        s.model.train()
        try:
            _, stopped = _loop(s, bar, on_checkpoint, stop)
        except KeyboardInterrupt:
            s.rec.abort()  # every committed checkpoint stays
            raise Interrupted(path, s.rec.n) from None
        except BaseException:
            s.rec.abort()
            raise
        finally:
            bar.close()
        s.rec.close()
    return TrainResult(path, s.rec.n, s.rec.last_step, stopped, s.rec.n - before)


@contextmanager
def stop_requests():
    """Ctrl-C and SIGTERM during training ask the loop to stop at the next step rather than
    raise wherever they land: raised inside h5py's object cleanup, a KeyboardInterrupt is
    printed and dropped ("Exception ignored in ... __dealloc__"), and training went on. A
    second Ctrl-C raises at once. Yields the list the handler appends the signal to; outside
    the main thread (where no handler can be set) it stays empty."""
    asked: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield asked
        return

    def handler(sig, frame):
        if asked and sig == signal.SIGINT:
            raise KeyboardInterrupt
        asked.append(sig)

    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield asked
    finally:
        for sig, old in before.items():
            signal.signal(sig, old)


@contextmanager
def deterministic(device: str):
    """Deterministic torch algorithms while training (the embedding's backward pass is then
    reproducible with several threads, and on this CPU faster too): the same seed gives the
    same file, bitwise. The setting the caller had is restored after."""
    before = torch.are_deterministic_algorithms_enabled()
    # on CUDA some kernels have no deterministic version: warn there rather than fail
    torch.use_deterministic_algorithms(True, warn_only=not device.startswith("cpu"))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def check_device(device: str) -> None:
    """A GrokscanError unless ``device`` names a torch device this machine has."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise GrokscanError(f"--device: expected cpu, cuda, cuda:N or mps, got {device!r}"
                            ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GrokscanError(f"--device {device}: this machine has no CUDA device (torch "
                            f"{torch.__version__}); use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise GrokscanError(f"--device {device}: this machine has "
                            f"{torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise GrokscanError(f"--device {device}: MPS is not available here; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise GrokscanError(f"--device: expected cpu, cuda, cuda:N or mps, got {device!r}")


def prepare(cfg: RunConfig):
    """(cfg, task, split, model) of a fresh run: the task's data drawn from the seed, the
    model initialised from it, the config with the class count and input size filled in."""
    task = tasks.get(cfg.task.kind).make(cfg.task, cfg.train.seed)
    split = task.split(cfg.model.kind)
    cfg, model = for_split(cfg, split)
    return cfg, task, split, model


def _fresh(path: str, cfg: RunConfig, force: bool) -> _Session:
    if os.path.exists(path) and not force:
        raise GrokscanError(f"{path} exists; pass --force to overwrite it, or --resume")
    cfg, task, split, model = prepare(cfg)
    opt = _optimizer(cfg, model)
    batch_rng = torch.Generator().manual_seed(cfg.train.seed + 1)
    rec = Recorder(path, model, task=task, config=cfg, schedule=_schedule(cfg),
                   grads=cfg.train.grads, force=force)
    rec.track(opt, batch_rng)
    forecast = _forecast(lambda settings: Forecast(
        settings, Spectrum.of(task, Layout.of(model).residue_vectors)))
    why = not_applicable(task.kind, residues=task.residues is not None,
                         vectors=bool(Layout.of(model).residue_vectors))
    return _Session(cfg, model, tensors(split, cfg.train.device), opt, batch_rng, rec, 0,
                    forecast=forecast, no_forecast=why)


def _loop(s: _Session, bar, on_checkpoint, stop: list) -> tuple[int, bool]:
    """Steps from ``s.start`` to the last; returns (last step, stopped early). A signal in
    ``stop`` (:func:`stop_requests`) ends it between two steps, as a KeyboardInterrupt."""
    t = s.cfg.train
    xtr, ytr = s.data["train"]
    full = t.batch_size <= 0 or t.batch_size >= len(ytr)
    # The training forward is the evaluation of the train set when it sees the whole set
    # deterministically; otherwise the train set is evaluated (and differentiated) separately.
    exact = full and s.cfg.model.dropout == 0
    grokked_since, step = s.grokked_since, s.start
    for step in range(s.start, t.steps + 1):
        if stop:
            raise KeyboardInterrupt
        due = (s.rec.due(step) or step == t.steps) and not (s.recorded and step == s.start)
        rng_states = (torch.get_rng_state(), s.batch_rng.get_state()) if due else None
        for g in s.opt.param_groups:
            g["lr"] = t.lr * min(1.0, (step + 1) / max(t.warmup, 1))
        if full:
            xb, yb = xtr, ytr
        else:
            idx = torch.randperm(len(ytr), generator=s.batch_rng)[: t.batch_size].to(xtr.device)
            xb, yb = xtr[idx], ytr[idx]
        s.opt.zero_grad(set_to_none=False)
        logits = s.model(xb)
        loss = loss_of(logits, yb, beta=t.beta, kind=t.loss)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"the training loss became {loss.item()} at step {step}; the "
                                   f"{s.rec.n} checkpoints before it are kept in {s.rec.path}")
        loss.backward()
        if t.onset:
            _observe(s, step, logits, yb, loss)
        if due:
            scalars = _checkpoint(s, step, (logits.detach(), yb) if exact else None, rng_states)
            bar.set_postfix_str(f"loss {scalars['train_loss']:.3g}/{scalars['test_loss']:.3g} "
                                f"acc {scalars['train_acc']:.3f}/{scalars['test_acc']:.3f}",
                                refresh=False)
            grokked_since = (None if scalars["test_acc"] < GROKKED
                             else step if grokked_since is None else grokked_since)
            if (t.stop_when_grokked and grokked_since is not None
                    and step - grokked_since >= t.stop_when_grokked):
                return step, True
            flag = _forecast_at(s, step, scalars, bar)
            if on_checkpoint is not None and on_checkpoint(Checkpoint(step, scalars, s.model,
                                                                      flag)):
                return step, True
        if step == t.steps:
            break
        s.opt.step()
        bar.update(1)
    return step, False


def _observe(s: _Session, step: int, logits, y, loss) -> None:
    """The in-loop onset detector sees the step (grokscan/onset/live.py): the batch's loss
    and accuracy, the weights and the gradient; its record goes to the file (/onset)."""
    acc = float((logits.detach().argmax(-1) == y).float().mean())
    s.rec.observe(step, train_loss=float(loss.detach()), train_acc=acc)


def _forecast(make) -> Forecast | None:
    """``make(settings)``: the Forecast of the default detector, when it reads checkpoints
    and the run has its signal; else None."""
    if DEFAULT.settings is None:
        return None
    f = make(DEFAULT.settings)
    return f if f.possible else None


def _forecast_at(s: _Session, step: int, scalars: dict, bar) -> int | None:
    """The forecast (the default onset detector, grokscan/onset/shipped.py) takes the
    checkpoint just recorded; the moment it flags is said once, with its held-out numbers.
    Returns its flag step (None before it fires). Where the default reads every step (the
    in-loop model), its flag is the Recorder's."""
    if s.forecast is None:
        flag = s.rec.onset.flag if DEFAULT.settings is None and s.rec.onset else None
        return flag
    params = {k: p.detach().cpu().numpy()[None] for k, p in s.model.named_parameters()
              if k in s.forecast.params}
    if s.forecast.add([step], {k: [v] for k, v in scalars.items()}, params):
        r = s.forecast.result
        say(bar, flag_line(DEFAULT, r.step, r.reason, memorisation=r.memorisation))
    return s.forecast.result.step if s.forecast.result else None


def _checkpoint(s: _Session, step: int, exact, rng_states) -> dict[str, float]:
    """Evaluate, record the checkpoint and the resume state of the start of this iteration.
    ``exact``: (logits, labels) of the training forward when it was the full train set."""
    t, model = s.cfg.train, s.model
    if exact is not None:
        train_loss, train_acc = loss_and_accuracy(*exact, t.beta, t.loss)
        grads = None
    else:
        grads = _full_batch_grads(model, *s.data["train"], t.beta, t.loss)
        train_loss, train_acc = evaluate(model, *s.data["train"], t.beta, t.loss)
    test_loss, test_acc = evaluate(model, *s.data["test"], t.beta, t.loss)
    scalars = dict(train_loss=train_loss, train_acc=train_acc, test_loss=test_loss,
                   test_acc=test_acc, lr=s.opt.param_groups[0]["lr"],
                   weight_norm=weight_norm(model.parameters()))
    for name, (x, y) in list(s.data.items())[2:]:
        scalars[f"{name}_loss"], scalars[f"{name}_acc"] = evaluate(model, x, y, t.beta,
                                                                   t.loss)
    # the resume state recorded with the checkpoint is that of the start of this iteration
    now = torch.get_rng_state(), s.batch_rng.get_state()
    torch.set_rng_state(rng_states[0])
    s.batch_rng.set_state(rng_states[1])
    try:
        _record(s.rec, model, step, scalars, grads)
    finally:
        torch.set_rng_state(now[0])
        s.batch_rng.set_state(now[1])
    return scalars


def _schedule(cfg: RunConfig) -> Schedule:
    t = cfg.train
    return Schedule(every=t.every, dense_until=t.dense_until, dense_every=t.dense_every,
                    dense_memorised=t.dense_memorised)


OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}


def _optimizer(cfg: RunConfig, model) -> torch.optim.Optimizer:
    t = cfg.train
    return OPTIMIZERS[t.optimizer](model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2),
                                   weight_decay=t.wd)


def _full_batch_grads(model, x, y, beta: float, kind: str) -> dict[str, torch.Tensor]:
    """The full-batch training gradient in eval mode (no dropout), leaving ``.grad`` intact."""
    params = dict(model.named_parameters())
    was = model.training
    model.eval()
    loss = loss_of(model(x), y, beta=beta, kind=kind)
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


def saved_config(path) -> RunConfig:
    """The RunConfig stored in a checkpoint file (GrokscanError if it has none)."""
    with Run(path) as run:
        cfg = run.config
    if cfg is None:
        raise GrokscanError(f"{path} was written by a Recorder without a config; "
                            "it cannot be resumed by grokscan train")
    return cfg


def _resumed(path: str, override: RunConfig) -> _Session | TrainResult:
    """Everything needed to continue the run in ``path`` from its last checkpoint. The lock is
    taken first: no other process may write the file from now on. A run that reaches the
    steps asked for already is a TrainResult of nothing added, decided before anything is
    opened for writing: the file stays as it is (a killed writer's flags aside, which are
    cleared as ``grokscan repair`` clears them)."""
    lock = WriterLock(path).acquire()
    try:
        with Run(path) as run:
            cfg = run.config
            if cfg is None:
                raise GrokscanError(f"{path} was written by a Recorder without a config; "
                                    "it cannot be resumed by grokscan train")
            state = run.resume_state()
            task = run.task
            check_shapes(cfg, task.split(cfg.model.kind),
                         {k: tuple(run.shape(k)) for k in run.param_names}, path)
            params = run.params_at(run.n - 1)
            since = grokked_since(run.steps, run.scalars.get("test_acc"))
            n = run.n
            forecast = _forecast(lambda settings: Forecast.of_run(run, settings))
            why = not_applicable(task.kind, residues=task.residues is not None,
                                 vectors=bool(run.residue_vectors))
        steps = override.train.steps
        if steps < state.step:
            raise GrokscanError(f"{path} already reaches step {state.step}; --resume --steps "
                                f"{steps} would end before it (give more steps; a resume "
                                "never removes a checkpoint)")
        if steps == state.step:
            if writer_flags(path):
                clear_writer_flags(path)
            lock.release()
            return TrainResult(path, n, state.step, False, 0)
        # the run's own settings, with the length and early stop the user asked for now
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(
            cfg.train, steps=steps, stop_when_grokked=override.train.stop_when_grokked))
        split = task.split(cfg.model.kind)
        cfg, model = for_split(cfg, split)
        opt, batch_rng = _restore(cfg, model, params, state, path)
        rec = Recorder.reopen(path, model, schedule=_schedule(cfg), lock=lock)
    except BaseException:
        lock.release()
        raise
    rec.track(opt, batch_rng)
    return _Session(cfg, model, tensors(split, cfg.train.device), opt, batch_rng, rec,
                    state.step, recorded=True, grokked_since=since, forecast=forecast,
                    no_forecast=why)


def _restore(cfg: RunConfig, model, params: dict, state, path: str):
    """Parameters, optimizer moments and generators as they were at the checkpoint."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name not in params or tuple(params[name].shape) != tuple(p.shape):
                found = params[name].shape if name in params else "nothing"
                raise GrokscanError(f"{path}: /params/{name} holds {found}; the run's config "
                                    f"builds {tuple(p.shape)}")
            p.copy_(torch.from_numpy(params[name]))
    opt = _optimizer(cfg, model)
    named = dict(model.named_parameters())
    for name, key, shape in state.layout:
        want = () if key == "step" else tuple(named[name].shape) if name in named else None
        if want is None or tuple(shape) != want:
            raise GrokscanError(f"{path}: the resume state holds {name}.{key} of shape "
                                f"{tuple(shape)}; the model's is {want}")
    restore_optimizer(opt, named, state.optimizer, state.layout)
    batch_rng = torch.Generator()
    try:
        if state.batch_rng.size:
            batch_rng.set_state(torch.from_numpy(state.batch_rng))
        torch.set_rng_state(torch.from_numpy(state.torch_rng))
    except (RuntimeError, ValueError) as e:
        raise GrokscanError(f"{path}: the resume state's generator state is unusable "
                            f"({e})") from None
    return opt, batch_rng
