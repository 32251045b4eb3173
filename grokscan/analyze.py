"""``grokscan analyze``: stream the checkpoints of a run through the metric families and write
OUT/metrics.h5 and OUT/metrics.csv (layout: store/SCHEMA.md, "The metrics file").

Checkpoints are read in blocks: the weight-only families run batched over a block (one FFT or
matmul for all of its checkpoints), the replayed ones evaluate the model once per checkpoint
(on the full (a, b) grid of each operation, or on the whole data set), sharing the outputs
(grokscan/families.py). Memory is bounded by the block, not by the run. The expensive families
run on a subset of the checkpoints (:func:`expensive_subset`).
"""

from __future__ import annotations

import csv
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import h5py
import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

import grokscan
from grokscan.errors import GrokscanError
from grokscan.families import (
    FAMILIES,
    GROUP_ATTRS,
    Checkpoint,
    Context,
    Settings,
    basis_matrix,
    residue_matrix,
)
from grokscan.groups import is_prime
from grokscan.metrics import fourier as fm
from grokscan.store.reader import Run
from grokscan.tasks.modular import OPS

FORMAT = "grokscan-metrics"
VERSION = 1
BASES = ("auto", "additive", "multiplicative")


# --- the driver ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    families: tuple[str, ...] = tuple(FAMILIES)
    basis: str = "auto"
    every: int = 1  # analyse every K-th checkpoint
    steps: tuple[int | None, int | None] = (None, None)  # inclusive step range
    jobs: int = 1
    block: int = 64  # checkpoints per block
    subset: int = 24  # checkpoints for the expensive families; 0 = all
    settings: Settings = field(default_factory=Settings)
    quiet: bool = False


def parse_steps(text: str | None) -> tuple[int | None, int | None]:
    """'A:B', 'A:' or ':B' -> (A, B)."""
    if not text:
        return (None, None)
    try:
        a, b = text.split(":")
        return (int(a) if a else None, int(b) if b else None)
    except ValueError:
        raise GrokscanError(
            f"--steps: expected A:B, A: or :B with integers, got {text!r}") from None


