"""The families computed at a few moments of a run only (MOMENTS in their needs): at
memorisation (the run's first checkpoint with train accuracy ≥ 0.99, the event the report
marks) and at the end (``Setup.moments``). Each takes the Checkpoints of those moments, in
order, the end last, and returns arrays with a leading moment axis; the driver writes them to
``/moments/<family>/`` (store/SCHEMA.md), so a P × P grid is stored twice, not at every
checkpoint.
"""

from __future__ import annotations

import numpy as np
import torch

from grokscan.analysis.families.base import Setup, basis_matrix
from grokscan.metrics import fourier as fm

PER_FREQ = 2  # neurons drawn per key frequency
MAX_FREQS = 6  # key frequencies drawn at most


def select_neurons(freq: np.ndarray, frac: np.ndarray, keys, *, per: int = PER_FREQ,
                   max_freqs: int = MAX_FREQS) -> tuple[np.ndarray, np.ndarray]:
    """The neurons to draw: for each key frequency k in ``keys``, the ``per`` neurons whose
    dominant frequency (``freq``, (N,), at the end) is k, largest explained fraction (``frac``,
    (N,)) first, lower index first among equals. A key frequency that no neuron has is
    skipped; of more than ``max_freqs``, those that dominate the most neurons are kept. With
    no key frequencies, or none that dominates a neuron, the frequencies that dominate the
    most neurons stand in. Returns
    (neuron indices, their frequency), int64 arrays in the order of k, then of the fraction."""
    freq, frac = np.asarray(freq), np.asarray(frac, dtype=float)
    count = {int(k): int(np.sum(freq == k)) for k in np.unique(freq[freq > 0])}
    keys = [int(k) for k in keys if count.get(int(k), 0)] or sorted(count)
    keys = sorted(sorted(keys, key=lambda k: (-count[k], k))[:max_freqs])
    idx, ks = [], []
    for k in keys:
        members = np.flatnonzero(freq == k)
        best = members[np.lexsort((members, -frac[members]))][:per]
        idx += best.tolist()
        ks += [k] * len(best)
    return np.asarray(idx, np.int64), np.asarray(ks, np.int64)


def _shares(grid: np.ndarray, basis: np.ndarray, ks: np.ndarray) -> tuple[np.ndarray, ...]:
    """For grids (P, P, R) of R units and a frequency per unit: the share of each unit's
    variance that its frequency's 2-D Fourier components explain (Nanda's fraction, as
    ``neurons/explained``), and each unit's own dominant frequency and its share."""
    frac = fm.neuron_frequency_fractions(fm.neuron_spectrum(grid.astype(np.float64), basis))
    dominant, best = np.where(frac.max(0) > 0, frac.argmax(0) + 1, 0), frac.max(0)
    own = frac[ks - 1, np.arange(len(ks))] if len(ks) else np.zeros(0)
    return own, dominant, best


