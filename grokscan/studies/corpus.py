"""The onset corpus (docs/results/onset.md): the runs of the corpus sweeps
(scripts/grids/onset3/) read into one table, one row per checkpoint, of what a forecast may
read (training-side signals, computed from the weights, the replayed model on the train split
and the every-step record) beside what judges it (test accuracy, kept in its own column and
never handed to a detector).

The candidate signals (:data:`SIGNALS`), each causal (a checkpoint's value depends on that
checkpoint and the ones before):

- ``train_loss``, ``train_acc``, ``weight_norm``: the checkpoint's scalars;
- ``wn_rate``: the weight norm's decay rate, −d log‖θ‖/dt over the last ``RATE_STEPS`` steps of
  the every-step record, divided by lr·wd (under AdamW the part of the weights that the
  gradients no longer support decays at exactly lr·wd; 0 without weight decay);
- the spectral entropy, Gini and FFD of the embedding's Fourier norms in the additive basis
  (``*_add``), in the multiplicative one for P prime (``*_mul``), and in the one where the
  embedding is sparsest at that checkpoint (``*_best``, the group basis inferred from the
  weights by the largest entropy deficit, grokscan.metrics.fourier ``sparsest_basis``), with the
  logit map's entropy and Gini in that basis (``*_logit_best``). For P prime the candidates are
  the additive basis and the multiplicative basis over every shifted residue t ↦ t + s, s =
  0..P−1 (xy + x + y = (x+1)(y+1) − 1 is multiplicative in t + 1); ``basis_mul`` is 1 when a
  multiplicative one was chosen and ``basis_shift`` is its shift (NaN for the additive basis), a
  label of the choice and no candidate (grokscan/studies/transfer.py). An affine map of the
  residues, t ↦ c·t + d, needs no candidate of its own: it permutes the additive frequencies and
  their power, leaves the entropy and Gini unchanged when d = 0, and for d ≠ 0 only turns part
  of each frequency's cos into its sin, which moves the entropy by at most log 2;
- ``margin``: the effective logit scale, the mean over the train split of the gap between the
  largest and the second largest logit;
- ``sc_share``: the share of train examples in softmax collapse (their float32 cross-entropy
  is exactly 0; Prieto et al., arXiv:2501.04697 §3);
- ``restricted_loss``, ``excluded_loss``: Nanda's measures (arXiv:2301.05217 §5.1) on the
  train split, with the key frequencies of the current embedding (its five strongest), for
  the operations whose logits are a function of a group phase (add, sub, mul, div);
- ``update_top``: the share of the largest singular value's square in the last
  ``UPDATE_WINDOW`` parameter updates between checkpoints (each per step): a gap in that
  spectrum means the updates keep one direction;
- ``gini_grad``: the Gini of the embedding gradient's Fourier norms, and ``live_score``, the
  in-loop model's score (grokscan/onset/live.py), both from the every-step record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from grokscan.errors import GrokscanError

RATE_STEPS = 20  # steps of the weight norm's decay rate
UPDATE_WINDOW = 6  # parameter updates in the update spectrum
MAX_ROWS = 160  # checkpoints per run in the table (evenly spread when there are more)
N_KEYS = 5  # key frequencies of the restricted and excluded loss
SIGNALS = ("train_loss", "train_acc", "weight_norm", "wn_rate", "entropy_add", "gini_add",
           "ffd_add", "entropy_mul", "gini_mul", "ffd_mul", "entropy_best", "gini_best",
           "ffd_best", "basis_mul", "basis_shift", "entropy_logit_best", "gini_logit_best",
           "margin", "sc_share", "restricted_loss", "excluded_loss", "update_top", "gini_grad",
           "live_score")
# bumped whenever a signal's computation changes (2: the best basis among the shifted
# multiplicative ones, basis_shift; 3: chosen by entropy deficit, with a margin); the cache's
# stamp also covers SIGNALS itself
CACHE_VERSION = 3
RUN_COLUMNS = ("run", "sweep", "family", "model", "op", "p", "frac", "lr", "wd", "dropout",
               "input", "depth", "seed")


@dataclass(frozen=True)
class RunTable:
    """One run's rows: its settings (RUN_COLUMNS), and per checkpoint the step, the signals
    and the test accuracy (the judge's, apart)."""

    settings: dict
    steps: np.ndarray  # (n,)
    signals: dict  # {name: (n,)}
    test_acc: np.ndarray  # (n,)
    live: tuple  # the in-loop model's (memorisation, flag) steps as the run file keeps them


def family(settings: dict) -> str:
    """The run's model family: "transformer", "multi-task" (an MLP of several operations) or
    "mlp"."""
    if settings.get("model") == "transformer":
        return "transformer"
    return "multi-task" if "," in str(settings.get("op", "add")) else "mlp"


def read_run(path: str, settings: dict) -> RunTable:
    """The rows of the run file ``path`` (at most MAX_ROWS checkpoints, evenly spread)."""
    from grokscan.store.reader import Run

    with Run(path) as run:
        steps, scalars = run.steps, run.scalars
        rows = _rows(len(steps))
        out = {k: np.asarray(scalars[k], float)[rows] for k in ("train_loss", "train_acc",
                                                                 "weight_norm")}
        out.update(_record(run, steps[rows], settings))
        out.update(_spectra(run, rows))
        out.update(_replayed(run, rows))
        out["update_top"] = _update_top(run, rows)
        rec = run.onset_rows()
        live = (-1, -1) if rec is None else tuple(-1 if v is None else int(v)
                                                  for v in (rec.memorised, rec.flag))
        return RunTable(settings, steps[rows], out,
                        np.asarray(scalars["test_acc"], float)[rows], live)


def _rows(n: int) -> np.ndarray:
    return np.arange(n) if n <= MAX_ROWS else np.unique(np.linspace(0, n - 1, MAX_ROWS)
                                                         .round().astype(int))


def _record(run, steps: np.ndarray, settings: dict) -> dict:
    """From the every-step record (/onset): the weight norm's decay rate against lr·wd and the
    embedding gradient's Gini, at each checkpoint's step."""
    from grokscan.onset.live import SIGNALS as LIVE

    rec = run.onset_rows()
    nan = np.full(len(steps), np.nan)
    if rec is None or not len(rec.steps):
        return {"wn_rate": nan, "gini_grad": nan, "live_score": nan}
    at = np.searchsorted(rec.steps, steps).clip(0, len(rec.steps) - 1)
    wn = rec.values[:, LIVE.index("weight_norm")]
    back = np.searchsorted(rec.steps, steps - RATE_STEPS).clip(0, len(rec.steps) - 1)
    dt = np.maximum(rec.steps[at] - rec.steps[back], 1)
    rate = -(np.log(wn[at]) - np.log(wn[back])) / dt
    decay = float(settings.get("lr", 0)) * float(settings.get("wd", 0))
    return {"wn_rate": rate / decay if decay > 0 else np.zeros(len(steps)),
            "gini_grad": rec.values[at, LIVE.index("gini_grad")], "live_score": rec.score[at]}


def _spectra(run, rows: np.ndarray) -> dict:
    """The embedding's and the logit map's Fourier measures in each candidate basis."""
    from grokscan.groups import is_prime
    from grokscan.metrics import fourier as fm
    from grokscan.store.layout import logit_map, residue_matrix

    res = run.task.residues
    n = len(rows)
    nan = {k: np.full(n, np.nan) for k in SIGNALS if "_add" in k or "_mul" in k
           or "_best" in k or k == "basis_shift"}
    if res is None or not run.residue_vectors:
        return nan
    names = {r["param"] for r in run.residue_vectors} | {e["param"]
                                                         for e in run.neuron_logit_map}
    params = {k: run.param(k, rows).astype(np.float64) for k in names}
    E = residue_matrix(params, run.residue_vectors)  # (n, P, d)
    L = np.swapaxes(logit_map(params, run.neuron_logit_map)[..., : res.p], -1, -2) \
        if run.neuron_logit_map else None  # (n, P, h)
    bases = {"add": fm.additive_basis(res.p)}
    if is_prime(res.p):
        bases["mul"] = fm.multiplicative_basis(res.p)
    out = dict(nan)
    for tag, B in bases.items():
        norms = fm.fourier_norms(E, B)
        out[f"entropy_{tag}"], out[f"gini_{tag}"] = fm.spectral_entropy(norms), fm.gini(norms)
        out[f"ffd_{tag}"] = fm.ffd(norms)
    shift = fm.sparsest_basis(E, res.p)  # per checkpoint: NaN additive, else the shift
    out["basis_mul"], out["basis_shift"] = np.isfinite(shift).astype(float), shift
    chosen = np.where(np.isfinite(shift), shift, -1).astype(int)  # -1: additive
    for s in np.unique(chosen):
        at = chosen == s
        if s <= 0:  # the additive or the unshifted multiplicative basis: their own signals
            tag = "add" if s < 0 else "mul"
            for m in ("entropy", "gini", "ffd"):
                out[f"{m}_best"][at] = out[f"{m}_{tag}"][at]
            continue
        bases[s] = fm.multiplicative_basis(res.p, shift=int(s))
        norms = fm.fourier_norms(E[at], bases[s])
        out["entropy_best"][at], out["gini_best"][at] = fm.spectral_entropy(norms), \
            fm.gini(norms)
        out["ffd_best"][at] = fm.ffd(norms)
    if L is not None:
        lnorms = [fm.fourier_norms(L[i], bases["add" if s < 0 else "mul" if s == 0 else s])
                  for i, s in enumerate(chosen)]
        out["entropy_logit_best"] = np.array([float(fm.spectral_entropy(x)) for x in lnorms])
        out["gini_logit_best"] = np.array([float(fm.gini(x)) for x in lnorms])
    return out


def _replayed(run, rows: np.ndarray) -> dict:
    """The train split through the model at each checkpoint: the margin, the softmax-collapse
    share and (for operations with a group phase) the restricted and excluded train loss."""
    import torch

    from grokscan.analysis.replay import replay
    from grokscan.metrics import fourier as fm
    from grokscan.store.layout import residue_matrix

    n = len(rows)
    out = {k: np.full(n, np.nan) for k in ("margin", "sc_share", "restricted_loss",
                                          "excluded_loss")}
    if run.config is None:
        return out
    rp = replay(run)
    x, y = rp.inputs("train"), torch.from_numpy(np.asarray(rp.split.y_train)).long()
    beta = run.config.train.beta
    res = run.task.residues
    for j, i in enumerate(rows):
        rp.load(run.params_at(int(i)), step=int(run.steps[i]))
        with torch.no_grad():
            z = rp.model(x) * beta
        top2 = torch.topk(z, 2, dim=-1).values
        out["margin"][j] = float((top2[:, 0] - top2[:, 1]).mean())
        loss = torch.nn.functional.cross_entropy(z.float(), y, reduction="none")
        out["sc_share"][j] = float((loss == 0).float().mean())
        if res is not None and run.residue_vectors:
            E = residue_matrix(run.params_at(int(i)), run.residue_vectors)
            out["restricted_loss"][j], out["excluded_loss"][j] = _nanda(rp, res, E, fm)
    return out


def _nanda(rp, res, E: np.ndarray, fm) -> tuple[float, float]:
    """Restricted and excluded loss on the train split, averaged over the operations with a
    group phase, with the N_KEYS strongest frequencies of the embedding E (P, d) in each
    operation's group."""
    import torch

    losses = []
    for op in res.ops:
        if op not in res.phase:
            continue
        group, sign = res.phase[op]
        basis = fm.multiplicative_basis(res.p) if group == "multiplicative" \
            else fm.additive_basis(res.p)
        keys, _ = fm.key_frequencies(fm.fourier_norms(E.astype(np.float64), basis),
                                     n_keys=N_KEYS)
        with torch.no_grad():
            logits = rp.model(rp.grid(op)).double().numpy()
        train, _, labels = res.grid_rows[op]
        if group == "multiplicative":
            a, b = np.divmod(np.arange(res.p ** 2), res.p)
            train = train & (a > 0) & (b > 0)
        phase, n = fm.grid_phase(res.p, group=group, b_sign=sign)
        freqs = sorted({int(k) for k in np.atleast_1d(keys) if 1 <= int(k) <= n // 2})
        if not freqs or not train.any():
            continue
        losses.append([float(fm.frequency_loss(logits, labels, phase=phase, n=n, freqs=freqs,
                                               mode=mode, mask=train))
                       for mode in ("restricted", "excluded")])
    return tuple(np.mean(losses, axis=0)) if losses else (np.nan, np.nan)


def _update_top(run, rows: np.ndarray) -> np.ndarray:
    """The share of the top singular value's square in the last UPDATE_WINDOW updates
    between the selected checkpoints, each divided by its steps."""
    steps = run.steps[rows]
    flat = np.concatenate([run.param(k, rows).reshape(len(rows), -1)
                           for k in run.param_names], axis=1).astype(np.float64)
    out = np.full(len(rows), np.nan)
    for j in range(UPDATE_WINDOW, len(rows)):
        d = np.diff(flat[j - UPDATE_WINDOW: j + 1], axis=0)
        d /= np.diff(steps[j - UPDATE_WINDOW: j + 1])[:, None]
        s2 = np.linalg.eigvalsh(d @ d.T)  # the squared singular values of d
        out[j] = float(s2[-1] / max(s2.sum(), 1e-300))
    return out


def sweep_runs(sweep_dir) -> list[tuple[str, str, dict]]:
    """(name, run.h5 path, its settings) of every finished run of a sweep."""
    from grokscan.studies.onset import sweep_runs as finished
    from grokscan.sweep.grid import read_points

    doc = read_points(sweep_dir)
    points = {pt["name"]: {**doc.get("base", {}), **pt.get("params", {})}
              for pt in doc["points"]}
    return [(name, path, points[name]) for name, path in finished(sweep_dir)
            if name in points]


def trained_with(sweep_dirs) -> dict:
    """Per sweep (its folder's name), how many of its finished runs each grokscan version
    trained, and with subnormal floats flushed or kept (grokscan/threads.py): read from the
    run files' attributes."""
    import h5py

    counts: dict = {}
    for d in sweep_dirs:
        label = os.path.basename(os.path.normpath(d))
        for _, path, _ in sweep_runs(d):
            try:
                with h5py.File(path, "r") as f:
                    key = (f"grokscan {f.attrs.get('grokscan_version', '?')}, subnormals "
                           f"{'flushed' if f.attrs.get('flush_denormal', False) else 'kept'}")
            except OSError:
                key = "run file not readable"
            counts.setdefault(label, {}).setdefault(key, 0)
            counts[label][key] += 1
    return counts


def settings_row(name: str, sweep: str, v: dict) -> dict:
    """A run's settings as the table's RUN_COLUMNS."""
    op = v.get("op", "add")
    op = op if isinstance(op, str) else ",".join(op)
    return {"run": name, "sweep": sweep, "family": family({**v, "op": op}),
            "model": v.get("model", "mlp"), "op": op, "p": int(v.get("p", 0)),
            "frac": float(v.get("frac", np.nan)), "lr": float(v.get("lr", np.nan)),
            "wd": float(v.get("wd", np.nan)), "dropout": float(v.get("dropout", 0.0)),
            "input": v.get("input", "concat"), "depth": int(v.get("depth", 1)),
            "seed": int(v.get("seed", 0))}


def gather(sweep_dirs, cache_dir, *, tick=None):
    """The corpus table (pandas) of every finished run of the sweeps: one row per checkpoint,
    the RUN_COLUMNS, ``step``, the SIGNALS, ``test_acc`` and the in-loop model's
    ``live_memorised`` and ``live_flag`` (−1: none). Each run's rows are cached in
    ``cache_dir`` (one .npz per run, remade when its run file is newer or its stamp,
    ``cache_stamp()``, is not the current one), so a gather resumes where it stopped."""
    import pandas as pd

    frames = []
    for d in sweep_dirs:
        label = os.path.basename(os.path.normpath(d))
        for name, path, v in sweep_runs(d):
            frames.append(_cached(path, settings_row(name, label, v), cache_dir, v))
            if tick:
                tick(1)
    if not frames:
        raise GrokscanError("no finished run in the sweeps given")
    return pd.concat(frames, ignore_index=True)


def cache_stamp() -> str:
    """The stamp a run's cached rows carry: CACHE_VERSION and SIGNALS, hashed. Rows cached
    under another stamp are remade."""
    import hashlib
    import json

    text = json.dumps([CACHE_VERSION, list(SIGNALS)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached(path: str, row: dict, cache_dir: str, settings: dict):
    import pandas as pd

    os.makedirs(cache_dir, exist_ok=True)
    cache = os.path.join(cache_dir, f"{row['sweep']}__{row['run']}.npz")
    stamp = cache_stamp()
    cols = None
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(path):
        with np.load(cache) as z:
            if "cache_stamp" in z.files and str(z["cache_stamp"]) == stamp:
                cols = {k: z[k] for k in z.files if k != "cache_stamp"}
    if cols is None:
        t = read_run(path, settings)
        cols = {"step": t.steps, "test_acc": t.test_acc,
                "live_memorised": np.full(len(t.steps), t.live[0]),
                "live_flag": np.full(len(t.steps), t.live[1]),
                **{k: np.asarray(v, float) for k, v in t.signals.items()}}
        np.savez(cache, cache_stamp=np.array(stamp), **cols)
    df = pd.DataFrame(cols)
    for k, v in row.items():
        df[k] = v
    return df
