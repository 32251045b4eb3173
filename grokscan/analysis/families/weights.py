"""The weight-only metric families: ``fn(setup, params)`` with ``params`` the parameters of a
block of checkpoints, ``{name: (n, ...)}``; every measure is batched over the block (one FFT or
matrix product for all of its checkpoints). Array layouts: store/SCHEMA.md, "The metrics file".
"""

from __future__ import annotations

import numpy as np

from grokscan.analysis.families.base import (
    Setup,
    basis_matrix,
    neuron_logit_matrix,
    residue_matrix,
)
from grokscan.metrics import embedding as em
from grokscan.metrics import fourier as fm
from grokscan.metrics import nulls
from grokscan.metrics import pca as pm
from grokscan.metrics import weights as wm

HIST_BINS = 40
BIMODAL_SAMPLE = 2048


def _matrices(params) -> dict[str, np.ndarray]:
    """The weight matrices (parameters of two or more axes besides the checkpoint axis)."""
    return {k: v for k, v in params.items() if v.ndim >= 3}


def fourier_family(setup: Setup, params) -> dict[str, np.ndarray]:
    """Fourier norms, FFD and FCR (Furuta et al., arXiv:2402.16726 Eq. 5-6), Gini, spectral
    entropy and key frequencies (Nanda et al., arXiv:2301.05217 §4) of the embedding
    (``*_embed``) and of the neuron-logit map (``*_logit``)."""
    basis = basis_matrix(setup.basis, setup.p)
    out = {}
    for tag, W in (("embed", residue_matrix(setup, params)),
                   ("logit", neuron_logit_matrix(setup, params))):
        norms = fm.fourier_norms(W, basis)
        keys, frac = fm.key_frequencies(norms)
        out.update({
            f"norms_{tag}": norms, f"ffd_{tag}": fm.ffd(norms), f"fcr_{tag}": fm.fcr(norms),
            f"gini_{tag}": fm.gini(norms), f"entropy_{tag}": fm.spectral_entropy(norms),
            f"key_freqs_{tag}": keys, f"key_fraction_{tag}": frac,
        })
    return out


def norms_family(setup: Setup, params) -> dict[str, np.ndarray]:
    """The L2 norm of every parameter (``norm/<name>``) and of all of them (``total``)."""
    out = {name: wm.weight_norm(v, core_ndim=v.ndim - 1) for name, v in params.items()}
    out = {f"norm/{k}": v for k, v in out.items()}
    out["total"] = np.sqrt(sum(v**2 for v in out.values()))
    return out


def last_layer_family(setup: Setup, params) -> dict[str, np.ndarray]:
    """The rows of the last layer (one point per output class) on the PC pairs (0, 1), (2, 3),
    (4, 5), and on the plane of each key frequency of the final checkpoint (arXiv:2411.05353
    §3.3-3.4; what ``grokscan factor`` reads). For a multiplicative basis the planes take the
    rows in discrete-log order (attribute ``plane_order``)."""
    W = neuron_logit_matrix(setup, params)
    n_comp = min(6, *W.shape[-2:])
    res = pm.last_layer_pca(W, n_comp)
    out = {"pairs": res.planes, "evr": res.explained_variance_ratio}
    freqs = setup.key_freqs.get(setup.ops[0], []) if setup.ops else []
    if freqs:  # the first operation's key frequencies, in that operation's basis
        order = setup.order(setup.op_basis[setup.ops[0]])
        out["planes"] = np.stack([pm.frequency_plane(W, k, order=order) for k in freqs], 1)
    return out


def weight_entropy_family(setup: Setup, params) -> dict[str, np.ndarray]:
    """Entropy of each weight matrix's |w| read as a distribution (metrics/weights.py, nats;
    log(n_weights) for uniform magnitudes), and the autocorrelation over the output classes
    of each hidden unit's weights into the last layer (arXiv:2411.05353 Eq. 7): ``autocorr``
    the unit-mean Corr(k), ``autocorr_peak`` the unit-mean largest |Corr(k)|, k ≠ 0."""
    out = {k: wm.weight_entropy(v, core_ndim=v.ndim - 1) for k, v in _matrices(params).items()}
    if setup.neuron_logit_map:
        rows = np.swapaxes(neuron_logit_matrix(setup, params), -1, -2)  # (n, d, C)
        if rows.shape[-1] >= 2:
            out["autocorr"] = wm.weight_autocorrelation(rows).mean(axis=-2)
            out["autocorr_peak"] = wm.autocorrelation_peak(rows)
    return out


