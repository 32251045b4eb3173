"""Cost of recording dense checkpoints with the Recorder, as wall-time ratios measured in one run.

For two models of grokscan's shapes, the default P = 97 MLP (add mod 97, frac 0.3, a and b
embedded in 128 dimensions and concatenated, 512 ReLU units; 194 k parameters) and the 1-layer
transformer (d_model 128, 4 heads, a 512-unit ReLU MLP, no LayerNorm, lr 1e-3; 223 k), and for
checkpoint intervals 10 and 1, it times one training loop written here as a user would write
it: plain PyTorch, full-batch AdamW (lr 1e-2, betas (0.9, 0.98), weight decay 1, 10 warm-up
steps) on grokscan.tasks.modular's data, in two modes:

  recorded  the loop with a grokscan.Recorder (Schedule(every=N), the task and the layout
            given) writing each checkpoint step to an HDF5 file in a temporary directory: the
            parameters, their gradients, the scalars and, through Recorder.track, the optimizer
            state to resume from.
  baseline  the same loop without a Recorder. At every checkpoint step it still evaluates what
            is recorded: the train loss and accuracy (of the step's full-batch forward pass),
            the test loss and accuracy, the weight norm and the learning rate. Both include
            the model and data setup and every training step; the baseline excludes the
            Recorder alone: the tensor->numpy copies of parameters, gradients and optimizer
            state, and all HDF5 work.

Each ratio compares runs with the same checkpoint interval, so the same evaluation schedule:
it isolates the writing. Targets: <= 1.05 recording every 10 steps, <= 1.5 every step.

Each repetition runs every (model, interval) pair back to back, baseline and recorded in
alternating order, the pairs in rotated order; the ratio is the median over repetitions of the
per-pair ratio (robust to load that drifts between repetitions), the times are medians. Process
CPU time is reported beside wall time: on a shared machine it is the steadier of the two.
Write throughput is the checkpoint data written by the every-step run (parameters + gradients +
the resume state written with each checkpoint) over the time recording adds to its baseline.
`grokscan repair` is timed on a file whose writer was killed (a process recording the model,
killed with SIGKILL after 10 checkpoints): the command run in this process, the superblock the
kill left written back before each run.

    .venv/bin/python scripts/bench_record.py [--steps N | --steps-mlp N --steps-transformer N]
                                             [--reps 3] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from grokscan import Layout, Recorder, Schedule
from grokscan.tasks.modular import ModularConfig, make_data

TARGETS = {10: 1.05, 1: 1.5}
BASELINE = ("the same training loop without a Recorder: the same steps and, at each checkpoint "
            "step, the same evaluations (no file, no tensor->numpy copies, no HDF5)")
P, FRAC, SEED = 97, 0.3, 0
D, WIDTH, HEADS = 128, 512, 4
LR = {"mlp": 1e-2, "transformer": 1e-3}
BETAS, WD, WARMUP = (0.9, 0.98), 1.0, 10
# where analysis finds the per-residue vectors and the neuron-logit map (grokscan's own)
RESIDUES = ({"param": "embed.W_E", "start": 0, "stop": P, "operand": "a,b"},)
LAYOUT = {"mlp": Layout(RESIDUES, ("unembed.W_U",)),
          "transformer": Layout(RESIDUES, ("blocks.0.mlp.W_out", "unembed.W_U"))}
KILLED_AFTER = 10  # checkpoints the killed writer commits


class Params(nn.Module):
    """Named parameters, so that the model's names are grokscan's (``embed.W_E``, …)."""

    def __init__(self, **tensors: torch.Tensor):
        super().__init__()
        for name, t in tensors.items():
            setattr(self, name, nn.Parameter(t))


def uniform(shape, fan_in: int) -> torch.Tensor:  # nn.Linear's default
    bound = 1 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound)


def normal(shape, fan_in: int) -> torch.Tensor:  # N(0, 1/fan_in)
    return torch.randn(shape) / math.sqrt(fan_in)


class MLP(nn.Module):
    """[a, b] -> the embeddings of a and b, concatenated -> ReLU(x W + b) -> logits."""

    def __init__(self, n_vocab: int):
        super().__init__()
        self.embed = Params(W_E=torch.randn(n_vocab, D))
        self.hidden = nn.ModuleList([Params(W=uniform((2 * D, WIDTH), 2 * D),
                                            b=uniform(WIDTH, 2 * D))])
        self.unembed = Params(W_U=uniform((WIDTH, P), WIDTH), b_U=uniform(P, WIDTH))

    def forward(self, x):
        h = torch.relu(self.embed.W_E[x].flatten(1) @ self.hidden[0].W + self.hidden[0].b)
        return h @ self.unembed.W_U + self.unembed.b_U


class Transformer(nn.Module):
    """[a, b, =] -> one block (attention, then a ReLU MLP; residual, no LayerNorm) -> the
    logits at the last position (Nanda et al.'s model)."""

    def __init__(self, n_vocab: int, n_ctx: int):
        super().__init__()
        dh = D // HEADS
        self.embed = Params(W_E=normal((n_vocab, D), D))
        self.pos_embed = Params(W_pos=normal((n_ctx, D), D))
        block = nn.Module()
        block.attn = Params(**{k: normal((HEADS, D, dh), D) for k in ("W_Q", "W_K", "W_V")},
                            W_O=normal((HEADS, dh, D), dh))
        block.mlp = Params(W_in=normal((D, WIDTH), D), b_in=torch.zeros(WIDTH),
                           W_out=normal((WIDTH, D), WIDTH), b_out=torch.zeros(D))
        self.blocks = nn.ModuleList([block])
        self.unembed = Params(W_U=normal((D, P), D))

    def forward(self, tokens):
        a, m = self.blocks[0].attn, self.blocks[0].mlp
        x = self.embed.W_E[tokens] + self.pos_embed.W_pos[: tokens.shape[1]]
        q, k, v = (torch.einsum("btd,hde->bhte", x, W) for W in (a.W_Q, a.W_K, a.W_V))
        T = tokens.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        scores = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).masked_fill(~causal,
                                                                                float("-inf"))
        x = x + torch.einsum("bhte,hed->btd", scores.softmax(-1) @ v, a.W_O)
        x = x + torch.relu(x @ m.W_in + m.b_in) @ m.W_out + m.b_out
        return x[:, -1] @ self.unembed.W_U


