"""``grokscan analyze``: stream the checkpoints of a run through the metric families and write
OUT/metrics.h5 and OUT/metrics.csv (layout: store/SCHEMA.md, "The metrics file").

Checkpoints are read in blocks: the weight-only families run batched over a block (one FFT or
matmul for all of its checkpoints), the replayed ones evaluate the model once per checkpoint
(on the full (a, b) grid of each operation, or on the whole data set), sharing the outputs
(grokscan/analysis/families/). Memory is bounded by the block, not by the run. The expensive
families run on a subset of the checkpoints (:func:`grokscan.analysis.setup.expensive_subset`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from grokscan.analysis.families import ALL, GROUP_ATTRS, Setup
from grokscan.analysis.families.replayed import Checkpoint
from grokscan.analysis.replay import replay
from grokscan.analysis.setup import BASES, Options, make_setup
from grokscan.errors import GrokscanError
from grokscan.onset.shipped import Detector, best
from grokscan.progress import progress
from grokscan.store.metrics import MetricsWriter, write_csv
from grokscan.store.reader import Run

# the checkpoint detector analyze runs: the shipped one that measured best on held-out runs
ONSET: Detector = best("checkpoints")
BLOCK_BYTES = 256 << 20  # the parameters of a block of checkpoints, read at once


def parse_steps(text: str | None) -> tuple[int | None, int | None]:
    """'A:B', 'A:' or ':B' -> (A, B); None -> (None, None)."""
    if text is None:
        return (None, None)
    try:
        a, b = text.split(":")
        steps = (int(a) if a.strip() else None, int(b) if b.strip() else None)
    except ValueError:
        raise GrokscanError(
            f"--steps: expected A:B, A: or :B with integers, got {text!r}") from None
    if steps == (None, None):
        raise GrokscanError(f"--steps: expected A:B, A: or :B with at least one bound, got "
                            f"{text!r}")
    return steps


def parse_families(text: str | None) -> tuple[str, ...] | None:
    """'fourier,norms' -> ('fourier', 'norms'); None -> None (the default families)."""
    if text is None:
        return None
    names = tuple(t.strip() for t in text.split(","))
    if not any(names):
        raise GrokscanError(f"--families: expected metric families separated by commas, got "
                            f"{text!r}")
    return names


def parse_ints(text: str | None, what: str) -> tuple[int, ...]:
    """'5,7,13' -> (5, 7, 13); None -> ()."""
    try:
        return tuple(int(t) for t in text.split(",")) if text is not None else ()
    except ValueError:
        raise GrokscanError(f"{what}: expected whole numbers separated by commas, got "
                            f"{text!r}") from None


def _data_inputs(setup: Setup, rp) -> torch.Tensor:
    """The model inputs of the data rows of ``setup``: the grid rows of each operation that are
    examples (modular), or the train then the test inputs."""
    if setup.ops:
        return torch.cat([rp.grid(op)[torch.from_numpy(tr | te)]
                          for op, (tr, te, _) in setup.grid_masks.items()])
    return torch.cat([rp.inputs("train"), rp.inputs("test")])


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


def _compute_block(setup: Setup, idx: np.ndarray, run: Run | None = None, tick=None) -> dict:
    """Every selected family on the checkpoints ``idx`` of the run: {"family/name": array}.
    ``run``: the file, already open (the serial path reuses it); by default opened here.
    ``tick()`` is called after each replayed checkpoint (the progress bar moves)."""
    if run is None:
        with Run(setup.path) as run:
            return _compute_block(setup, idx, run, tick)
    params = {k: run.param(k, idx) for k in run.param_names}
    steps = run.steps[idx]
    for k, v in params.items():
        bad = ~np.isfinite(v.reshape(len(v), -1)).all(-1)
        if bad.any():
            raise GrokscanError(f"{setup.path}: parameter {k} holds NaN or inf at step "
                                f"{steps[np.argmax(bad)]}")
    out = {}
    for name in setup.families:
        fam = ALL[name]
        if not fam.replay:
            out.update({f"{name}/{k}": v for k, v in fam.fn(setup, params).items()})
    replayed = [f for f in setup.families if ALL[f].replay and not ALL[f].at_moments]
    if replayed:
        rp = replay(run, setup.model)
        x = _data_inputs(setup, rp)
        rows = {name: [] for name in replayed}
        for j, i in enumerate(idx):
            rp.load({k: v[j] for k, v in params.items()}, step=int(steps[j]))
            ck = Checkpoint(setup, rp, x, int(steps[j]))
            for name in replayed:
                fam = ALL[name]
                run_it = not fam.expensive or int(i) in setup.subset_of(name)
                rows[name].append(fam.fn(setup, ck) if run_it else None)
            if tick:
                tick()
        for name in replayed:
            out.update({f"{name}/{k}": v for k, v in _stack(rows[name]).items()})
    return out


def _worker(args):
    # The processes are the parallelism: one thread each for torch and for numpy's BLAS
    # (oversubscribed threads made the per-sample-gradient PCA ~3x slower under load).
    torch.set_num_threads(1)
    with threadpool_limits(1):
        return _compute_block(*args)


def _check(path, out_dir, opts: Options) -> None:
    unknown = [f for f in opts.families if f not in ALL]
    if unknown:
        raise GrokscanError(f"unknown metric family {unknown[0]!r}; expected one of: "
                            f"{', '.join(ALL)}")
    for name in opts.families:
        why = ALL[name].unavailable() if ALL[name].unavailable else None
        if why:
            raise GrokscanError(f"metric family {name} {why}")
    if opts.basis not in BASES:
        raise GrokscanError(f"--basis: expected one of {', '.join(BASES)}, got {opts.basis!r}")
    if opts.every < 1 or opts.jobs < 1:
        raise GrokscanError("--every and --jobs must be at least 1")
    for what, each, given in (("--families", "family", opts.families),
                              ("--key-freqs", "frequency", opts.key_freqs)):
        twice = next((v for i, v in enumerate(given) if v in given[:i]), None)
        if twice is not None:
            raise GrokscanError(f"{what}: expected each {each} once, got {twice} twice")
    outputs = [os.path.join(out_dir, n) for n in ("metrics.h5", "metrics.h5.tmp", "metrics.csv")]
    if any(os.path.realpath(path) == os.path.realpath(o) for o in outputs):
        raise GrokscanError(f"{path} would be overwritten by the analysis written to {out_dir}; "
                            "choose another -o folder")
    opts.settings.check()


def _selection(run: Run, opts: Options) -> np.ndarray:
    lo, hi = opts.steps
    sel = np.flatnonzero((run.steps >= (lo if lo is not None else -1))
                         & (run.steps <= (hi if hi is not None else run.steps.max(initial=0))))
    sel = sel[:: opts.every]
    if not sel.size:
        raise GrokscanError(f"{run.path}: no checkpoint in the selected steps "
                            f"(the file holds steps {run.steps.min(initial=0)}.."
                            f"{run.steps.max(initial=0)})")
    return sel


def analyze(path, out_dir, opts: Options | None = None) -> dict:
    """Analyse the checkpoints of ``path`` into ``out_dir``; returns a summary dict.

    The checkpoint file is opened read-only; a file that training is still writing is analysed
    up to the checkpoints present when analysis starts.
    """
    opts = opts or Options()
    _check(path, out_dir, opts)
    with Run(path) as run:
        sel = _selection(run, opts)
        setup, left_out = make_setup(run, opts, sel)
        header = _header(run, setup, sel, left_out)
        for name, values in _initial_values(run, setup).items():
            header["groups"][name].update(init=values, init_step=int(run.steps[0]))
        live = _onset_live(run)
        # blocks of at most BLOCK_BYTES of parameters: memory stays bounded for any model
        per = 4 * sum(math.prod(run.shape(k)) for k in run.param_names)
    size = max(1, min(opts.block, BLOCK_BYTES // max(per, 1)))
    if opts.jobs > 1:  # at least 4 blocks per worker: the bar moves as blocks come back
        size = min(size, max(1, math.ceil(len(sel) / (4 * opts.jobs))))
    os.makedirs(out_dir, exist_ok=True)
    blocks = [sel[i: i + size] for i in range(0, len(sel), size)]
    h5_path = os.path.join(out_dir, "metrics.h5")
    bar = progress(len(sel), desc="analyze", unit="ckpt", quiet=opts.quiet)
    try:
        with MetricsWriter(h5_path, **header) as writer:
            done = 0
            for b, res in zip(blocks, _results(setup, blocks, path, opts.jobs, bar.update)):
                writer.write(res, len(b))
                done += len(b)
                bar.update(done - bar.n)  # the rest of the block (all of it from a worker)
            onset = _record_onset(writer, header, path)
            if live is not None:
                writer.put_onset_live(*live)
            _record_moments(writer, setup)
    finally:
        bar.close()
    csv_path = os.path.join(out_dir, "metrics.csv")
    write_csv(h5_path, csv_path)
    return {"metrics_h5": h5_path, "metrics_csv": csv_path, "n_checkpoints": len(sel),
            "families": list(setup.families), "left_out": left_out, "basis": setup.basis,
            "key_freqs": setup.key_freqs, "subset": len(setup.subset), "onset": onset}


INIT_FAMILIES = ("fourier", "sparsity")  # measures read against their value at initialisation


def _initial_values(run: Run, setup: Setup) -> dict[str, dict[str, float]]:
    """The null of the sparsity and Gini measures: each one-number measure of the families
    INIT_FAMILIES at the run's first checkpoint (its initialisation, whatever the analysis
    selects), {family: {name: value}}, stored as the group attribute ``init``."""
    fams = tuple(f for f in INIT_FAMILIES if f in setup.families)
    if not fams:
        return {}
    res = _compute_block(dataclasses.replace(setup, families=fams), np.array([0]), run)
    out: dict[str, dict[str, float]] = {f: {} for f in fams}
    for key, v in res.items():
        fam, _, name = key.partition("/")
        if np.shape(v) == (1,) and np.isfinite(v[0]):
            out[fam][name] = float(v[0])
    return out


def _onset_live(run: Run):
    """The run's in-loop onset record and its result (grokscan/onset/track.py), for
    metrics.h5 (/onset_live), or None when the run has none."""
    from grokscan.onset.track import read_back

    rows = run.onset_rows()
    return None if rows is None or not len(rows.steps) else (rows, read_back(rows))


def _record_onset(writer: MetricsWriter, header: dict, path) -> int | None:
    """The checkpoint detector ONSET (the shipped one that measured best on held-out runs,
    grokscan/onset/shipped.py) over every checkpoint of the run, its signal computed from the
    weights as ``train``, ``watch`` and ``info`` compute it (grokscan/onset/forecast.py), into
    ``metrics/onset``: ``score`` at each analysed checkpoint, and the group's attributes
    ``step`` (-1: no flag), ``memorisation``, ``reason``, ``detector`` (its name) and
    ``settings``. Nothing when the run lacks the signal (no train accuracy; a spectral signal
    without residues)."""
    from grokscan.onset.forecast import Forecast

    if ONSET.settings is None:
        return None
    with Run(path) as run:
        res = Forecast.of_run(run, ONSET.settings).result
        if res is None:
            return None
        at = np.searchsorted(run.steps, header["steps"])
    none = -1
    writer.put("onset/score", res.score[at], {
        "step": none if res.step is None else res.step, "reason": res.reason,
        "memorisation": none if res.memorisation is None else res.memorisation,
        "detector": ONSET.name, "settings": ONSET.settings.to_json()})
    return res.step


def _record_moments(writer: MetricsWriter, setup: Setup) -> None:
    """The MOMENTS families (grokscan/analysis/families/moments.py), once, on the checkpoints
    of ``setup.moments``, into ``/moments/<family>/`` with the moments' steps and names."""
    names = [f for f in setup.families if ALL[f].at_moments]
    if not names or not setup.moments:
        return
    with Run(setup.path) as run:
        cks = []
        for i in setup.moments.values():
            rp = replay(run, setup.model)  # one model per moment: outputs computed lazily
            step = int(run.steps[i])
            rp.load({k: run.param(k, [i])[0] for k in run.param_names}, step=step)
            cks.append(Checkpoint(setup, rp, _data_inputs(setup, rp), step))
    attrs = {"moments": list(setup.moments), "steps": np.array([ck.step for ck in cks])}
    for name in names:
        writer.put_moments(name, ALL[name].fn(setup, cks),
                           {"doc": ALL[name].doc, **attrs})


