"""The metric families of ``grokscan analyze``: what each computes from a block of checkpoints.

Two kinds (``Family.replay``):

- weight-only families take the parameters of a block of checkpoints, ``{name: (n, ...)}``, and
  compute every measure batched over the block (one FFT or matmul for all its checkpoints);
- replayed families take one :class:`Checkpoint` (the model rebuilt with that checkpoint's
  weights, its outputs computed on demand and shared between families) and return arrays
  without the checkpoint axis; the driver stacks them.

An ``expensive`` family (per-sample gradients, Monte-Carlo dropout) runs only on the subset
of checkpoints in ``Context.subset``; its rows are NaN elsewhere. Array layouts are in
store/SCHEMA.md, "The metrics file".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from grokscan.errors import GrokscanError
from grokscan.groups import discrete_log_order
from grokscan.metrics import embedding as em
from grokscan.metrics import fourier as fm
from grokscan.metrics import pca as pm
from grokscan.metrics import weights as wm

DRC_RATES = tuple(round(0.1 * i, 1) for i in range(10))
HIST_BINS = 40
BIMODAL_SAMPLE = 2048


@dataclass
class Settings:
    """The knobs of the replayed families (``grokscan analyze --help`` lists them)."""

    samples: int = 1024  # activation PCA: samples drawn once from the data
    grad_samples: int = 128  # per-sample gradients: samples per split (train and test)
    dropout_rate: float = 0.3  # dropout/variance (arXiv:2507.11645)
    dropout_passes: int = 100
    dropout_samples: int = 1024  # test samples for the Monte-Carlo passes
    drc_passes: int = 1  # passes per rate of the Dropout Robustness Curve (full test set)

    def check(self) -> None:
        for name in ("samples", "dropout_passes", "dropout_samples", "drc_passes"):
            if getattr(self, name) < 1:
                raise GrokscanError(f"--{name.replace('_', '-')}: expected at least 1, "
                                    f"got {getattr(self, name)}")
        if self.grad_samples < 2:
            raise GrokscanError(f"--grad-samples: expected at least 2, got {self.grad_samples}")
        if not 0 <= self.dropout_rate < 1:
            raise GrokscanError(f"--dropout-rate: expected 0 <= rate < 1, "
                                f"got {self.dropout_rate}")


@dataclass
class Context:
    """What every block needs, computed once per analysis (and sent to worker processes)."""

    path: str
    p: int  # residues; 0 for a task that is not modular
    ops: tuple[str, ...]
    basis: str  # the basis of the per-residue (embedding) measures
    op_basis: dict[str, str]  # the basis of each operation's replayed measures
    residue_vectors: list[dict]
    neuron_logit_map: list[str]
    n_classes: int = 0
    beta: float = 1.0
    key_freqs: dict[str, list[int]] = field(default_factory=dict)  # per op, final checkpoint
    grid_masks: dict[str, tuple] = field(default_factory=dict)  # per op: (train, test, labels)
    families: tuple[str, ...] = ()
    settings: Settings = field(default_factory=Settings)
    # The data (every example of the task) as rows 0..N-1: labels, train flags, and the fixed
    # sample picks of the activation PCA, the per-sample gradients and Monte-Carlo dropout.
    data_label: np.ndarray | None = None
    data_train: np.ndarray | None = None
    pick: np.ndarray | None = None
    grad_pick: np.ndarray | None = None
    mc_pick: np.ndarray | None = None
    subset: frozenset = frozenset()  # checkpoint indices of the expensive families

    def order(self, basis: str | None = None) -> np.ndarray | None:
        """Residues in discrete-log order when ``basis`` (default: the embedding's) is
        multiplicative, else None."""
        if (basis or self.basis) != "multiplicative":
            return None
        return discrete_log_order(self.p)


# --- weight-only families: (ctx, params of a block) -> {name: (n_block, ...)} ---------------

def residue_matrix(ctx: Context, params: dict[str, np.ndarray]) -> np.ndarray:
    """The per-residue vectors (n, P, d): embedding rows, or for a one-hot input the a and b
    rows of the first layer side by side (their Fourier norms add in quadrature)."""
    parts = [params[r["param"]][:, r["start"]:r["stop"]] for r in ctx.residue_vectors]
    return np.concatenate(parts, axis=-1)


def neuron_logit_matrix(ctx: Context, params: dict[str, np.ndarray]) -> np.ndarray:
    """W_L transposed, (n, C, d): one row per output class, mapping the last hidden layer
    (the MLP's neurons) to that class's logit."""
    W = params[ctx.neuron_logit_map[0]]
    for name in ctx.neuron_logit_map[1:]:
        W = W @ params[name]
    n_classes = ctx.n_classes or ctx.p  # 0: not known yet, every column is a class
    return np.swapaxes(W[..., :n_classes] if n_classes else W, -1, -2)


def basis_matrix(kind: str, p: int) -> np.ndarray:
    return fm.multiplicative_basis(p) if kind == "multiplicative" else fm.additive_basis(p)


def _matrices(params) -> dict[str, np.ndarray]:
    """The weight matrices (parameters of two or more axes besides the checkpoint axis)."""
    return {k: v for k, v in params.items() if v.ndim >= 3}


def fourier_family(ctx: Context, params) -> dict[str, np.ndarray]:
    """Fourier norms, FFD, FCR, Gini, spectral entropy and key frequencies (REFERENCE §2) of
    the embedding (``*_embed``) and of the neuron-logit map (``*_logit``)."""
    basis = basis_matrix(ctx.basis, ctx.p)
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


def last_layer_family(ctx: Context, params) -> dict[str, np.ndarray]:
    """The rows of the last layer (one point per output class) on the PC pairs (0, 1), (2, 3),
    (4, 5), and on the plane of each key frequency of the final checkpoint (arXiv:2411.05353
    §3.3-3.4; what ``grokscan factor`` reads). For a multiplicative basis the planes take the
    rows in discrete-log order (attribute ``plane_order``)."""
    W = neuron_logit_matrix(ctx, params)
    n_comp = min(6, *W.shape[-2:])
    res = pm.last_layer_pca(W, n_comp)
    out = {"pairs": res.planes, "evr": res.explained_variance_ratio}
    freqs = ctx.key_freqs.get(ctx.ops[0], []) if ctx.ops else []
    if freqs:  # the first operation's key frequencies, in that operation's basis
        order = ctx.order(ctx.op_basis[ctx.ops[0]])
        out["planes"] = np.stack([pm.frequency_plane(W, k, order=order) for k in freqs], 1)
    return out


def weight_entropy_family(ctx: Context, params) -> dict[str, np.ndarray]:
    """Entropy of each weight matrix's |w| read as a distribution (metrics/weights.py, nats;
    log(n_weights) for uniform magnitudes), and the autocorrelation over the output classes
    of each hidden unit's weights into the last layer (arXiv:2411.05353 Eq. 7): ``autocorr``
    the unit-mean Corr(k), ``autocorr_peak`` the unit-mean largest |Corr(k)|, k ≠ 0."""
    out = {k: wm.weight_entropy(v, core_ndim=v.ndim - 1) for k, v in _matrices(params).items()}
    if ctx.neuron_logit_map:
        rows = np.swapaxes(neuron_logit_matrix(ctx, params), -1, -2)  # (n, d, C)
        if rows.shape[-1] >= 2:
            out["autocorr"] = wm.weight_autocorrelation(rows).mean(axis=-2)
            out["autocorr_peak"] = wm.autocorrelation_peak(rows)
    return out


def cosine_family(ctx: Context, params) -> dict[str, np.ndarray]:
    """The P x P cosine similarity of the residues' embedding vectors (arXiv:2507.11645 Eq. 2),
    the share of it a circulant explains (a function of a - b, or of the group's difference on
    Z_P^*) and its band contrast (metrics/embedding.py)."""
    C = em.cosine_matrix(residue_matrix(ctx, params))
    order = ctx.order()
    return {"matrix": C.astype(np.float32),
            "circulant_share": em.circulant_share(C, order=order),
            "band_contrast": em.band_contrast(C, order=order)}


def bimodality_family(ctx: Context, params) -> dict[str, np.ndarray]:
    """The distribution of the embedding's entries (arXiv:2507.11645): Sarle's bimodality
    coefficient (above 5/9 suggests two modes), the means of a two-component Gaussian fit,
    and a histogram (``hist`` counts over ``hist_edges``) for the figure."""
    E = residue_matrix(ctx, params)
    x = E.reshape(len(E), -1).astype(np.float64)
    # The mode fit sees a fixed random sample of at most BIMODAL_SAMPLE entries: EM on all of
    # the 12 416 entries of the default embedding cost 0.7 s per checkpoint; the means of two
    # modes are estimated to ~std/sqrt(2048) from the sample.
    fit = x[:, np.random.default_rng(0).permutation(x.shape[1])[:BIMODAL_SAMPLE]]
    modes = em.two_mode_fit(fit, max_iter=100, tol=1e-4)
    lo, hi = x.min(axis=1), x.max(axis=1)
    edges = np.linspace(lo, hi, HIST_BINS + 1, axis=1)
    hist = np.stack([np.histogram(row, bins=e)[0] for row, e in zip(x, edges)])
    return {"coefficient": em.embedding_bimodality(E), "mode_low": modes.means[:, 0],
            "mode_high": modes.means[:, 1], "hist": hist, "hist_edges": edges}


# --- replayed families: (ctx, one Checkpoint) -> {name: array} --------------------------------

class Checkpoint:
    """One checkpoint loaded into the rebuilt model, with its outputs computed once, on demand.

    ``data_x`` are the model inputs of every example of the task (rows of ``Context.data_*``).
    For a modular task the model runs once on the full (a, b) grid of each operation and the
    examples are read out of the grid.
    """

    def __init__(self, ctx: Context, rp, data_x: torch.Tensor, step: int):
        self.ctx, self.rp, self.data_x, self.step = ctx, rp, data_x, step

    @cached_property
    def grid(self) -> dict[str, tuple[np.ndarray, list[np.ndarray]]]:
        """Per operation: logits (P², C) float64 and hidden activations per layer (P², w)."""
        out = {}
        for i, op in enumerate(self.ctx.ops):
            logits, hidden = self.rp.forward(self.rp.grid(i))
            out[op] = (logits.numpy().astype(np.float64), [h.numpy() for h in hidden])
        return out

    @cached_property
    def outputs(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (N, C) and hidden activations per layer (N, w) on every example."""
        if not self.ctx.ops:
            logits, hidden = self.rp.forward(self.data_x)
            return logits.numpy(), [h.numpy() for h in hidden]
        rows = [self.ctx.grid_masks[op][0] | self.ctx.grid_masks[op][1] for op in self.ctx.ops]
        logits = np.concatenate([self.grid[op][0][r] for op, r in zip(self.ctx.ops, rows)])
        n_layers = len(self.grid[self.ctx.ops[0]][1])
        hidden = [np.concatenate([self.grid[op][1][layer][r] for op, r in zip(self.ctx.ops, rows)])
                  for layer in range(n_layers)]
        return logits, hidden


def neurons_family(ctx: Context, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Nanda's neuron spectrum: each last-layer neuron's activation over all (a, b) in the 2-D
    Fourier basis of the operation's group; its dominant frequency, the fraction of its
    variance that frequency explains, the share of neurons explained above 0.85, and the
    neuron-mean 2-D power (for the picture)."""
    out = {}
    p = ctx.p
    for op, (_, hidden) in ck.grid.items():
        acts = hidden[-1].reshape(p, p, -1)
        power = fm.neuron_spectrum(acts, basis_matrix(ctx.op_basis[op], p))
        freq, frac = fm.neuron_key_frequencies(power)
        sfx = f"_{op}" if len(ctx.ops) > 1 else ""
        out[f"dominant_freq{sfx}"] = freq
        out[f"explained{sfx}"] = frac
        out[f"well_explained{sfx}"] = np.asarray(fm.fraction_well_explained(frac))
        out[f"mean_power{sfx}"] = power.mean(-1)
    return out


PHASED = {"add": ("additive", 1), "sub": ("additive", -1), "mul": ("multiplicative", 1),
          "div": ("multiplicative", -1)}


def freqloss_family(ctx: Context, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Restricted and excluded loss (Nanda et al. 2023) on train and test, with the key
    frequencies of the final checkpoint; for add, sub, mul and div (the operations whose
    logits are a function of a group phase)."""
    out = {}
    for op, (logits, _) in ck.grid.items():
        if op not in PHASED or not ctx.key_freqs.get(op):
            continue
        group, sign = PHASED[op]
        if ctx.op_basis[op] != group:
            continue
        phase, n = fm.grid_phase(ctx.p, group=group, b_sign=sign)
        train, test, labels = ctx.grid_masks[op]
        if group == "multiplicative":  # the phase leaves out a = 0 or b = 0
            a, b = np.divmod(np.arange(ctx.p**2), ctx.p)
            train, test = train & (a > 0) & (b > 0), test & (a > 0) & (b > 0)
        sfx = f"_{op}" if len(ctx.ops) > 1 else ""
        # the logits change with the mode, not with the split
        nll = {"loss": fm.sample_nll(logits, labels)}
        for mode in ("restricted", "excluded"):
            nll[mode] = fm.sample_nll(fm.frequency_logits(
                logits, phase=phase, n=n, freqs=ctx.key_freqs[op], mode=mode), labels)
        for split, mask in (("train", train), ("test", test)):
            for mode, v in nll.items():
                out[f"{mode}_{split}{sfx}"] = np.asarray(v[mask].mean())
    return out


def activations_family(ctx: Context, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Each hidden layer's activation vectors of a fixed sample (``/samples``) on the layer's
    top two principal components (``coords_h<l>``) and the explained-variance ratios of its top
    ten (``evr_h<l>``); Hutchison & Yevick, arXiv:2510.25966 Figs. 16-18."""
    out = {}
    for layer, h in enumerate(ck.outputs[1]):
        X = h[ctx.pick].astype(np.float64)
        k = min(10, *X.shape)
        res = pm.pca(X, k)
        out[f"coords_h{layer}"] = res.coords[:, :2].astype(np.float32)
        out[f"evr_h{layer}"] = np.pad(res.explained_variance_ratio, (0, 10 - k))
    return out


def per_sample_grads(model, x: torch.Tensor, y: torch.Tensor, beta: float,
                     names: list[str]) -> dict[str, torch.Tensor]:
    """The gradient of each sample's loss, cross_entropy(β·logits, y), with respect to the
    parameters ``names``: {name: (n_samples, *shape)}, batched with torch.func (vmap over
    grad), no loop over samples."""
    from torch.func import functional_call, grad, vmap

    fixed = {k: v.detach() for k, v in model.named_parameters() if k not in names}
    free = {k: v.detach() for k, v in model.named_parameters() if k in names}

    def loss(p, xi, yi):
        logits = functional_call(model, {**fixed, **p}, (xi[None],))
        return F.cross_entropy(beta * logits, yi[None])

    return vmap(grad(loss), in_dims=(None, 0, 0))(free, x, y)


def gradients_family(ctx: Context, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Per-sample gradients of every weight matrix, flattened and concatenated, for a fixed
    sample of train and test examples: their top-2 principal-component coordinates, whether
    each sample is classified correctly, and the number of components that explain 90 % of
    the gradient variance within the train and within the test samples (arXiv:2510.25966
    Figs. 14-15)."""
    model = ck.rp.model
    names = [k for k, v in model.named_parameters() if v.ndim >= 2]
    idx = ctx.grad_pick
    x = ck.data_x[idx]
    y = torch.from_numpy(ctx.data_label[idx]).long()
    grads = per_sample_grads(model, x, y, ctx.beta, names)
    G = torch.cat([grads[k].flatten(1) for k in names], 1)
    K = (G @ G.T).double().numpy()  # one Gram matrix; the splits are its sub-blocks
    coords, _ = pm.gram_pca(K, 2)
    is_train = ctx.data_train[idx]
    correct = ck.outputs[0][idx].argmax(-1) == ctx.data_label[idx]
    out = {"coords": coords.astype(np.float32), "correct": correct.astype(np.float64),
           "is_train": is_train.astype(np.float64),
           "label": ctx.data_label[idx].astype(np.float64)}
    for split, mask in (("train", is_train), ("test", ~is_train)):
        dim = np.nan
        if mask.sum() >= 2:
            _, ratio = pm.gram_pca(K[np.ix_(mask, mask)], 1)
            dim = float(pm.n_components_for(ratio, threshold=0.9))
        out[f"dim90_{split}"] = np.asarray(dim)
    return out


def sparsity_family(ctx: Context, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Inactive hidden units (zero on every example) per layer, the fraction of weights below
    0.01 in magnitude per weight matrix, and the mean softmax gap P_max - P_second over all
    examples and per true class (arXiv:2507.11645, arXiv:2510.25966)."""
    logits, hidden = ck.outputs
    out = {f"inactive_h{i}": np.asarray(wm.inactive_fraction(h)) for i, h in enumerate(hidden)}
    for name, p in ck.rp.model.named_parameters():
        if p.ndim >= 2:
            out[f"small/{name}"] = np.asarray(
                wm.small_weight_fraction(p.detach().numpy(), core_ndim=p.ndim))
    gap = wm.softmax_gap(logits[:, None, :], beta=ctx.beta)  # per sample: a mean over one
    out["softmax_gap"] = np.asarray(gap.mean())
    count = np.bincount(ctx.data_label, minlength=ctx.n_classes)
    total = np.bincount(ctx.data_label, weights=gap, minlength=ctx.n_classes)
    out["softmax_gap_class"] = np.divide(total, count, out=np.full(len(count), np.nan),
                                         where=count > 0)
    return out


def _dropout_accuracy(ck: Checkpoint, rows: np.ndarray, rate: float, passes: int) -> np.ndarray:
    """Accuracy on the examples ``rows`` with dropout at ``rate`` after every hidden layer,
    once per pass (the seed is the step: reproducible, and the global RNG is left as it was).
    Returns (correct counts per pass, number of examples): integers, so that identical passes
    give a variance of exactly 0."""
    y = torch.from_numpy(ck.ctx.data_label[rows])
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


def dropout_variance_family(ctx: Context, ck: Checkpoint) -> dict[str, np.ndarray]:
    """Variance (and mean) of test accuracy over Monte-Carlo dropout passes, with dropout after
    every hidden layer even if the model was trained without it (arXiv:2507.11645: it peaks
    between memorisation and generalisation). On a fixed random sample of at most
    ``Settings.dropout_samples`` test examples, which sets the scale: the variance of a mean
    over fewer examples is larger."""
    s = ctx.settings
    hits, n = _dropout_accuracy(ck, ctx.mc_pick, s.dropout_rate, s.dropout_passes)
    return {"variance": np.asarray(hits.var() / n**2), "mean": np.asarray(hits.mean() / n)}


def drc_family(ctx: Context, ck: Checkpoint) -> dict[str, np.ndarray]:
    """The Dropout Robustness Curve (arXiv:2507.11645): accuracy on the whole test set with
    dropout at rates 0.0, 0.1, ..., 0.9 after every hidden layer (mean over
    ``Settings.drc_passes``), and the area under it (trapezoid over the rates)."""
    test = np.flatnonzero(~ctx.data_train)
    acc = []
    for rate in DRC_RATES:
        hits, n = _dropout_accuracy(ck, test, rate, 1 if rate == 0 else ctx.settings.drc_passes)
        acc.append(hits.mean() / n)
    acc = np.array(acc)
    auc = np.sum((acc[1:] + acc[:-1]) / 2 * np.diff(DRC_RATES))  # the trapezoid rule
    return {"accuracy": acc, "auc": np.asarray(auc)}


@dataclass(frozen=True)
class Family:
    fn: Callable
    replay: bool  # takes a Checkpoint (the rebuilt model) rather than a block of weights
    modular: bool = True  # needs a modular task (residues)
    expensive: bool = False  # runs on the checkpoint subset only
    doc: str = ""


FAMILIES: dict[str, Family] = {
    "fourier": Family(fourier_family, False, doc="Fourier norms, FFD, FCR, Gini, entropy"),
    "neurons": Family(neurons_family, True, doc="per-neuron 2-D spectrum (Nanda)"),
    "freqloss": Family(freqloss_family, True, doc="restricted and excluded loss (Nanda)"),
    "norms": Family(norms_family, False, modular=False, doc="weight norm per layer and total"),
    "pca/activations": Family(activations_family, True, modular=False,
                              doc="hidden activations on their top principal components"),
    "pca/gradients": Family(gradients_family, True, modular=False, expensive=True,
                            doc="per-sample gradients: PCA and 90 % dimension, train/test"),
    "pca/last_layer": Family(last_layer_family, False,
                             doc="last-layer rows on PC pairs and key-frequency planes"),
    "entropy/weights": Family(weight_entropy_family, False, modular=False,
                              doc="weight entropy per matrix, last-layer autocorrelation"),
    "embedding/cosine": Family(cosine_family, False,
                               doc="cosine-similarity matrix, circulant share, band contrast"),
    "embedding/bimodality": Family(bimodality_family, False,
                                   doc="embedding entries: bimodality coefficient, two modes"),
    "sparsity": Family(sparsity_family, True, modular=False,
                       doc="inactive units, small weights, softmax gap"),
    "dropout/variance": Family(dropout_variance_family, True, modular=False, expensive=True,
                               doc="test-accuracy variance over Monte-Carlo dropout passes"),
    "dropout/drc": Family(drc_family, True, modular=False, expensive=True,
                          doc="Dropout Robustness Curve, rates 0.0-0.9, and its area"),
}

GROUP_ATTRS = {"dropout/drc": {"rates": list(DRC_RATES)}}
