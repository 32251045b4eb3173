"""The replayed metric families: ``fn(setup, checkpoint)`` with one :class:`Checkpoint`, the
model rebuilt with that checkpoint's weights, whose outputs are computed on demand and shared
between families; each returns arrays without the checkpoint axis and the driver stacks them.
Array layouts: store/SCHEMA.md, "The metrics file".
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from grokscan.analysis.families.base import DRC_RATES, Setup, basis_matrix
from grokscan.metrics import fourier as fm
from grokscan.metrics import nulls
from grokscan.metrics import pca as pm
from grokscan.metrics import weights as wm
from grokscan.models.loss import loss as loss_of


class Checkpoint:
    """One checkpoint loaded into the rebuilt model, with its outputs computed once, on demand.

    ``data_x`` are the model inputs of every example of the task (rows of ``Setup.data_*``).
    For a modular task the model runs once on the full (a, b) grid of each operation and the
    examples are read out of the grid.
    """

    def __init__(self, setup: Setup, rp, data_x: torch.Tensor, step: int):
        self.setup, self.rp, self.data_x, self.step = setup, rp, data_x, step

    @cached_property
    def grid(self) -> dict[str, tuple[np.ndarray, list[np.ndarray]]]:
        """Per operation: logits (P², C) float64 and hidden activations per layer (P², w)."""
        out = {}
        for op in self.setup.ops:
            logits, hidden = self.rp.forward(self.rp.grid(op))
            out[op] = (logits.numpy().astype(np.float64), [h.numpy() for h in hidden])
        return out

    @cached_property
    def outputs(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (N, C) and hidden activations per layer (N, w) on every example."""
        if not self.setup.ops:
            logits, hidden = self.rp.forward(self.data_x)
            return logits.numpy(), [h.numpy() for h in hidden]
        ops = self.setup.ops
        rows = [self.setup.grid_masks[op][0] | self.setup.grid_masks[op][1] for op in ops]
        logits = np.concatenate([self.grid[op][0][r] for op, r in zip(ops, rows)])
        n_layers = len(self.grid[ops[0]][1])
        hidden = [np.concatenate([self.grid[op][1][layer][r] for op, r in zip(ops, rows)])
                  for layer in range(n_layers)]
        return logits, hidden


