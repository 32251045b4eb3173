"""``grokscan analyze``: stream the checkpoints of a run through the metric families and write
OUT/metrics.h5 and OUT/metrics.csv (layout: store/SCHEMA.md, "The metrics file").

Checkpoints are read in blocks: the weight-only measures run batched over a block (one FFT or
matmul for all of its checkpoints), the replayed ones evaluate the model once per checkpoint
and operation on the full (a, b) grid. Memory is bounded by the block, not by the run.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

import grokscan
from grokscan.errors import GrokscanError
from grokscan.groups import is_prime
from grokscan.metrics import fourier as fm
from grokscan.metrics import weights as wm
from grokscan.store.reader import Run
from grokscan.tasks.modular import OPS

FORMAT = "grokscan-metrics"
VERSION = 1
BASES = ("auto", "additive", "multiplicative")


@dataclass
class Context:
    """What every block needs, computed once per analysis (and sent to worker processes)."""

    path: str
    p: int
    ops: tuple[str, ...]
    basis: str  # the basis of the per-residue (embedding) measures
    op_basis: dict[str, str]  # the basis of each operation's replayed measures
    residue_vectors: list[dict]
    neuron_logit_map: list[str]
    key_freqs: dict[str, list[int]] = field(default_factory=dict)  # per op, final checkpoint
    grid_masks: dict[str, tuple] = field(default_factory=dict)  # per op: (train, test, labels)
    families: tuple[str, ...] = ()


# --- weight-only families: (ctx, params of a block) -> {name: (n_block, ...)} ---------------

def residue_matrix(ctx: Context, params: dict[str, np.ndarray]) -> np.ndarray:
    """The per-residue vectors (n, P, d): embedding rows, or for a one-hot input the a and b
    rows of the first layer side by side (their Fourier norms add in quadrature)."""
    parts = [params[r["param"]][:, r["start"]:r["stop"]] for r in ctx.residue_vectors]
    return np.concatenate(parts, axis=-1)


def neuron_logit_matrix(ctx: Context, params: dict[str, np.ndarray]) -> np.ndarray:
    """W_L transposed, (n, P, d): one row per output residue, mapping the last hidden layer
    (the MLP's neurons) to that residue's logit."""
    W = params[ctx.neuron_logit_map[0]]
    for name in ctx.neuron_logit_map[1:]:
        W = W @ params[name]
    return np.swapaxes(W[..., : ctx.p], -1, -2)


def _basis(kind: str, p: int) -> np.ndarray:
    return fm.multiplicative_basis(p) if kind == "multiplicative" else fm.additive_basis(p)


def fourier_family(ctx: Context, params) -> dict[str, np.ndarray]:
    """Fourier norms, FFD, FCR, Gini, spectral entropy and key frequencies (REFERENCE §2) of
    the embedding (``*_embed``) and of the neuron-logit map (``*_logit``)."""
    basis = _basis(ctx.basis, ctx.p)
    out = {}
    for tag, W in (("embed", residue_matrix(ctx, params)),
                   ("logit", neuron_logit_matrix(ctx, params))):
        norms = fm.fourier_norms(W, basis)
        keys, frac = fm.key_frequencies(norms)
        out.update({
            f"norms_{tag}": norms, f"ffd_{tag}": fm.ffd(norms), f"fcr_{tag}": fm.fcr(norms),
            f"gini_{tag}": fm.gini(norms), f"entropy_{tag}": fm.spectral_entropy(norms),
            f"key_freqs_{tag}": keys, f"key_fraction_{tag}": frac,
        })
    return out


def norms_family(ctx: Context, params) -> dict[str, np.ndarray]:
    """The L2 norm of every parameter (``norm/<name>``) and of all of them (``total``)."""
    out = {name: wm.weight_norm(v, core_ndim=v.ndim - 1) for name, v in params.items()}
    out = {f"norm/{k}": v for k, v in out.items()}
    out["total"] = np.sqrt(sum(v**2 for v in out.values()))
    return out


# --- replayed families: (ctx, outputs per op) -> {name: (n_block, ...)} ---------------------

def neurons_family(ctx: Context, grid) -> dict[str, np.ndarray]:
    """Nanda's neuron spectrum: each last-layer neuron's activation over all (a, b) in the 2-D
    Fourier basis of the operation's group; its dominant frequency, the fraction of its
    variance that frequency explains, the share of neurons explained above 0.85, and the
    neuron-mean 2-D power (for the picture)."""
    out = {}
    for op, (_, hidden) in grid.items():
        p = ctx.p
        acts = hidden.reshape(len(hidden), p, p, -1)
        power = fm.neuron_spectrum(acts, _basis(ctx.op_basis[op], p))
        freq, frac = fm.neuron_key_frequencies(power)
        sfx = f"_{op}" if len(ctx.ops) > 1 else ""
        out[f"dominant_freq{sfx}"] = freq
        out[f"explained{sfx}"] = frac
        out[f"well_explained{sfx}"] = fm.fraction_well_explained(frac)
        out[f"mean_power{sfx}"] = power.mean(-1)
    return out


PHASED = {"add": ("additive", 1), "sub": ("additive", -1), "mul": ("multiplicative", 1),
          "div": ("multiplicative", -1)}


def freqloss_family(ctx: Context, grid) -> dict[str, np.ndarray]:
    """Restricted and excluded loss (Nanda et al. 2023) on train and test, with the key
    frequencies of the final checkpoint; for add, sub, mul and div (the operations whose
    logits are a function of a group phase)."""
    out = {}
    for op, (logits, _) in grid.items():
        if op not in PHASED or not ctx.key_freqs.get(op):
            continue
        group, sign = PHASED[op]
        if ctx.op_basis[op] != group:
            continue
        phase, n = fm.grid_phase(ctx.p, group=group, b_sign=sign)
        train, test, labels = ctx.grid_masks[op]
        sfx = f"_{op}" if len(ctx.ops) > 1 else ""
        freqs = ctx.key_freqs[op]
        for split, mask in (("train", train), ("test", test)):
            for mode in ("restricted", "excluded"):
                out[f"{mode}_{split}{sfx}"] = fm.frequency_loss(
                    logits, labels, phase=phase, n=n, freqs=freqs, mode=mode, mask=mask)
            out[f"loss_{split}{sfx}"] = fm.frequency_loss(
                logits, labels, phase=phase, n=n, freqs=[], mode="excluded", mask=mask)
    return out


@dataclass(frozen=True)
class Family:
    fn: Callable
    replay: bool  # needs the model evaluated on the (a, b) grid
    modular: bool = True  # needs a modular task
    doc: str = ""


FAMILIES: dict[str, Family] = {
    "fourier": Family(fourier_family, False, doc="Fourier norms, FFD, FCR, Gini, entropy"),
    "neurons": Family(neurons_family, True, doc="per-neuron 2-D spectrum (Nanda)"),
    "freqloss": Family(freqloss_family, True, doc="restricted and excluded loss (Nanda)"),
    "norms": Family(norms_family, False, modular=False, doc="weight norm per layer and total"),
}


# --- the driver ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Options:
    families: tuple[str, ...] = tuple(FAMILIES)
    basis: str = "auto"
    every: int = 1  # analyse every K-th checkpoint
    steps: tuple[int | None, int | None] = (None, None)  # inclusive step range
    jobs: int = 1
    block: int = 16  # checkpoints per block
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


def _group_basis(op: str, p: int, basis: str) -> str:
    if basis != "auto":
        return basis
    return "multiplicative" if OPS[op].group == "multiplicative" and is_prime(p) else "additive"


def _context(run: Run, opts: Options) -> Context:
    task = run.task
    modular = task.get("kind") == "modular"
    families = tuple(f for f in opts.families if modular or not FAMILIES[f].modular)
    if not modular:
        return Context(run.path, 0, (), "additive", {}, [], [], families=families)
    p, ops = int(task["p"]), tuple(task["ops"])
    if opts.basis == "multiplicative" and not is_prime(p):
        raise GrokscanError(f"--basis multiplicative needs a prime modulus, got P = {p}")
    op_basis = {op: _group_basis(op, p, opts.basis) for op in ops}
    basis = opts.basis if opts.basis != "auto" else (
        "multiplicative" if all(b == "multiplicative" for b in op_basis.values()) else "additive")
    rv, nl = run.residue_vectors, run.neuron_logit_map
    if not rv or not nl:
        families = tuple(f for f in families if f not in ("fourier",))
    ctx = Context(run.path, p, ops, basis, op_basis, rv, nl, families=families)
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
        if OPS[op].group == "multiplicative" and op_basis[op] == "multiplicative":
            a, b = np.divmod(np.arange(p * p), p)
            nz = (a > 0) & (b > 0)  # the multiplicative phase leaves out a = 0 or b = 0
            ctx.grid_masks[op] = (tr & nz, te & nz, lab)
    # key frequencies of the final checkpoint, per operation's basis
    if run.n and rv:
        last = {k: run.param(k, [run.n - 1]) for k in run.param_names}
        W = residue_matrix(ctx, last)
        for op in ops:
            norms = fm.fourier_norms(W, _basis(op_basis[op], p))[0]
            mask = fm.key_frequency_mask(norms, cover=0.8)
            ctx.key_freqs[op] = [int(k) + 1 for k in np.flatnonzero(mask)]
    return ctx


def _compute_block(ctx: Context, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every selected family on the checkpoints ``idx`` of the run: {"family/name": array}."""
    with Run(ctx.path) as run:
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
            grid = {op: ([], []) for op in ctx.ops}
            for j in range(len(idx)):
                rp.load({k: v[j] for k, v in params.items()}, step=int(steps[j]))
                for i, op in enumerate(ctx.ops):
                    logits, hidden = rp.forward(rp.grid(i))
                    grid[op][0].append(logits.numpy().astype(np.float64))
                    grid[op][1].append(hidden[-1].numpy())
            grid = {op: (np.stack(lg), np.stack(h)) for op, (lg, h) in grid.items()}
            for name in replayed:
                out.update({f"{name}/{k}": v for k, v in FAMILIES[name].fn(ctx, grid).items()})
    return out


def _worker(args):
    torch.set_num_threads(1)  # the processes are the parallelism
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
    with Run(path) as run:
        ctx = _context(run, opts)
        lo, hi = opts.steps
        sel = np.flatnonzero((run.steps >= (lo if lo is not None else -1))
                             & (run.steps <= (hi if hi is not None else run.steps.max(initial=0))))
        sel = sel[:: opts.every]
        if not sel.size:
            raise GrokscanError(f"{path}: no checkpoint in the selected steps "
                                f"(the file holds steps {run.steps.min(initial=0)}.."
                                f"{run.steps.max(initial=0)})")
        steps = run.steps[sel]
        scalars = {k: v[sel] for k, v in run.scalars.items()}
        config = run.f.attrs["config"]
    os.makedirs(out_dir, exist_ok=True)
    blocks = [sel[i: i + opts.block] for i in range(0, len(sel), opts.block)]
    h5_path = os.path.join(out_dir, "metrics.h5")
    writer = _MetricsWriter(h5_path, path, steps, scalars, config, ctx)
    bar = tqdm(total=len(sel), disable=opts.quiet, unit="ckpt", desc="analyze")
    try:
        if opts.jobs > 1:
            with ProcessPoolExecutor(opts.jobs) as pool:
                results = pool.map(_worker, [(ctx, b) for b in blocks])
                for b, res in zip(blocks, results):
                    writer.write(res, len(b))
                    bar.update(len(b))
        else:
            for b in blocks:
                writer.write(_compute_block(ctx, b), len(b))
                bar.update(len(b))
    finally:
        bar.close()
        writer.close()
    csv_path = os.path.join(out_dir, "metrics.csv")
    write_csv(h5_path, csv_path)
    return {"metrics_h5": h5_path, "metrics_csv": csv_path, "n_checkpoints": len(sel),
            "families": list(ctx.families), "basis": ctx.basis, "key_freqs": ctx.key_freqs}


class _MetricsWriter:
    """Appends blocks of metrics to OUT/metrics.h5 (datasets created with the first block)."""

    def __init__(self, path, source, steps, scalars, config, ctx: Context):
        self.f = h5py.File(path + ".tmp", "w")
        self.path = path
        self.n = 0
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
        self.total = len(steps)

    def write(self, block: dict[str, np.ndarray], n_block: int) -> None:
        for key, value in block.items():
            name = f"metrics/{key}"
            if name not in self.f:
                self.f.create_dataset(name, shape=(self.total, *value.shape[1:]),
                                      dtype=value.dtype)
            self.f[name][self.n: self.n + n_block] = value
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