def cosine_family(setup: Setup, params) -> dict[str, np.ndarray]:
    """The P x P cosine similarity of the residues' embedding vectors (arXiv:2507.11645 Eq. 2),
    the share of it a circulant explains (a function of a - b, or of the group's difference on
    Z_P^*) and its band contrast (metrics/embedding.py); each with its null, the mean
    (``*_null``) and 95th percentile (``*_null_hi``) over shuffles of the residues."""
    C = em.cosine_matrix(residue_matrix(setup, params))
    order = setup.order()
    out = {"matrix": C.astype(np.float32)}
    # the matrix the scores read: in the group's order (Z_P^*, residue 0 out, for a·b and a/b)
    Cn = C if order is None else C[..., order[:, None], order[None, :]]
    for name, fn in (("circulant_share", em.circulant_share), ("band_contrast", em.band_contrast)):
        # the null: the same matrix with its residues shuffled (seeded permutations), which
        # keeps every entry and loses any order among the residues (metrics/nulls.py)
        null = nulls.shuffled(fn, Cn)
        out.update({name: fn(C, order=order), f"{name}_null": null.mean(axis=-1),
                    f"{name}_null_hi": np.quantile(null, 0.95, axis=-1)})
    return out


FIRST_LAYER = "hidden.0.W"  # the MLP's first hidden layer (d_in, width): a feature per column
COSINE_EDGES = np.linspace(-1.0, 1.0, HIST_BINS + 1)


def feature_cosine_family(setup: Setup, params) -> dict[str, np.ndarray]:
    """The cosine similarity between the first hidden layer's features (each unit's weights
    over the layer's inputs, the columns of ``hidden.0.W``: pixel templates for an image
    task), the measure of arXiv:2507.11645 Eq. 2 on the units instead of the residues: the
    mean |cosine| over distinct pairs (``mean_abs``; ~sqrt(2/(π d_in)) for random features,
    larger when units share a template) and the histogram of the pairs' cosines (``hist``,
    counts over 40 bins from −1 to 1, group attribute ``edges``)."""
    W = params[FIRST_LAYER]  # (n, d_in, width)
    C = em.cosine_matrix(np.swapaxes(W, -1, -2))  # (n, width, width)
    iu = np.triu_indices(C.shape[-1], k=1)
    pairs = C[:, iu[0], iu[1]].astype(np.float64)  # (n, width·(width−1)/2)
    hist = np.stack([np.histogram(row, bins=COSINE_EDGES)[0] for row in pairs])
    return {"mean_abs": np.abs(pairs).mean(axis=1), "hist": hist}


def bimodality_family(setup: Setup, params) -> dict[str, np.ndarray]:
    """The distribution of the embedding's entries (arXiv:2507.11645): Sarle's bimodality
    coefficient (above 5/9 suggests two modes) with its null (``coefficient_null``, and the
    2.5-97.5 % range ``coefficient_null_lo/hi``: as many entries drawn from one Gaussian), the
    means of a two-component Gaussian fit, and a histogram (``hist`` counts over
    ``hist_edges``) for the figure."""
    E = residue_matrix(setup, params)
    x = E.reshape(len(E), -1).astype(np.float64)
    # The mode fit sees a fixed random sample of at most BIMODAL_SAMPLE entries: EM on all of
    # the 12 416 entries of the default embedding cost 0.7 s per checkpoint; the means of two
    # modes are estimated to ~std/sqrt(2048) from the sample.
    fit = x[:, np.random.default_rng(0).permutation(x.shape[1])[:BIMODAL_SAMPLE]]
    modes = em.two_mode_fit(fit, max_iter=100, tol=1e-4)
    lo, hi = x.min(axis=1), x.max(axis=1)
    edges = np.linspace(lo, hi, HIST_BINS + 1, axis=1)
    hist = np.stack([np.histogram(row, bins=e)[0] for row, e in zip(x, edges)])
    # the null: the coefficient of as many entries drawn from one Gaussian (metrics/nulls.py)
    null = np.broadcast_to(nulls.gaussian_bimodality(x.shape[1]), (len(x), 3))
    return {"coefficient": em.embedding_bimodality(E), "coefficient_null": null[:, 0].copy(),
            "coefficient_null_lo": null[:, 1].copy(), "coefficient_null_hi": null[:, 2].copy(),
            "mode_low": modes.means[:, 0],
            "mode_high": modes.means[:, 1], "hist": hist, "hist_edges": edges}




def constellation_family(setup: Setup, params) -> dict[str, np.ndarray]:
    """The residues' embedding vectors (the embedding constellation; Nanda et al.,
    arXiv:2301.05217 Fig. 3) on their own top two principal components (``pca``), on the
    plane of each of the strongest key frequencies of the final embedding (``planes``, the
    cos and sin Fourier directions; group attribute ``plane_freqs``), and on the plane of the
    first of them at the final checkpoint, the same directions for every checkpoint
    (``fixed``: what moves between frames of the animation is the vectors, not the axes).
    Residues in the order of the group attribute ``residues``."""
    E = residue_matrix(setup, params)[:, setup.residues_shown()].astype(np.float64)
    out = {"pca": pm.pca(E, 2).coords.astype(np.float32)}
    if setup.plane_keys:
        out["planes"] = np.stack([pm.frequency_plane(E, k) for k in setup.plane_keys],
                                 1).astype(np.float32)
    if setup.fixed_axes is not None:
        out["fixed"] = ((E - E.mean(axis=1, keepdims=True)) @ setup.fixed_axes).astype(np.float32)
    return out