def neurons_family(setup: Setup, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Nanda's neuron spectrum: each last-layer neuron's activation over all (a, b) in the 2-D
    Fourier basis of the operation's group; its dominant frequency, the fraction of its
    variance that frequency explains, the share of neurons explained above 0.85, and the
    neuron-mean 2-D power (for the picture)."""
    out = {}
    p = setup.p
    for op, (_, hidden) in ck.grid.items():
        acts = hidden[-1].reshape(p, p, -1)
        power = fm.neuron_spectrum(acts, basis_matrix(setup.op_basis[op], p))
        freq, frac = fm.neuron_key_frequencies(power)
        sfx = f"_{op}" if len(setup.ops) > 1 else ""
        out[f"dominant_freq{sfx}"] = freq
        out[f"explained{sfx}"] = frac
        out[f"well_explained{sfx}"] = np.asarray(fm.fraction_well_explained(frac))
        out[f"mean_power{sfx}"] = power.mean(-1)
    return out


def freqloss_family(setup: Setup, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Nanda et al.'s restricted and excluded loss and accuracy on train and test (arXiv:
    2301.05217 §5.1; :func:`grokscan.metrics.fourier.class_logits`), the excluded loss of each
    key frequency alone (``excluded_k<k>_<split>``), and the coefficient of cos(w_k(a+b−c)) in
    the logits (``trig_k<k>``, his Fig. 5); with the key frequencies of the final checkpoint
    (or ``--key-freqs``); for the operations whose logits are a function of a group phase
    a ± b (``Setup.phase``: add, sub, mul and div)."""
    out = {}
    for op, (logits, _) in ck.grid.items():
        if op not in setup.phase or not setup.key_freqs.get(op):
            continue
        group, sign = setup.phase[op]
        if setup.op_basis[op] != group:
            continue
        train, test, labels = setup.grid_masks[op]
        if group == "multiplicative":  # the phase leaves out a = 0 or b = 0
            a, b = np.divmod(np.arange(setup.p**2), setup.p)
            train, test = train & (a > 0) & (b > 0), test & (a > 0) & (b > 0)
        sfx = f"_{op}" if len(setup.ops) > 1 else ""
        found = _nanda_measures(logits, labels, group, sign, setup.key_freqs[op],
                                {"train": train, "test": test})
        out.update({f"{k}{sfx}": v for k, v in found.items()})
    return out


def _nanda_measures(logits, labels, group: str, sign: int, freqs, splits: dict) -> dict:
    """The measures of :func:`freqloss_family` for one operation's grid logits (P², C)."""
    p = int(round(np.sqrt(len(logits))))
    phase, n = fm.sample_phase(p, group=group, b_sign=sign)
    variants = {"loss": logits}  # the logits change with the variant, not with the split
    for mode in ("restricted", "excluded"):
        variants[mode] = fm.class_logits(logits, phase=phase, n=n, freqs=freqs, mode=mode)
    for k in freqs:
        variants[f"excluded_k{k}"] = fm.class_logits(logits, phase=phase, n=n, freqs=[k],
                                                     mode="excluded")
    out = {}
    for name, z in variants.items():
        nll, right = fm.sample_nll(z, labels), z.argmax(axis=-1) == labels
        for split, mask in splits.items():
            out[f"{name}_{split}"] = np.asarray(nll[mask].mean())
            if name in ("restricted", "excluded"):
                out[f"{name}_acc_{split}"] = np.asarray(right[mask].mean())
    phase3, _ = fm.grid_phase(p, group=group, b_sign=sign)
    coef = fm.trig_coefficients(logits, phase3=phase3, n=n, freqs=freqs)
    out.update({f"trig_k{k}": np.asarray(c) for k, c in zip(freqs, coef)})
    return out


def activations_family(setup: Setup, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Each hidden layer's activation vectors of a fixed sample (``/samples``) on the layer's
    top two principal components (``coords_h<l>``) and the explained-variance ratios of its top
    ten (``evr_h<l>``); Hutchison & Yevick, arXiv:2510.25966 Figs. 16-18."""
    out = {}
    for layer, h in enumerate(ck.outputs[1]):
        X = h[setup.pick].astype(np.float64)
        k = min(10, *X.shape)
        res = pm.pca(X, k)
        out[f"coords_h{layer}"] = res.coords[:, :2].astype(np.float32)
        out[f"evr_h{layer}"] = np.pad(res.explained_variance_ratio, (0, 10 - k))
    return out


def per_sample_grads(model, x: torch.Tensor, y: torch.Tensor, beta: float,
                     names: list[str], kind: str = "cross_entropy") -> dict[str, torch.Tensor]:
    """The gradient of each sample's loss (the run's: cross_entropy(β·logits, y), or ``kind``
    "mse", grokscan/models/loss.py) with respect to the parameters ``names``:
    {name: (n_samples, *shape)}, batched with torch.func (vmap over grad), no loop over
    samples."""
    from torch.func import functional_call, grad, vmap

    fixed = {k: v.detach() for k, v in model.named_parameters() if k not in names}
    free = {k: v.detach() for k, v in model.named_parameters() if k in names}

    def loss(p, xi, yi):
        logits = functional_call(model, {**fixed, **p}, (xi[None],))
        return loss_of(logits, yi[None], beta=beta, kind=kind)

    return vmap(grad(loss), in_dims=(None, 0, 0))(free, x, y)


def gradients_family(setup: Setup, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Per-sample gradients of every weight matrix, flattened and concatenated, for a fixed
    sample of train and test examples: their top-2 principal-component coordinates, whether
    each sample is classified correctly, and the number of components that explain 90 % of
    the gradient variance within the train and within the test samples (arXiv:2510.25966
    Figs. 14-15)."""
    model = ck.rp.model
    names = [k for k, v in model.named_parameters() if v.ndim >= 2]
    idx = setup.grad_pick
    x = ck.data_x[idx]
    y = torch.from_numpy(setup.data_label[idx]).long()
    grads = per_sample_grads(model, x, y, setup.beta, names, setup.loss)
    G = torch.cat([grads[k].flatten(1) for k in names], 1)
    K = (G @ G.T).double().numpy()  # one Gram matrix; the splits are its sub-blocks
    coords, _ = pm.gram_pca(K, 2)
    is_train = setup.data_train[idx]
    correct = ck.outputs[0][idx].argmax(-1) == setup.data_label[idx]
    out = {"coords": coords.astype(np.float32), "correct": correct.astype(np.float64),
           "is_train": is_train.astype(np.float64),
           "label": setup.data_label[idx].astype(np.float64)}
    for split, mask in (("train", is_train), ("test", ~is_train)):
        dim = np.nan
        if mask.sum() >= 2:
            _, ratio = pm.gram_pca(K[np.ix_(mask, mask)], 1)
            dim = float(pm.n_components_for(ratio, threshold=0.9))
        out[f"dim90_{split}"] = np.asarray(dim)
    return out


def sparsity_family(setup: Setup, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Inactive hidden units (zero on every example) per layer, the fraction of weights below
    0.01 in magnitude per weight matrix, and the mean softmax gap P_max - P_second over all
    examples and per true class (arXiv:2507.11645, arXiv:2510.25966)."""
    logits, hidden = ck.outputs
    out = {f"inactive_h{i}": np.asarray(wm.inactive_fraction(h)) for i, h in enumerate(hidden)}
    for name, p in ck.rp.model.named_parameters():
        if p.ndim >= 2:
            out[f"small/{name}"] = np.asarray(
                wm.small_weight_fraction(p.detach().numpy(), core_ndim=p.ndim))
    gap = wm.softmax_gap(logits[:, None, :], beta=setup.beta)  # per sample: a mean over one
    out["softmax_gap"] = np.asarray(gap.mean())
    count = np.bincount(setup.data_label, minlength=setup.n_classes)
    total = np.bincount(setup.data_label, weights=gap, minlength=setup.n_classes)
    out["softmax_gap_class"] = np.divide(total, count, out=np.full(len(count), np.nan),
                                         where=count > 0)
    return out


def class_accuracy_family(setup: Setup, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Accuracy per true class on the train and on the test examples (``train``, ``test``,
    (C,); NaN for a class with no example in that split): which classes a network generalises
    to first, and which it memorises."""
    right = (ck.outputs[0].argmax(-1) == setup.data_label).astype(np.float64)
    out = {}
    for split, mask in (("train", setup.data_train), ("test", ~setup.data_train)):
        count = np.bincount(setup.data_label[mask], minlength=setup.n_classes)
        hits = np.bincount(setup.data_label[mask], weights=right[mask],
                           minlength=setup.n_classes)
        out[split] = np.divide(hits, count, out=np.full(len(count), np.nan), where=count > 0)
    return out


def _dropout_accuracy(ck: Checkpoint, rows: np.ndarray, rate: float, passes: int) -> np.ndarray:
    """Accuracy on the examples ``rows`` with dropout at ``rate`` after every hidden layer,
    once per pass (the seed is the step: reproducible, and the global RNG is left as it was).
    Returns (correct counts per pass, number of examples): integers, so that identical passes
    give a variance of exactly 0."""
    y = torch.from_numpy(ck.setup.data_label[rows])
    model = ck.rp.model
    if hasattr(model, "logits_from"):  # start each pass from the first hidden layer
        h0 = torch.from_numpy(ck.outputs[1][0][rows])

        def logits():
            return model.logits_from(h0, 0, dropout=rate)
    else:
        x = ck.data_x[rows]

        def logits():
            return ck.rp.forward(x, dropout=rate)[0]

    hits = np.empty(passes, np.int64)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(ck.step)
        for i in range(passes):
            hits[i] = (logits().argmax(-1) == y).sum().item()
    return hits, len(rows)


def dropout_variance_family(setup: Setup, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Variance (and mean) of test accuracy over Monte-Carlo dropout passes, with dropout after
    every hidden layer even if the model was trained without it (arXiv:2507.11645: it peaks
    between memorisation and generalisation). On a fixed random sample of at most
    ``FamilySettings.dropout_samples`` test examples, which sets the scale: the variance of a mean
    over fewer examples is larger."""
    s = setup.settings
    hits, n = _dropout_accuracy(ck, setup.mc_pick, s.dropout_rate, s.dropout_passes)
    var, mean = hits.var() / n**2, hits.mean() / n
    # the binomial p(1 - p)/n of n examples each right with probability p: the variance's
    # ceiling, each example drawing its own mask; ratio_lo/ratio_hi bound the true ratio at
    # 95 % (grokscan/metrics/nulls.py)
    out = {"variance": np.asarray(var), "mean": np.asarray(mean),
           "binomial": np.asarray(nulls.binomial_variance(mean, n))}
    if s.dropout_passes >= 2:
        ratio, lo, hi = nulls.variance_ratio(var, mean, n, s.dropout_passes)
        out.update(ratio=np.asarray(ratio), ratio_lo=np.asarray(lo), ratio_hi=np.asarray(hi))
    return out



def drc_family(setup: Setup, ck: Checkpoint) -> dict[str, np.ndarray]:
    """The Dropout Robustness Curve (arXiv:2507.11645): accuracy on the whole test set with
    dropout at rates 0.0, 0.1, ..., 0.9 after every hidden layer (mean over
    ``FamilySettings.drc_passes``), and the area under it (trapezoid over the rates)."""
    test = np.flatnonzero(~setup.data_train)
    acc = []
    for rate in DRC_RATES:
        hits, n = _dropout_accuracy(ck, test, rate, 1 if rate == 0 else setup.settings.drc_passes)
        acc.append(hits.mean() / n)
    acc = np.array(acc)
    auc = np.sum((acc[1:] + acc[:-1]) / 2 * np.diff(DRC_RATES))  # the trapezoid rule
    return {"accuracy": acc, "auc": np.asarray(auc)}