def _phase_shares(setup: Setup, op: str, flat: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """(R,): the share of each unit's variance over the grid in cos and sin of w_k times the
    group phase of the operation (a + b, a − b; log a ± log b for mul and div), NaN for an
    operation without one (:func:`grokscan.metrics.fourier.phase_share`)."""
    if op not in setup.phase or setup.op_basis[op] != setup.phase[op][0]:
        return np.full(len(ks), np.nan)
    group, sign = setup.phase[op]
    phase, n = fm.sample_phase(setup.p, group=group, b_sign=sign)
    return np.array([fm.phase_share(flat[:, j], phase=phase, n=n, k=int(k))
                     for j, k in enumerate(ks)])


def neuron_maps_family(setup: Setup, cks: list) -> dict[str, np.ndarray]:
    """The activation over the full (a, b) grid of a few last-layer neurons per key frequency
    (:func:`select_neurons`, chosen at the end: the last Checkpoint), at each moment: ``acts``
    (M, R, P, P) float32, row a, column b, residues 0..P−1; ``neuron`` and ``freq`` (M, R),
    the same at every moment; ``share`` (M, R), the share of the neuron's variance in its
    frequency's 2-D Fourier components (Nanda et al., arXiv:2301.05217 §4–5); ``phase_share``
    (M, R), the share in cos/sin(w_k(a ± b)) alone, the terms that carry the answer;
    ``dominant`` and ``explained`` (M, R), each moment's own dominant frequency and its
    share. No neuron varies at the end: R = 0."""
    out, p = {}, setup.p
    for op in setup.ops:
        basis = basis_matrix(setup.op_basis[op], p)
        end = cks[-1].grid[op][1][-1].reshape(p, p, -1)
        frac = fm.neuron_frequency_fractions(fm.neuron_spectrum(end.astype(np.float64), basis))
        freq = np.where(frac.max(0) > 0, frac.argmax(0) + 1, 0)
        idx, ks = select_neurons(freq, frac.max(0), setup.key_freqs.get(op, []))
        rows = {k: [] for k in ("acts", "share", "phase_share", "dominant", "explained")}
        for ck in cks:
            flat = ck.grid[op][1][-1][:, idx].astype(np.float64)  # (P², R)
            if not len(idx):  # every neuron constant at the end: nothing to draw
                rows["acts"].append(np.zeros((0, p, p), np.float32))
                for k in ("share", "phase_share", "dominant", "explained"):
                    rows[k].append(np.zeros(0))
                continue
            own, dominant, best = _shares(flat.reshape(p, p, -1), basis, ks)
            rows["acts"].append(np.moveaxis(flat.reshape(p, p, -1), -1, 0).astype(np.float32))
            rows["share"].append(own)
            rows["phase_share"].append(_phase_shares(setup, op, flat, ks))
            rows["dominant"].append(dominant)
            rows["explained"].append(best)
        sfx = f"_{op}" if len(setup.ops) > 1 else ""
        out.update({f"{k}{sfx}": np.stack(v) for k, v in rows.items()})
        # the same at every moment (chosen at the end): a moment axis like every array here
        out[f"neuron{sfx}"] = np.tile(idx, (len(cks), 1))
        out[f"freq{sfx}"] = np.tile(ks, (len(cks), 1))
    return out


def attention_maps_family(setup: Setup, cks: list) -> dict[str, np.ndarray]:
    """The attention of each head of the last block from the '=' token (the last position) to
    a (position 0), to b (the position before '=') and to itself, over the full (a, b) grid, at
    each moment: ``to_a``, ``to_b`` (M, H, P, P) float32 (the rest, 1 − to_a − to_b, is on '='
    itself and, for several operations, on the operation token); ``to_self`` the same; and the
    dominant 2-D frequency of ``to_a`` per head with the share of its variance it explains,
    ``dominant`` and ``explained`` (M, H) (Nanda et al., arXiv:2301.05217: a periodic pattern
    in a)."""
    out, p = {}, setup.p
    for op in setup.ops:
        basis = basis_matrix(setup.op_basis[op], p)
        rows = {k: [] for k in ("to_a", "to_b", "to_self", "dominant", "explained")}
        for ck in cks:
            with torch.no_grad():
                pattern = ck.rp.model.attention_patterns(ck.rp.grid(op))[-1][:, :, -1]
            pattern = pattern.numpy().astype(np.float64)  # (P², H, T)
            for name, pos in (("to_a", 0), ("to_b", -2), ("to_self", -1)):
                rows[name].append(np.moveaxis(pattern[:, :, pos].reshape(p, p, -1), -1, 0)
                                  .astype(np.float32))
            _, dominant, best = _shares(pattern[:, :, 0].reshape(p, p, -1), basis,
                                        np.zeros(0, np.int64))
            rows["dominant"].append(dominant)
            rows["explained"].append(best)
        sfx = f"_{op}" if len(setup.ops) > 1 else ""
        out.update({f"{k}{sfx}": np.stack(v) for k, v in rows.items()})
    return out
