"""The setup of an analysis: which families a run allows (and why the others are left out),
the task's groups and Fourier bases, the data's labels and the fixed sample picks, the key
frequencies and constellation planes of the final checkpoint, the subset of checkpoints for the
expensive families. Computed once; every block of checkpoints shares it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from grokscan.analysis.families import (
    ALL,
    ATTENTION,
    FAMILIES,
    FIRST_LAYER,
    LOGIT_MAP,
    REPLAY,
    RESIDUE_VECTORS,
    RESIDUES,
    FamilySettings,
    Setup,
    basis_matrix,
    residue_matrix,
)
from grokscan.errors import GrokscanError
from grokscan.groups import is_prime
from grokscan.metrics import fourier as fm
from grokscan.metrics import pca as pm
from grokscan.store.reader import Run
from grokscan.summary import MEMORISED

BASES = ("auto", "additive", "multiplicative")
N_PLANES = 8  # constellation planes: at most this many key frequencies of the final
# embedding (those that carry 80 % of its power), strongest first
NEEDS_ORDER = (RESIDUES, REPLAY, ATTENTION, RESIDUE_VECTORS, LOGIT_MAP, FIRST_LAYER)


@dataclass(frozen=True)
class Options:
    families: tuple[str, ...] = tuple(FAMILIES)  # the default ones; OPTIONAL only if asked
    basis: str = "auto"
    every: int = 1  # analyse every K-th checkpoint
    steps: tuple[int | None, int | None] = (None, None)  # inclusive step range
    jobs: int = 1
    block: int = 64  # checkpoints per block
    subset: int = 24  # checkpoints for the expensive families; 0 = all
    settings: FamilySettings = field(default_factory=FamilySettings)
    quiet: bool = False
    key_freqs: tuple[int, ...] = ()  # fixed key frequencies (freqloss); () = the final ones
    # the callable (or its "module:name") that builds a model of the user's own, which the
    # user names to trust it: a file's own reference is never imported (store/spec.py)
    model: object = None


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


def missing(run: Run, model=None) -> dict[str, str]:
    """What this run lacks of the families' needs: {need: why not}. ``model``: the callable
    the user named to rebuild a model of their own (Options.model)."""
    out = {}
    task = run.task
    if task.residues is None:
        out[RESIDUES] = f"the {task.kind} task has no residues mod P"
    if not run.residue_vectors:
        out[RESIDUE_VECTORS] = "the file names no per-residue vectors (residue_vectors)"
    if not run.neuron_logit_map:
        out[LOGIT_MAP] = "the file names no neuron-logit map (neuron_logit_map)"
    if run.config is None and run.model_spec is None:
        out[REPLAY] = ("the file has no config and names no model (Recorder(..., "
                       "config=ModelSpec(...))), so grokscan cannot rebuild the model")
    elif run.config is None and model is None:
        out[REPLAY] = (f"the file names its model's code, {run.model_spec.factory}; grokscan "
                       "runs no code a file names: give --model "
                       f"{run.model_spec.factory} (or model= in Python) to trust it")
    elif task.kind == "custom":
        out[REPLAY] = "the task was recorded as arrays, so grokscan cannot rebuild the inputs"
    if "hidden.0.W" not in run.param_names:
        out[FIRST_LAYER] = "the model has no first hidden layer of features (hidden.0.W)"
    if run.config is None:
        out[ATTENTION] = "the model is not grokscan's transformer: no attention maps to read"
    elif run.config.model.kind != "transformer":
        out[ATTENTION] = f"the model is an {run.config.model.kind.upper()}: it has no attention"
    return out


def choose(run: Run, asked: tuple[str, ...],
           model=None) -> tuple[tuple[str, ...], dict[str, str]]:
    """The asked families this run allows, and {family: why not} for the others (the most
    basic lack first: no residues before no residue vectors)."""
    lacks = missing(run, model)
    chosen, left_out = [], {}
    for name in asked:
        why = [lacks[n] for n in NEEDS_ORDER if n in ALL[name].needs and n in lacks]
        if why:
            left_out[name] = why[0]
        else:
            chosen.append(name)
    if not chosen:
        reasons = "; ".join(f"{k}: {v}" for k, v in left_out.items())
        raise GrokscanError(f"{run.path}: none of the asked metric families can run on this "
                            f"file ({reasons})")
    return tuple(chosen), left_out


def make_setup(run: Run, opts: Options, sel: np.ndarray) -> tuple[Setup, dict[str, str]]:
    """The Setup of analysing the checkpoints ``sel`` of ``run``, and the families left out."""
    from grokscan.analysis.replay import check_shapes

    check_shapes(run)
    trusted = trusted_model(run, opts.model)
    families, left_out = choose(run, opts.families, trusted)
    cfg = run.config
    beta = cfg.train.beta if cfg is not None else 1.0
    loss = cfg.train.loss if cfg is not None else "cross_entropy"
    res = run.task.residues
    if res is None and opts.key_freqs:
        raise GrokscanError(f"--key-freqs: expected a run on residues mod P, got a run of "
                            f"the {run.task.kind} task (no key frequencies)")
    if res is None:
        setup = Setup(run.path, 0, (), "additive", {}, [], run.neuron_logit_map, beta=beta,
                      families=families, settings=opts.settings)
    else:
        setup = _residue_setup(run, opts, res, families, beta)
    setup.model, setup.loss = trusted, loss
    if any(ALL[f].replay for f in families):
        setup = _with_data(run, setup, sel, opts.subset)
    if any(ALL[f].at_moments for f in families):
        setup.moments = moment_checkpoints(run, opts.steps)
    return setup, left_out


def trusted_model(run: Run, model):
    """The callable that rebuilds the run's model, when the user named one (``model``: a
    callable, or its "module:name"), checked to be the one the file names; None when the user
    named none. A file that names no model of its own, or another one, is a GrokscanError."""
    if model is None:
        return None
    from grokscan.store.spec import load, reference

    ref = reference(model)
    spec = run.model_spec
    if spec is None:
        raise GrokscanError(f"--model {ref}: {run.path} names no model of its own to rebuild"
                            + (" (grokscan's own model, from its config)" if run.config
                               else ""))
    if ref != spec.factory:
        raise GrokscanError(f"--model {ref}: {run.path} was recorded from {spec.factory}; "
                            "name that one")
    return model if callable(model) else load(ref)


def moment_checkpoints(run: Run, steps: tuple[int | None, int | None]) -> dict[str, int]:
    """The checkpoints (indices of the run) of the MOMENTS families, within the ``--steps``
    range, ``--every`` aside (a P × P grid is stored for each moment only): ``memorisation``,
    the run's first checkpoint with train accuracy ≥ 0.99 (the report's marker), or, when the
    run memorised before the range, ``first analysed``; then ``end``, the run's last
    checkpoint, or ``last analysed`` when the range stops before it. Memorisation is left out
    when it comes after the range or is its last checkpoint."""
    lo, hi = steps
    inside = np.flatnonzero((run.steps >= (lo if lo is not None else -1))
                            & (run.steps <= (hi if hi is not None else run.steps.max())))
    last = int(inside[-1])
    out = {"end" if last == run.n - 1 else "last analysed": last}
    acc = run.scalars.get("train_acc")
    hit = np.flatnonzero(np.asarray(acc) >= MEMORISED) if acc is not None else np.zeros(0, int)
    if hit.size and hit[0] < last:
        first = ("memorisation", int(hit[0])) if hit[0] >= inside[0] else \
            ("first analysed", int(inside[0]))
        out = {first[0]: first[1], **out}
    return out


def _residue_setup(run: Run, opts: Options, res, families, beta: float) -> Setup:
    p, ops = res.p, res.ops
    if opts.basis == "multiplicative" and not is_prime(p):
        raise GrokscanError(f"--basis multiplicative needs a prime modulus, got P = {p}")
    op_basis = {op: res.groups[op] if opts.basis == "auto" else opts.basis for op in ops}
    basis = opts.basis if opts.basis != "auto" else res.basis
    setup = Setup(run.path, p, ops, basis, op_basis, run.residue_vectors, run.neuron_logit_map,
                  n_classes=p, beta=beta, grid_masks=dict(res.grid_rows), phase=dict(res.phase),
                  families=families, settings=opts.settings)
    if run.n and setup.residue_vectors:
        _final_frequencies(run, setup)
    if opts.key_freqs:
        for op in ops:
            n = p - 1 if op_basis[op] == "multiplicative" else p
            bad = [k for k in opts.key_freqs if not 1 <= k <= n // 2]
            if bad:
                raise GrokscanError(f"--key-freqs: expected frequencies in 1..{n // 2} for "
                                    f"{op} mod {p}, got {bad[0]}")
            setup.key_freqs[op] = sorted(set(opts.key_freqs))
    return setup


def _final_frequencies(run: Run, setup: Setup) -> None:
    """The key frequencies of the final checkpoint per operation's basis (freqloss, the
    last-layer planes), and the constellation's planes: the strongest frequencies of the
    final embedding, and the fixed plane of the first of them."""
    names = {r["param"] for r in setup.residue_vectors}
    last = {k: run.param(k, [run.n - 1]) for k in names}
    W = residue_matrix(setup, last)
    for op in setup.ops:
        norms = fm.fourier_norms(W, basis_matrix(setup.op_basis[op], setup.p))[0]
        mask = fm.key_frequency_mask(norms, cover=0.8)
        setup.key_freqs[op] = [int(k) + 1 for k in np.flatnonzero(mask)]
    norms = fm.fourier_norms(W, basis_matrix(setup.basis, setup.p))
    keys, _ = fm.key_frequencies(norms, n_keys=N_PLANES)
    key = fm.key_frequency_mask(norms, cover=0.8)[0]  # as setup.key_freqs: the report's keys
    setup.plane_keys = [int(k) for k in keys[0] if k > 0 and key[k - 1]] or [
        int(k) for k in keys[0][:1] if k > 0]
    E = W[0][setup.residues_shown()].astype(np.float64)
    final = E - E.mean(axis=0)
    if setup.plane_keys:
        k, n = setup.plane_keys[0], len(E)
        theta = 2 * np.pi * k * np.arange(n) / n
        setup.fixed_axes, _ = np.linalg.qr(np.stack([np.cos(theta) @ final,
                                                     np.sin(theta) @ final], 1))
    else:
        setup.fixed_axes = pm.pca(final, 2).components.T


def _with_data(run: Run, setup: Setup, sel: np.ndarray, size: int) -> Setup:
    """Fill in the data rows (labels, train flags), the sample picks and the expensive subset
    of the replayed families."""
    from grokscan.analysis.replay import replay

    rp = replay(run, setup.model)
    s = setup.settings
    if setup.ops:
        label = np.concatenate([lab[tr | te] for tr, te, lab in setup.grid_masks.values()])
        train = np.concatenate([tr[tr | te] for tr, te, _ in setup.grid_masks.values()])
    else:
        label = np.concatenate([rp.split.y_train, rp.split.y_test]).astype(np.int64)
        train = np.arange(len(label)) < len(rp.split.y_train)
    rng = np.random.default_rng(0)

    def draw(rows: np.ndarray, k: int) -> np.ndarray:
        return np.sort(rng.choice(rows, k, replace=False)) if 0 < k < len(rows) else rows

    every = np.arange(len(label))
    grad_pick = np.concatenate([draw(every[train], s.grad_samples),
                                draw(every[~train], s.grad_samples)])
    test_acc = run.scalars.get("test_acc")
    acc = None if test_acc is None else test_acc[sel]
    subset = expensive_subset(acc, len(sel), size)
    own = {f: frozenset(int(i) for i in sel[expensive_subset(acc, len(sel),
                                                               ALL[f].subset_size(s))])
           for f in setup.families if ALL[f].subset_size is not None}
    return replace(setup, subsets=own, n_classes=setup.n_classes or rp.cfg.model.n_classes,
                   data_label=label, data_train=train, pick=draw(every, s.samples),
                   grad_pick=grad_pick, mc_pick=draw(every[~train], s.dropout_samples),
                   subset=frozenset(int(i) for i in sel[subset]))
