"""Cost of recording dense checkpoints, as wall-time ratios measured in one run.

For two models, the default P = 97 MLP (add mod 97, frac 0.3, d_embed 128, width 512) and the
1-layer transformer (lr 1e-3, P = 97, frac 0.3), and for checkpoint intervals 10 and 1, it times
``grokscan.training.train`` in two modes:

  recorded  train(cfg, path, quiet=True, force=True), writing the HDF5 file (in a temporary
            directory).
  baseline  the same call with grokscan.training.Recorder replaced by NoWrite, whose record() and
            track() return at once and which creates no file. The baseline includes model
            and data setup, every training step, and at every checkpoint step all that train()
            does besides writing: the train/test loss and accuracy, the weight norm, the saving
            and restoring of the random-generator states. It excludes the tensor->numpy copies
            of parameters, gradients and optimizer state, and all HDF5 work.

Each ratio compares runs with the same checkpoint interval, so the same evaluation schedule:
it isolates the writing. Targets: <= 1.05 recording every 10 steps, <= 1.5 every step.

Each repetition runs every (model, interval) pair back to back, baseline and recorded in
alternating order, the pairs in rotated order; the ratio is the median over repetitions of the
per-pair ratio (robust to load that drifts between repetitions), the times are medians. Process
CPU time is reported beside wall time: on a shared machine it is the steadier of the two.
Write throughput is the checkpoint data written by the every-step run (parameters + gradients +
the resume state written with each checkpoint) over the time recording adds to its baseline.

    .venv/bin/python scripts/bench_record.py [--steps N | --steps-mlp N --steps-transformer N]
                                             [--reps 3] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import h5py
import torch

import grokscan.training as gt
from grokscan.config import ModelConfig, RunConfig, TrainConfig
from grokscan.recorder import Recorder, Schedule

TARGETS = {10: 1.05, 1: 1.5}
BASELINE = ("same train() call, training steps and evaluation schedule; Recorder.record and "
            "track return at once (no file, no tensor->numpy copies, no HDF5)")


class NoWrite(Recorder):
    """A Recorder that keeps the schedule and the checkpoint count but writes nothing."""

    def __init__(self, path, model, *, schedule: Schedule | None = None, **_):
        self.path, self.model, self.schedule = os.fspath(path), model, schedule or Schedule()
        self.params = dict(model.named_parameters())
        self.grads, self.n, self.last_step = False, 0, None

    def track(self, optimizer, batch_rng=None) -> None:
        return

    def record(self, step: int, **scalars: float) -> None:
        self.n, self.last_step = self.n + 1, step

    def close(self) -> None:
        return

    abort = close


def run_config(model: str, steps: int, every: int) -> RunConfig:
    if model == "mlp":
        return RunConfig(train=TrainConfig(steps=steps, every=every))
    return RunConfig(model=ModelConfig(kind="transformer"),
                     train=TrainConfig(lr=1e-3, steps=steps, every=every))


def timed(cfg: RunConfig, path: str, write: bool) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, checkpoints) of one training run."""
    saved = gt.Recorder
    gt.Recorder = Recorder if write else NoWrite
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        res = gt.train(cfg, path, quiet=True, force=True)
        return time.perf_counter() - w0, time.process_time() - c0, res.n_checkpoints
    finally:
        gt.Recorder = saved


def file_stats(path: str) -> tuple[int, int]:
    """(file size, bytes of the resume state written with each checkpoint: one slot)."""
    with h5py.File(path, "r") as f:
        g = f["resume/0"]
        resume = sum(g[k].size * g[k].dtype.itemsize for k in g)
    return os.path.getsize(path), resume


def repair_seconds(path: str, reps: int = 20) -> float:
    """Median time of clearing the writer flags a killed writer leaves (grokscan repair):
    the flags are set here as a kill leaves them, then cleared, ``reps`` times."""
    import struct

    from grokscan.hdf5.superblock import clear_writer_flags, lookup3

    times = []
    for _ in range(reps):
        with open(path, "r+b") as fh:
            raw = bytearray(fh.read(48))
            raw[11] = 5  # open for writing, by an SWMR writer
            struct.pack_into("<I", raw, 44, lookup3(bytes(raw[:44])))
            fh.seek(0)
            fh.write(raw)
        t0 = time.perf_counter()
        assert clear_writer_flags(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(steps: dict[str, int], reps: int) -> dict:
    cases = [(m, every) for m in steps for every in (10, 1)]
    times = {(c, w): [] for c in cases for w in (False, True)}  # [(wall, cpu)] per repetition
    ckpts, files = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.h5")
        for m in steps:  # warm-up, not timed
            timed(run_config(m, 3, 1), path, True)
        for rep in range(reps):
            k = rep % len(cases)
            for m, every in cases[k:] + cases[:k]:
                for write in (False, True) if rep % 2 == 0 else (True, False):
                    wall, cpu, n = timed(run_config(m, steps[m], every), path, write)
                    times[(m, every), write].append((wall, cpu))
                    ckpts[m, every] = n
                    if write and every == 1:
                        files[m] = (*file_stats(path), repair_seconds(path))
    models = {}
    for m in steps:
        cfg = run_config(m, steps[m], 1)
        model = gt.prepare(cfg)[3]
        n_params = sum(p.numel() for p in model.parameters())
        pg = 2 * 4 * n_params  # float32 parameters and gradients
        size, resume, repair = files[m]
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
            resume_bytes_per_checkpoint=resume, write_mb_per_s=mbs, repair_s=repair,
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
    args = ap.parse_args(argv)
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