def setup(kind: str):
    """(task data, model, train and test tensors) of a fresh run."""
    data = make_data(ModularConfig(p=P, frac=FRAC), SEED)
    split = data.split(kind)
    sets = [torch.from_numpy(np.asarray(a, np.int64))
            for a in (split.x_train, split.y_train, split.x_test, split.y_test)]
    torch.manual_seed(SEED)
    n_ctx = split.x_train.shape[1]
    model = MLP(data.n_vocab) if kind == "mlp" else Transformer(data.n_vocab, n_ctx)
    return data, model, sets


def loss_and_accuracy(logits, y) -> tuple[float, float]:
    return F.cross_entropy(logits, y).item(), (logits.argmax(-1) == y).sum().item() / len(y)


def weight_norm(model) -> float:
    with torch.no_grad():
        return float(torch.stack([(p.double() ** 2).sum() for p in model.parameters()])
                     .sum().sqrt())


def train(kind: str, steps: int, every: int, path: str, write: bool) -> int:
    """The loop: ``steps`` full-batch AdamW steps, the scalars evaluated at step 0, every
    ``every`` steps and the last, recorded there when ``write``. Returns the checkpoints."""
    data, model, (x, y, x_test, y_test) = setup(kind)
    lr = LR[kind]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=BETAS, weight_decay=WD)
    rec = (Recorder(path, model, task=data, schedule=Schedule(every=every),
                    layout=LAYOUT[kind], force=True) if write else None)
    n = 0
    with rec if rec is not None else contextlib.nullcontext():
        if rec is not None:
            rec.track(opt)  # the optimizer state goes with each checkpoint, to resume from
        for step in range(steps + 1):
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / WARMUP)
            opt.zero_grad(set_to_none=False)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()  # the gradients at this step's parameters, which a record keeps
            if step % every == 0 or step == steps:
                train_loss, train_acc = loss_and_accuracy(logits.detach(), y)
                model.eval()
                with torch.no_grad():
                    test_loss, test_acc = loss_and_accuracy(model(x_test), y_test)
                model.train()
                scalars = dict(train_loss=train_loss, train_acc=train_acc, test_loss=test_loss,
                               test_acc=test_acc, lr=opt.param_groups[0]["lr"],
                               weight_norm=weight_norm(model))
                if rec is not None:
                    rec.record(step, **scalars)
                n += 1
            if step == steps:
                break
            opt.step()
    return n