def _results(setup: Setup, blocks: list, path, jobs: int, tick=None):
    """The metrics of each block, in order: in ``jobs`` worker processes, or here (calling
    ``tick`` after each replayed checkpoint)."""
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            yield from pool.map(_worker, [(setup, b) for b in blocks])
        return
    with Run(path) as run:
        for b in blocks:
            yield _compute_block(setup, b, run, tick)


def _header(run: Run, setup: Setup, sel: np.ndarray, left_out: dict) -> dict:
    """What the metrics file holds besides the metrics: the run, the task, what was computed."""
    task = run.task
    groups = {}
    for name in setup.families:
        fam = ALL[name]
        if fam.at_moments:  # stored in /moments, by _record_moments
            continue
        attrs = {"doc": fam.doc, **GROUP_ATTRS.get(name, {}),
                 **(fam.attrs(setup) if fam.attrs else {})}
        if fam.expensive:
            attrs["computed_steps"] = np.sort([run.steps[i] for i in sel if int(i) in
                                               setup.subset_of(name)]).astype(np.int64)
        groups[name] = attrs
    order = setup.order()
    if "pca/last_layer" in setup.families:
        op_order = setup.order(setup.op_basis[setup.ops[0]])
        groups["pca/last_layer"]["plane_freqs"] = setup.key_freqs.get(setup.ops[0], [])
        if op_order is not None:
            groups["pca/last_layer"]["plane_order"] = op_order.tolist()
    if "embedding/constellation" in setup.families:
        groups["embedding/constellation"].update(
            residues=setup.residues_shown().tolist(), plane_freqs=setup.plane_keys,
            fixed_freq=setup.plane_keys[0] if setup.plane_keys else 0,
            order="discrete-log" if order is not None else "natural")
    samples = {}
    if setup.pick is not None:  # the sample of the activation PCA, for colouring by class
        samples = {"index": setup.pick, "label": setup.data_label[setup.pick],
                   "train": setup.data_train[setup.pick]}
    attrs = {"source": run.path, "config": run.f.attrs["config"],
             "families": list(setup.families), "left_out": left_out, "basis": setup.basis,
             "op_basis": setup.op_basis, "p": setup.p, "ops": list(setup.ops),
             "key_freqs": setup.key_freqs,
             "task": {"kind": task.kind, "line": task.describe(),
                      "class_label": task.class_label, "class_names": task.class_names}}
    scalars = run.scalars
    return {"attrs": attrs, "steps": run.steps[sel], "scalars": {k: v[sel] for k, v in
                                                                 scalars.items()},
            "run_steps": run.steps, "run_scalars": scalars, "samples": samples,
            "groups": groups}