def expensive_subset(test_acc: np.ndarray | None, n: int, size: int) -> np.ndarray:
    """Indices (sorted, distinct) of about ``size`` of ``n`` checkpoints for the expensive
    families: half spread evenly over the run, half evenly over the cumulative change of
    test accuracy, so that they are denser where test accuracy moves. The first and last
    checkpoints are always in. ``size`` 0, or at least n, gives all."""
    if size <= 0 or size >= n:
        return np.arange(n)
    moves = test_acc is not None and len(test_acc) == n and bool(np.isfinite(test_acc).all())
    moved = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(test_acc)))]) if moves else [0.0]
    n_even = max(2, size - size // 2 if moved[-1] > 0 else size)
    picks = [np.linspace(0, n - 1, n_even).round().astype(int)]
    if moved[-1] > 0:
        levels = np.linspace(0, moved[-1], size // 2 + 2)[1:-1]
        picks.append(np.searchsorted(moved, levels).clip(0, n - 1))
    return np.unique(np.concatenate(picks))


def _group_basis(op: str, p: int, basis: str) -> str:
    if basis != "auto":
        return basis
    return "multiplicative" if OPS[op].group == "multiplicative" and is_prime(p) else "additive"


def _context(run: Run, opts: Options, sel: np.ndarray) -> Context:
    """Everything the blocks share: the task's groups and bases, the data's labels and the
    fixed sample picks, the key frequencies of the final checkpoint, the expensive subset."""
    task = run.task
    modular = task.get("kind") == "modular"
    families = tuple(f for f in opts.families if modular or not FAMILIES[f].modular)
    cfg = run.config
    beta = cfg.train.beta if cfg is not None else 1.0
    if not modular:
        ctx = Context(run.path, 0, (), "additive", {}, [], run.neuron_logit_map,
                      beta=beta, families=families, settings=opts.settings)
        return _with_data(run, ctx, sel, opts.subset)
    p, ops = int(task["p"]), tuple(task["ops"])
    if opts.basis == "multiplicative" and not is_prime(p):
        raise GrokscanError(f"--basis multiplicative needs a prime modulus, got P = {p}")
    op_basis = {op: _group_basis(op, p, opts.basis) for op in ops}
    basis = opts.basis if opts.basis != "auto" else (
        "multiplicative" if all(b == "multiplicative" for b in op_basis.values()) else "additive")
    rv, nl = run.residue_vectors, run.neuron_logit_map
    if not rv:
        families = tuple(f for f in families if f not in (
            "fourier", "embedding/cosine", "embedding/bimodality"))
    if not nl:
        families = tuple(f for f in families if f not in ("fourier", "pca/last_layer"))
    ctx = Context(run.path, p, ops, basis, op_basis, rv, nl, n_classes=p, beta=beta,
                  families=families, settings=opts.settings)
    # the grid's train/test membership and labels, per operation
    ex, labels, train = task["examples"], task["labels"], task["train"].astype(bool)
    for i, op in enumerate(ops):
        rows = ex[:, 1] == i
        idx = ex[rows, 0] * p + ex[rows, 2]
        tr, te = np.zeros(p * p, bool), np.zeros(p * p, bool)
        lab = np.zeros(p * p, np.int64)
        tr[idx[train[rows]]] = True
        te[idx[~train[rows]]] = True
        lab[idx] = labels[rows]
        ctx.grid_masks[op] = (tr, te, lab)
    # key frequencies of the final checkpoint, per operation's basis
    if run.n and rv:
        last = {k: run.param(k, [run.n - 1]) for k in run.param_names}
        W = residue_matrix(ctx, last)
        for op in ops:
            norms = fm.fourier_norms(W, basis_matrix(op_basis[op], p))[0]
            mask = fm.key_frequency_mask(norms, cover=0.8)
            ctx.key_freqs[op] = [int(k) + 1 for k in np.flatnonzero(mask)]
    return _with_data(run, ctx, sel, opts.subset)


def _with_data(run: Run, ctx: Context, sel: np.ndarray, size: int) -> Context:
    """Fill in the data rows (labels, train flags), the sample picks and the expensive subset;
    only when a replayed family is selected, since it needs the model rebuilt."""
    if not any(FAMILIES[f].replay for f in ctx.families):
        return ctx
    from grokscan.replay import replay

    rp = replay(run)
    s = ctx.settings
    if ctx.ops:
        label = np.concatenate([lab[tr | te] for tr, te, lab in ctx.grid_masks.values()])
        train = np.concatenate([tr[tr | te] for tr, te, _ in ctx.grid_masks.values()])
    else:
        label = torch.cat([rp.split.y_train, rp.split.y_test]).numpy()
        train = np.arange(len(label)) < len(rp.split.y_train)
    rng = np.random.default_rng(0)

    def draw(rows: np.ndarray, k: int) -> np.ndarray:
        return np.sort(rng.choice(rows, k, replace=False)) if 0 < k < len(rows) else rows

    every = np.arange(len(label))
    grad_pick = np.concatenate([draw(every[train], s.grad_samples),
                                draw(every[~train], s.grad_samples)])
    test_acc = run.scalars.get("test_acc")
    subset = expensive_subset(None if test_acc is None else test_acc[sel], len(sel), size)
    return replace(ctx, n_classes=ctx.n_classes or rp.cfg.model.n_classes,
                   data_label=label, data_train=train, pick=draw(every, s.samples),
                   grad_pick=grad_pick, mc_pick=draw(every[~train], s.dropout_samples),
                   subset=frozenset(int(i) for i in sel[subset]))
def _data_inputs(ctx: Context, rp) -> torch.Tensor:
    """The model inputs of the data rows of ``ctx``: the grid rows of each operation that are
    examples (modular), or the train then the test inputs."""
    if ctx.ops:
        return torch.cat([rp.grid(i)[torch.from_numpy(tr | te)]
                          for i, (tr, te, _) in enumerate(ctx.grid_masks.values())])
    return torch.cat([rp.split.x_train, rp.split.x_test])


def _stack(rows: list[dict | None]) -> dict[str, np.ndarray]:
    """Per-checkpoint results (None where a family did not run) -> arrays with a leading
    checkpoint axis, NaN in the rows that did not run."""
    done = [r for r in rows if r is not None]
    if not done:
        return {}
    if len(done) == len(rows):
        return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in done[0]}
    out = {}
    for k, v in done[0].items():
        v = np.asarray(v)
        out[k] = np.full((len(rows), *v.shape), np.nan)
        for j, r in enumerate(rows):
            if r is not None:
                out[k][j] = r[k]
    return out


def _compute_block(ctx: Context, idx: np.ndarray, run: Run | None = None) -> dict:
    """Every selected family on the checkpoints ``idx`` of the run: {"family/name": array}.
    ``run``: the file, already open (the serial path reuses it); by default opened here."""
    if run is None:
        with Run(ctx.path) as run:
            return _compute_block(ctx, idx, run)
    params = {k: run.param(k, idx) for k in run.param_names}
    steps = run.steps[idx]
    for k, v in params.items():
        bad = ~np.isfinite(v.reshape(len(v), -1)).all(-1)
        if bad.any():
            raise GrokscanError(f"{ctx.path}: parameter {k} holds NaN or inf at step "
                                f"{steps[np.argmax(bad)]}")
    out = {}
    for name in ctx.families:
        fam = FAMILIES[name]
        if not fam.replay:
            out.update({f"{name}/{k}": v for k, v in fam.fn(ctx, params).items()})
    replayed = [f for f in ctx.families if FAMILIES[f].replay]
    if replayed:
        from grokscan.replay import replay

        rp = replay(run)
        x = _data_inputs(ctx, rp)
        rows = {name: [] for name in replayed}
        for j, i in enumerate(idx):
            rp.load({k: v[j] for k, v in params.items()}, step=int(steps[j]))
            ck = Checkpoint(ctx, rp, x, int(steps[j]))
            for name in replayed:
                fam = FAMILIES[name]
                run_it = not fam.expensive or int(i) in ctx.subset
                rows[name].append(fam.fn(ctx, ck) if run_it else None)
        for name in replayed:
            out.update({f"{name}/{k}": v for k, v in _stack(rows[name]).items()})
    return out


def _worker(args):
    # The processes are the parallelism: one thread each for torch and for numpy's BLAS
    # (oversubscribed threads made the per-sample-gradient PCA ~3x slower under load).
    torch.set_num_threads(1)
    with threadpool_limits(1):
        return _compute_block(*args)


def analyze(path, out_dir, opts: Options = Options()) -> dict:
    """Analyse the checkpoints of ``path`` into ``out_dir``; returns a summary dict.

    The checkpoint file is opened read-only; a file that training is still writing is analysed
    up to the checkpoints present when analysis starts.
    """
    unknown = [f for f in opts.families if f not in FAMILIES]
    if unknown:
        raise GrokscanError(f"unknown metric family {unknown[0]!r}; expected one of: "
                            f"{', '.join(FAMILIES)}")
    if opts.basis not in BASES:
        raise GrokscanError(f"--basis: expected one of {', '.join(BASES)}, got {opts.basis!r}")
    if opts.every < 1 or opts.jobs < 1:
        raise GrokscanError("--every and --jobs must be at least 1")
    outputs = [os.path.join(out_dir, n) for n in ("metrics.h5", "metrics.h5.tmp", "metrics.csv")]
    if any(os.path.realpath(path) == os.path.realpath(o) for o in outputs):
        raise GrokscanError(f"{path} would be overwritten by the analysis written to {out_dir}; "
                            "choose another -o folder")
    opts.settings.check()
    with Run(path) as run:
        lo, hi = opts.steps
        sel = np.flatnonzero((run.steps >= (lo if lo is not None else -1))
                             & (run.steps <= (hi if hi is not None else run.steps.max(initial=0))))
        sel = sel[:: opts.every]
        if not sel.size:
            raise GrokscanError(f"{path}: no checkpoint in the selected steps "
                                f"(the file holds steps {run.steps.min(initial=0)}.."
                                f"{run.steps.max(initial=0)})")
        ctx = _context(run, opts, sel)
        steps = run.steps[sel]
        scalars = {k: v[sel] for k, v in run.scalars.items()}
        config = run.f.attrs["config"]
    os.makedirs(out_dir, exist_ok=True)
    blocks = [sel[i: i + opts.block] for i in range(0, len(sel), opts.block)]
    h5_path = os.path.join(out_dir, "metrics.h5")
    writer = _MetricsWriter(h5_path, path, sel, steps, scalars, config, ctx)
    bar = tqdm(total=len(sel), disable=opts.quiet, unit="ckpt", desc="analyze")
    try:
        if opts.jobs > 1:
            with ProcessPoolExecutor(opts.jobs) as pool:
                results = pool.map(_worker, [(ctx, b) for b in blocks])
                for b, res in zip(blocks, results):
                    writer.write(res, len(b))
                    bar.update(len(b))
        else:
            with Run(path) as run:
                for b in blocks:
                    writer.write(_compute_block(ctx, b, run), len(b))
                    bar.update(len(b))
    finally:
        bar.close()
        writer.close()
    csv_path = os.path.join(out_dir, "metrics.csv")
    write_csv(h5_path, csv_path)
    return {"metrics_h5": h5_path, "metrics_csv": csv_path, "n_checkpoints": len(sel),
            "families": list(ctx.families), "basis": ctx.basis, "key_freqs": ctx.key_freqs,
            "subset": len(ctx.subset)}


class _MetricsWriter:
    """Appends blocks of metrics to OUT/metrics.h5 (datasets created with the first block)."""

    def __init__(self, path, source, sel, steps, scalars, config, ctx: Context):
        self.f = h5py.File(path + ".tmp", "w")
        self.path = path
        self.n = 0
        self.datasets: dict[str, h5py.Dataset] = {}
        f = self.f
        f.attrs.update({"format": FORMAT, "format_version": VERSION,
                        "grokscan_version": grokscan.__version__,
                        "source": os.path.abspath(source), "config": config,
                        "families": json.dumps(list(ctx.families)), "basis": ctx.basis,
                        "op_basis": json.dumps(ctx.op_basis), "p": ctx.p,
                        "ops": json.dumps(list(ctx.ops)),
                        "key_freqs": json.dumps(ctx.key_freqs)})
        f["steps"] = steps
        for k, v in scalars.items():
            f[f"scalars/{k}"] = v
        if ctx.pick is not None:  # the sample of the activation PCA, for colouring by class
            f["samples/index"] = ctx.pick
            f["samples/label"] = ctx.data_label[ctx.pick]
            f["samples/train"] = ctx.data_train[ctx.pick]
        for name in ctx.families:
            g = f.require_group(f"metrics/{name}")
            g.attrs["doc"] = FAMILIES[name].doc
            if FAMILIES[name].expensive:
                g.attrs["computed_steps"] = np.sort([s for i, s in zip(sel, steps)
                                                     if int(i) in ctx.subset])
            for k, v in GROUP_ATTRS.get(name, {}).items():
                g.attrs[k] = json.dumps(v)
        if "pca/last_layer" in ctx.families and ctx.ops:
            g = f["metrics/pca/last_layer"]
            g.attrs["plane_freqs"] = json.dumps(ctx.key_freqs.get(ctx.ops[0], []))
            order = ctx.order(ctx.op_basis[ctx.ops[0]])
            if order is not None:
                g.attrs["plane_order"] = json.dumps(order.tolist())
        self.total = len(steps)

    def write(self, block: dict[str, np.ndarray], n_block: int) -> None:
        for key, value in block.items():
            if key not in self.datasets:
                # rows a subset family does not compute stay NaN
                fill = np.nan if value.dtype.kind == "f" else None
                self.datasets[key] = self.f.create_dataset(
                    f"metrics/{key}", shape=(self.total, *value.shape[1:]), dtype=value.dtype,
                    fillvalue=fill)
            self.datasets[key][self.n: self.n + n_block] = value
        self.n += n_block

    def close(self):
        self.f.close()
        if self.n == self.total:  # complete: publish it; an interrupted run leaves the .tmp
            os.replace(self.path + ".tmp", self.path)


def write_csv(h5_path: str, csv_path: str) -> None:
    """One row per analysed checkpoint: step, the recorded scalars, every scalar metric."""
    with h5py.File(h5_path, "r") as f:
        cols = {"step": f["steps"][()]}
        cols.update({k: f["scalars"][k][()] for k in sorted(f["scalars"])})

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
                cols[name] = obj[()]

        if "metrics" in f:
            f["metrics"].visititems(visit)
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(cols))
        for row in zip(*cols.values()):
            w.writerow([int(v) if isinstance(v, np.integer) else f"{v:.8g}" for v in row])