def timed(kind: str, steps: int, every: int, path: str, write: bool) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, checkpoints) of one training run."""
    w0, c0 = time.perf_counter(), time.process_time()
    n = train(kind, steps, every, path, write)
    return time.perf_counter() - w0, time.process_time() - c0, n


def file_stats(path: str) -> tuple[int, int]:
    """(file size, bytes of the resume state written with each checkpoint: one slot)."""
    with h5py.File(path, "r") as f:
        g = f["resume/0"]
        resume = sum(g[k].size * g[k].dtype.itemsize for k in g)
    return os.path.getsize(path), resume


def killed_writer(kind: str, path: str) -> None:
    """Record KILLED_AFTER checkpoints of the model to ``path`` and die by SIGKILL, as a
    writer killed mid-run (run in a child process)."""
    data, model, (x, y, _, _) = setup(kind)
    rec = Recorder(path, model, task=data, layout=LAYOUT[kind], force=True)
    for step in range(KILLED_AFTER):
        F.cross_entropy(model(x), y).backward()
        rec.record(step, train_loss=1.0)
    os.kill(os.getpid(), signal.SIGKILL)


def repair_seconds(kind: str, folder: str, reps: int = 20) -> float:
    """Median time of ``grokscan repair`` (the command, in this process) of a file whose
    writer was killed; the killed file's superblock is written back before each run, ``reps``
    times (and once before, untimed, which loads the command's code)."""
    from grokscan.cli import main

    path = os.path.join(folder, f"killed_{kind}.h5")
    child = subprocess.run([sys.executable, __file__, "--killed-writer", kind, path],
                           capture_output=True, text=True)
    if child.returncode != -signal.SIGKILL:
        raise SystemExit(f"the writer to be killed ended with {child.returncode}: "
                         f"{child.stderr}")
    with open(path, "rb") as fh:
        superblock = fh.read(48)
    times = []
    for _ in range(reps + 1):
        with open(path, "r+b") as fh:
            fh.write(superblock)
        out = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            main(["repair", path], standalone_mode=False)
        times.append(time.perf_counter() - t0)
        assert "cleared the flags" in out.getvalue(), out.getvalue()
    return statistics.median(times[1:])


def measure(steps: dict[str, int], reps: int) -> dict:
    cases = [(m, every) for m in steps for every in (10, 1)]
    times = {(c, w): [] for c in cases for w in (False, True)}  # [(wall, cpu)] per repetition
    ckpts, files = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.h5")
        for m in steps:  # warm-up, not timed
            timed(m, 3, 1, path, True)
        for rep in range(reps):
            k = rep % len(cases)
            for m, every in cases[k:] + cases[:k]:
                for write in (False, True) if rep % 2 == 0 else (True, False):
                    wall, cpu, n = timed(m, steps[m], every, path, write)
                    times[(m, every), write].append((wall, cpu))
                    ckpts[m, every] = n
                    if write and every == 1:
                        files[m] = file_stats(path)
        repairs = {m: repair_seconds(m, tmp) for m in steps}
    models = {}
    for m in steps:
        n_params = sum(p.numel() for p in setup(m)[1].parameters())
        pg = 2 * 4 * n_params  # float32 parameters and gradients
        size, resume = files[m]
        rows = []
        for every in (10, 1):
            n = ckpts[m, every]
            row = dict(every=every, checkpoints=n, target=TARGETS[every])
            for i, clock in enumerate(("wall", "cpu")):
                base = [t[i] for t in times[(m, every), False]]
                rec = [t[i] for t in times[(m, every), True]]
                b, r = statistics.median(base), statistics.median(rec)
                ratios = [y / x for x, y in zip(base, rec)]
                row[clock] = dict(baseline_s=b, recorded_s=r, ratio=statistics.median(ratios),
                                  ratio_min=min(ratios), ratio_max=max(ratios),
                                  ms_per_checkpoint=1e3 * (r - b) / n,
                                  baseline_all_s=base, recorded_all_s=rec)
            row["ok"] = row["wall"]["ratio"] <= TARGETS[every]
            rows.append(row)
        dense = rows[1]
        written = dense["checkpoints"] * (pg + resume)
        mbs = {}
        for clock in ("wall", "cpu"):
            extra = dense[clock]["recorded_s"] - dense[clock]["baseline_s"]
            mbs[clock] = written / extra / 1e6 if extra > 0 else None
        models[m] = dict(
            steps=steps[m], params=n_params, params_grads_bytes=pg,
            file_bytes_per_checkpoint=size / dense["checkpoints"],
            resume_bytes_per_checkpoint=resume, write_mb_per_s=mbs, repair_s=repairs[m],
            every1_recorded_over_every10_baseline=dense["wall"]["recorded_s"]
            / rows[0]["wall"]["baseline_s"],
            intervals=rows)
    return models


def _mbs(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def table(r: dict) -> str:
    lines = [f"torch threads {r['threads']}; {r['reps']} interleaved repetitions; "
             f"total {r['total_s']:.0f} s",
             f"baseline: {r['baseline']}",
             "ratio = median over repetitions of recorded / baseline at the same interval "
             "(ok: wall ratio <= target); times are medians",
             "",
             f"{'model':<12}{'steps':>6}{'every':>6}{'ckpts':>6}{'base s':>8}{'rec s':>8}"
             f"{'ratio':>7}{'(min-max)':>13}{'cpu ratio':>10}{'target':>8}  ok {'ms/ckpt':>8}"]
    for m, d in r["models"].items():
        for i in d["intervals"]:
            w, c = i["wall"], i["cpu"]
            spread = f"({w['ratio_min']:.2f}-{w['ratio_max']:.2f})"
            lines.append(f"{m:<12}{d['steps']:>6}{i['every']:>6}{i['checkpoints']:>6}"
                         f"{w['baseline_s']:>8.2f}{w['recorded_s']:>8.2f}{w['ratio']:>7.3f}"
                         f"{spread:>13}{c['ratio']:>10.3f}{'<=' + str(i['target']):>8}  "
                         f"{'yes' if i['ok'] else 'NO ':<3}{w['ms_per_checkpoint']:>8.1f}")
    lines += ["", f"{'model':<12}{'params':>8}{'params+grads B':>16}{'file B/ckpt':>13}"
                  f"{'resume B/ckpt':>15}{'MB/s wall':>11}{'MB/s cpu':>10}"]
    for m, d in r["models"].items():
        mbs = d["write_mb_per_s"]
        lines.append(f"{m:<12}{d['params']:>8}{d['params_grads_bytes']:>16}"
                     f"{d['file_bytes_per_checkpoint']:>13.0f}{d['resume_bytes_per_checkpoint']:>15}"
                     f"{_mbs(mbs['wall']):>11}{_mbs(mbs['cpu']):>10}")
    lines += ["file B/ckpt and MB/s from the every-step run; MB/s = (params + grads + resume "
              "state) per checkpoint over the wall or CPU time recording adds to the baseline",
              "grokscan repair of a killed file: " + ", ".join(
                  f"{m} {1e3 * d['repair_s']:.2f} ms" for m, d in r["models"].items()),
              "recording every step, including its extra evaluations, against the every-10 "
              "baseline: " + ", ".join(f"{m} {d['every1_recorded_over_every10_baseline']:.2f}x"
                                       for m, d in r["models"].items())]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, help="training steps for both models")
    ap.add_argument("--steps-mlp", type=int, default=80)
    ap.add_argument("--steps-transformer", type=int, default=30)
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each configuration")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (pinned)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    ap.add_argument("--killed-writer", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.killed_writer:
        killed_writer(*args.killed_writer)
        return
    if args.steps is not None:
        args.steps_mlp = args.steps_transformer = args.steps
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    models = measure({"mlp": args.steps_mlp, "transformer": args.steps_transformer}, args.reps)
    r = {"threads": args.threads, "reps": args.reps, "baseline": BASELINE,
         "total_s": time.perf_counter() - t0, "models": models}
    print(json.dumps(r, indent=1) if args.json else table(r))


if __name__ == "__main__":
    main()
