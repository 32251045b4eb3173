"""``grokscan report OUT/``: draw the figures of OUT/metrics.h5 and write OUT/report.html.

The page is one self-contained HTML file (every image embedded as a base64 data URI, no
script, no network) that opens from disk: a header with the run's task, model and optimizer,
a summary table, then one section per group of metrics, each figure with a short caption
naming the paper it comes from. The figures are also saved under OUT/figures/ with stable
names (PNG; PDF with ``pdf=True``; the constellation animation as GIF). A section whose metrics
were not computed is left out, and the page lists what was left out and why.

This module is the only one that names and writes figure files; the drawing is in
``grokscan.figures`` (one function per figure, numbers in, Figure out). Nothing is
recomputed from the checkpoints except the embedding constellation, which reads the
embedding itself from the checkpoint file named in the metrics file (read-only) when that
file still exists.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import grokscan  # noqa: E402
from grokscan import figures as F  # noqa: E402
from grokscan.analyze import FORMAT, VERSION, residue_matrix  # noqa: E402
from grokscan.errors import FileFormatError, GrokscanError  # noqa: E402
from grokscan.metrics import fourier as fm  # noqa: E402
from grokscan.metrics.pca import frequency_plane, pca  # noqa: E402
from grokscan.store.reader import Run, open_h5  # noqa: E402
from grokscan.summary import THRESHOLDS, crossings, first_crossing, grokking_delay  # noqa: E402

DPI = 130  # PNG resolution: a full-width figure (10 in) is 1300 px wide
GIF_DPI, GIF_FRAMES, GIF_FPS = 100, 48, 8
N_KEY_PLANES = 3  # constellation rows: the top-2 PCs and the planes of up to 3 key frequencies


# --- reading the metrics file ---------------------------------------------------------------

class MetricsFile:
    """OUT/metrics.h5, opened read-only and validated once (format, version, steps, scalars).

    ``get(path)`` returns a dataset as an array, or None when it is absent; a dataset whose
    first axis is not one row per analysed step is refused with its path.
    """

    def __init__(self, out_dir):
        out_dir = os.fspath(out_dir)
        self.path = os.path.join(out_dir, "metrics.h5")
        if not os.path.isdir(out_dir):
            raise GrokscanError(f"{out_dir}: no such folder (expected the output folder of "
                                "`grokscan analyze`)")
        if not os.path.exists(self.path):
            raise GrokscanError(f"{out_dir} holds no metrics.h5 (make it with `grokscan analyze "
                                f"run.h5 -o {out_dir}`)")
        self.f = open_h5(self.path, what="a grokscan metrics file")
        try:
            self._validate()
        except Exception:
            self.f.close()
            raise

    def _validate(self):
        f, path = self.f, self.path
        fmt = _text(f.attrs.get("format"))
        if fmt != FORMAT:
            raise FileFormatError(f"{path} is not a grokscan metrics file: expected the root "
                                  f"attribute format = {FORMAT!r}, got {fmt!r}")
        version = int(f.attrs.get("format_version", -1))
        if version != VERSION:
            raise FileFormatError(f"{path} has metrics format version {version}; this grokscan "
                                  f"reads version {VERSION}")
        for key in ("steps", "scalars"):
            if key not in f:
                raise FileFormatError(f"{path}: missing /{key} (the file is incomplete)")
        self.steps = f["steps"][()].astype(np.int64)
        self.n = len(self.steps)
        if not self.n:
            raise FileFormatError(f"{path}: /steps is empty (no checkpoint was analysed)")
        self.scalars = {k: self.get(f"scalars/{k}") for k in sorted(f["scalars"])}
        config = _text(f.attrs.get("config", "null"))
        try:
            self.config = json.loads(config) if config else None
            self.key_freqs = json.loads(_text(f.attrs.get("key_freqs", "{}")))
            self.op_basis = json.loads(_text(f.attrs.get("op_basis", "{}")))
            self.ops = json.loads(_text(f.attrs.get("ops", "[]")))
            self.families = json.loads(_text(f.attrs.get("families", "[]")))
        except json.JSONDecodeError as e:
            raise FileFormatError(f"{path}: an attribute is not valid JSON ({e})") from None
        self.p = int(f.attrs.get("p", 0))
        self.basis = _text(f.attrs.get("basis", "additive"))
        self.source = _text(f.attrs.get("source", ""))

    @property
    def task_kind(self) -> str:
        if self.config and "task" in self.config:
            return self.config["task"].get("kind", "modular")
        return "modular" if self.p else "unknown"

    def has(self, path: str) -> bool:
        return isinstance(self.f.get(path), h5py.Dataset)

    def _dataset(self, path: str) -> h5py.Dataset | None:
        ds = self.f.get(path)
        if not isinstance(ds, h5py.Dataset):
            return None
        if ds.ndim == 0 or ds.shape[0] != self.n:
            raise FileFormatError(f"{self.path}: /{path} has shape {ds.shape}; expected one row "
                                  f"per analysed step ({self.n})")
        return ds

    def get(self, path: str) -> np.ndarray | None:
        ds = self._dataset(path)
        return None if ds is None else ds[()]

    def rows(self, path: str, idx) -> np.ndarray:
        """Rows ``idx`` (ascending, distinct) of a per-step dataset, reading only those."""
        return self._dataset(path)[np.asarray(idx, dtype=np.int64)]

    def at_moments(self, paths: list[str], markers: dict, n: int):
        """(idx, [rows of each path at idx]) for ``n`` moments (:func:`moments`). Only those
        rows are read when they are finite (a family computed at every checkpoint); for a
        subset family the moments are taken among the rows it was computed on."""
        idx = moments(self.steps, markers, n)
        arrays = [self.rows(p, idx) for p in paths]
        if not finite_rows(*arrays).all():
            valid = finite_rows(*(self.get(p) for p in paths))
            if valid.any():
                idx = moments(self.steps, markers, n, valid=valid)
                arrays = [self.rows(p, idx) for p in paths]
        return idx, arrays

    def names(self, group: str) -> list[str]:
        """The datasets directly in ``group`` (none if absent), in natural order (h2 < h10)."""
        g = self.f.get(group)
        if not isinstance(g, h5py.Group):
            return []
        keys = [k for k in g if isinstance(g[k], h5py.Dataset)]
        return sorted(keys, key=lambda s: [int(t) if t.isdigit() else t
                                           for t in re.split(r"(\d+)", s)])

    def attr(self, group: str, name: str, default=None):
        g = self.f.get(group)
        return default if g is None else g.attrs.get(name, default)

    def close(self):
        if self.f.id.valid:
            self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Boolean mask over the first axis: the rows where every given array is finite throughout
    (subset families hold NaN on the checkpoints they were not computed on)."""
    mask = None
    for a in arrays:
        a = np.asarray(a, dtype=float)
        ok = np.isfinite(a.reshape(len(a), -1)).all(axis=1)
        mask = ok if mask is None else mask & ok
    return mask


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


# --- what the page is made of ---------------------------------------------------------------

@dataclass
class Item:
    name: str  # stable file name under OUT/figures/, without extension
    title: str
    caption: str  # plain text: what is plotted, the paper, what to look for
    draw: Callable  # () -> Figure or FuncAnimation


@dataclass
class Section:
    key: str
    title: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Context:
    m: MetricsFile
    markers: dict  # event -> step or None (figures._style.EVENTS)
    left_out: list = field(default_factory=list)  # (section title, reason)


def event_markers(m: MetricsFile) -> dict:
    """The steps of memorisation (train accuracy first ≥ 0.99), of the grokking onset (the
    hook for an onset detector: None until one writes its result), and of grokking (test
    accuracy first ≥ 0.99); the distance between the first and the last is
    ``grokscan.summary.grokking_delay``."""
    s = m.scalars
    return {
        "memorisation": first_crossing(m.steps, s["train_acc"], 0.99) if "train_acc" in s else None,
        "onset": None,
        "grokking": first_crossing(m.steps, s["test_acc"], 0.99) if "test_acc" in s else None,
    }


def moments(steps, markers: dict, n: int, valid=None) -> np.ndarray:
    """Indices of ``n`` checkpoints that tell the story: initialisation, memorisation, half-way
    to grokking, grokking, the end (as many of those as exist and ``n`` allows; then, one at a
    time, the row farthest in steps from those chosen), restricted to the ``valid`` rows (a
    boolean mask) of a subset family. Returns ascending distinct row indices."""
    steps = np.asarray(steps)
    rows = np.flatnonzero(np.ones(len(steps), bool) if valid is None else valid)
    if not rows.size:
        return rows
    mem, grok = markers.get("memorisation"), markers.get("grokking")
    targets = [steps[rows[0]], steps[rows[-1]]]
    if n >= 4:
        targets += [t for t in (mem, grok) if t is not None]
    if n >= 5 and mem is not None and grok is not None:
        targets.append((mem + grok) / 2)
    if n == 3 and (grok is not None or mem is not None):
        targets.append(grok if grok is not None else mem)
    chosen = {int(rows[np.argmin(np.abs(steps[rows] - t))]) for t in targets}
    while len(chosen) < min(n, len(rows)):  # fill in: the valid row farthest from the chosen
        picked = np.array(sorted(chosen))
        gap = np.abs(steps[rows][:, None] - steps[picked][None, :]).min(axis=1)
        chosen.add(int(rows[np.argmax(gap)]))
    return np.array(sorted(chosen))


def _sfx(m: MetricsFile, op: str) -> str:
    return f"_{op}" if len(m.ops) > 1 else ""


def _ops(m: MetricsFile) -> list[str]:
    return list(m.ops) if m.ops else [""]


def _op_title(m: MetricsFile, op: str) -> str:
    return f" ({op})" if len(m.ops) > 1 else ""


def _discrete_log_order(m: MetricsFile) -> np.ndarray | None:
    """Residues g^0, g^1, ... (0 left out) when the embedding was analysed in the
    multiplicative basis (mul, div): in that order a·b's structure is that of a cyclic group,
    as a+b's is in the natural order. Otherwise None."""
    if m.basis == "multiplicative" and m.p > 2:
        from grokscan.groups import discrete_log_order

        return discrete_log_order(m.p)
    return None


# --- sections -------------------------------------------------------------------------------

def training_section(ctx: Context) -> Section:
    m, mk = ctx.m, ctx.markers
    sec = Section("training", "Training curves")
    if any(k.endswith(("_loss", "_acc")) for k in m.scalars):
        sec.items.append(Item(
            "training_curves", "Loss and accuracy",
            "Loss (log scale) and accuracy of each split at every analysed checkpoint. "
            "Grokking (Power et al. 2022) is the long plateau of test accuracy after training "
            "accuracy has saturated; the dashed line marks memorisation (train accuracy ≥ 0.99)"
            " and the dash-dotted line grokking (test accuracy ≥ 0.99), and the same lines "
            "mark every figure against step below.",
            lambda: F.training_curves(m.steps, m.scalars, markers=mk)))
    return sec


def fourier_section(ctx: Context) -> Section:
    m, mk = ctx.m, ctx.markers
    sec = Section("fourier", "Fourier representation")
    g = "metrics/fourier"
    if m.has(f"{g}/norms_embed"):
        panels = {f"embedding ({m.basis} basis)": f"{g}/norms_embed",
                  "neuron-logit map W_L": f"{g}/norms_logit"}
        panels = {t: p for t, p in panels.items() if m.has(p)}
        sec.items.append(Item(
            "fourier_heatmap", "Fourier norms over training",
            f"The norm of each Fourier frequency k of the per-residue embedding vectors (and of "
            f"the neuron-logit map W_L), one column per checkpoint, in the {m.basis} basis "
            "(Nanda et al. 2023, arXiv:2301.05217). Memorisation spreads the norm over all "
            "frequencies; generalisation concentrates it on a few key frequencies, which "
            "remain as bright rows while the rest fade.",
            lambda: F.fourier_heatmap(m.steps, {t: np.sqrt(fm.frequency_power(m.get(p)))
                                                for t, p in panels.items()}, markers=mk)))
        names = {"FFD (Fourier frequency density)": "ffd", "FCR (Fourier coefficient ratio)": "fcr",
                 "Gini coefficient": "gini", "spectral entropy": "entropy"}
        measures = {}
        for title, key in names.items():
            curves = {lab: f"{g}/{key}_{tag}" for lab, tag in
                      (("embedding", "embed"), ("neuron-logit map", "logit"))}
            curves = {lab: p for lab, p in curves.items() if m.has(p)}
            if curves:
                measures[title] = curves
        if measures:
            sec.items.append(Item(
                "fourier_measures", "Sparsity of the Fourier spectrum",
                "Four summaries of the spectra above: FFD, the share of cos and sin components "
                "above half the largest (Furuta et al., arXiv:2402.16726, Eq. 5); FCR, the mean "
                "cos/sin balance min(μ/ν, ν/μ) (Eq. 6); the Gini coefficient; and the spectral "
                "entropy. A sparse Fourier solution shows as FFD and entropy falling and Gini "
                "rising; Furuta et al. find that FFD tracks the grokking of addition and FCR "
                "that of multiplication.",
                lambda: F.fourier_measures(
                    m.steps, {t: {lab: m.get(p) for lab, p in c.items()}
                              for t, c in measures.items()}, markers=mk)))
    for op in _ops(m):
        path = f"metrics/neurons/mean_power{_sfx(m, op)}"
        if m.has(path):
            sec.items.append(_neuron_item(ctx, path, op))
    for op in _ops(m):
        sfx = _sfx(m, op)
        keys = [f"{kind}_{split}" for kind in ("loss", "restricted", "excluded")
                for split in ("train", "test")]
        paths = {k: f"metrics/freqloss/{k}{sfx}" for k in keys}
        paths = {k: p for k, p in paths.items() if m.has(p)}
        if paths:
            freqs = m.key_freqs.get(op) if op else None
            sec.items.append(Item(
                f"frequency_loss{sfx}", f"Restricted and excluded loss{_op_title(m, op)}",
                "Nanda et al.'s restricted loss (the logits keep only their key-frequency "
                "components cos and sin of w_k(a+b−c)) and excluded loss (those components "
                "removed), beside the plain train and test loss on the same samples"
                + (f"; key frequencies {', '.join(map(str, freqs))}" if freqs else "") + ". "
                "The restricted loss falls before the test loss does, and the excluded train "
                "loss rises during the clean-up phase, as the memorising solution is removed.",
                lambda paths=paths: F.frequency_loss(
                    m.steps, {k: m.get(p) for k, p in paths.items()}, markers=mk)))
    return sec


def _neuron_item(ctx: Context, path: str, op: str) -> Item:
    m, mk = ctx.m, ctx.markers

    def draw():
        mem = mk.get("memorisation")
        i0 = int(np.argmin(np.abs(m.steps - mem))) if mem is not None else 0
        idx = np.unique([i0, m.n - 1])
        power = m.rows(path, idx)
        if not finite_rows(power).all():  # computed on some checkpoints only
            ok = np.flatnonzero(finite_rows(m.get(path)))
            idx = np.unique([ok[np.argmin(np.abs(ok - i0))], ok[-1]])
            power = m.rows(path, idx)
        after = "after grokking" if mk.get("grokking") is not None else "at the end"
        before = "at memorisation" if mem is not None else "at the start"
        return F.neuron_spectrum(power[0], power[-1], steps=(m.steps[idx[0]], m.steps[idx[-1]]),
                                 labels=(before, after))

    return Item(
        f"neuron_spectrum{_sfx(m, op)}", f"Neuron-activation spectrum{_op_title(m, op)}",
        "The 2-D Fourier power of each hidden neuron's activation over all inputs (a, b), "
        "averaged over neurons, at memorisation and at the end of the run (Nanda et al. 2023). "
        "While the network memorises the power is spread like white noise; after grokking it "
        "sits on a few key frequencies, which show as bright points.", draw)


def constellation_section(ctx: Context) -> Section:
    m, mk = ctx.m, ctx.markers
    sec = Section("constellation", "Embedding constellations")
    if m.task_kind != "modular" or not m.p:
        return sec
    if not m.source or not os.path.exists(m.source):
        ctx.left_out.append((sec.title, f"the checkpoint file {m.source or '(none named)'} "
                             "no longer exists"))
        return sec
    try:
        E, rows = _embedding(m, mk)
    except GrokscanError as e:
        ctx.left_out.append((sec.title, str(e)))
        return sec
    order = _discrete_log_order(m)
    residues = np.arange(m.p) if order is None else order
    E = E[:, residues]  # multiplicative: residue 0 left out, the rest in discrete-log order
    keys = _strongest_keys(m)
    idx = moments(m.steps, mk, 5)
    at = [int(np.flatnonzero(rows == i)[0]) for i in idx]

    def static():
        coords = [pca(E[at], 2).coords]
        coords += [frequency_plane(E[at], k) for k in keys]
        projections = ["PC 2 against PC 1"] + [f"plane of k = {k}" for k in keys]
        return F.constellation(np.stack(coords), steps=m.steps[idx].tolist(),
                               projections=projections, residues=residues)

    def animation():
        final = E[-1] - E[-1].mean(axis=0)
        if keys:  # the plane of the strongest key frequency at the end, fixed for all frames
            k = keys[0]
            theta = 2 * np.pi * k * np.arange(len(residues)) / len(residues)
            axes, _ = np.linalg.qr(np.stack([np.cos(theta) @ final, np.sin(theta) @ final], 1))
            hue = (k * np.arange(len(residues))) % len(residues)
            title = f"plane of k = {k} at the end (colour: {k}·t)"
        else:
            axes, hue, title = pca(final, 2).components.T, None, "final PC 1–2"
        frames = (E - E.mean(axis=1, keepdims=True)) @ axes
        return F.constellation_animation(frames, steps=m.steps[rows].tolist(), title=title,
                                         hue=hue, fps=GIF_FPS)

    dlog = (" Residues are in discrete-log order, 0 left out, since the operation lives on "
            "the multiplicative group." if order is not None else "")
    sec.items.append(Item(
        "constellation", "Constellation of the residue embeddings",
        f"The embedding vectors of the {len(residues)} residues projected on their top two "
        "principal components (first row) and on the plane of each key frequency k, spanned "
        "by the cos and sin Fourier directions (further rows), at five moments from "
        "initialisation to the end; colour and number give the residue. A random cloud turns "
        "into points on a circle ordered by k·t mod P as frequency k is learned (the "
        "constellation picture of the algebra-de-grok tool; Nanda et al. 2023)." + dlog,
        static))
    sec.items.append(Item(
        "constellation_animation", "The constellation over the whole run",
        f"The same vectors at {len(rows)} checkpoints spread over the run, all projected on "
        + (f"the plane of the strongest key frequency k = {keys[0]} of the final embedding "
           f"and coloured by {keys[0]}·t mod {len(residues)}, so that the learned circle "
           "ends as a colour wheel" if keys else
           "the top two principal components of the final embedding")
        + "; the directions are fixed, so what moves between frames is the vectors, not the "
        "axes. Each frame is rescaled to fit (its half-width is in the title).",
        animation))
    return sec


def _strongest_keys(m: MetricsFile) -> list[int]:
    """Up to N_KEY_PLANES key frequencies of the final embedding, strongest first: from the
    fourier family when it ran, else the key frequencies that analysis chose for freqloss."""
    kf = m.get("metrics/fourier/key_freqs_embed")
    if kf is not None and np.isfinite(kf[-1]).all():
        keys = [int(k) for k in kf[-1] if k > 0]
    else:
        keys = [int(k) for k in m.key_freqs.get(m.ops[0] if m.ops else "", [])]
    return keys[:N_KEY_PLANES]


def _embedding(m: MetricsFile, markers: dict) -> tuple[np.ndarray, np.ndarray]:
    """The residue vectors (k, P, d) at the analysed checkpoints the report shows (the five
    moments and up to GIF_FRAMES evenly spread ones), read from the checkpoint file; returns
    them with their row indices into the metrics file's steps (sorted)."""
    with Run(m.source) as run:
        rv = run.residue_vectors
        if not rv:
            raise GrokscanError(f"{m.source} names no per-residue vectors")
        pos = np.searchsorted(run.steps, m.steps)
        pos = np.minimum(pos, max(run.n - 1, 0))
        if not run.n or not np.array_equal(run.steps[pos], m.steps):
            raise GrokscanError(f"{m.source} no longer holds every analysed step")
        frames = np.unique(np.linspace(0, m.n - 1, min(GIF_FRAMES, m.n)).round().astype(int))
        rows = np.union1d(frames, moments(m.steps, markers, 5))
        names = {r["param"] for r in rv}
        params = {k: run.param(k, pos[rows]) for k in names}
    # residue_matrix reads only the residue-vector layout from its context
    E = residue_matrix(SimpleNamespace(residue_vectors=rv), params)
    return E.astype(np.float64), rows


def geometry_section(ctx: Context) -> Section:
    m, mk = ctx.m, ctx.markers
    sec = Section("geometry", "Embedding geometry")
    order = _discrete_log_order(m)
    cos_path = "metrics/embedding/cosine/matrix"
    if m.has(cos_path):
        def cosine():
            idx, (C,) = m.at_moments([cos_path], mk, 4)
            if order is not None and C.shape[-1] >= m.p:
                C = C[:, order[:, None], order[None, :]]
            return F.cosine_matrices(C, steps=m.steps[idx].tolist(), axis_label=(
                "residue (discrete-log order)" if order is not None else "residue"))

        sec.items.append(Item(
            "cosine_similarity", "Cosine similarity of the embedding vectors",
            "The cosine-similarity matrix C(A, B) = A·B / (‖A‖ ‖B‖) of the residues' embedding "
            "vectors (Salah & Yevick, arXiv:2507.11645, Eq. 2) at initialisation, memorisation,"
            " grokking and the end. It is random at initialisation, shows co-diagonal bands "
            "when training accuracy saturates, and full structure after grokking (a circulant "
            "matrix for a+b" + (", here in discrete-log order for a·b" if order is not None
                                else "") + ").", cosine))
    g = "metrics/embedding/bimodality"
    if m.has(f"{g}/hist") and m.has(f"{g}/hist_edges"):
        def histograms():
            idx, (h, e) = m.at_moments([f"{g}/hist", f"{g}/hist_edges"], mk, 4)
            return F.embedding_histograms(h, e, steps=m.steps[idx].tolist())

        sec.items.append(Item(
            "embedding_histograms", "Histogram of embedding entries",
            "The distribution of all embedding entries at the same four moments, as densities "
            "(arXiv:2507.11645). The paper finds one Gaussian at initialisation turning into "
            "two symmetric peaks (near ±0.4 there) by the end of grokking, whatever the "
            "initialisation.", histograms))
    panels = {}
    for title, path in (("circulant share of C", "metrics/embedding/cosine/circulant_share"),
                        ("band contrast of C", "metrics/embedding/cosine/band_contrast"),
                        ("bimodality coefficient", f"{g}/coefficient")):
        if m.has(path):
            panels[title] = {title: path}
    modes = {lab: f"{g}/{k}" for lab, k in (("low mode", "mode_low"), ("high mode", "mode_high"))
             if m.has(f"{g}/{k}")}
    if modes:
        panels["two-mode fit: means"] = modes
    if panels:
        sec.items.append(Item(
            "embedding_structure", "Embedding structure against step",
            "The two figures above as numbers against step: the share of the cosine "
            "matrix's variance that the best circulant explains and the contrast of its "
            "strongest band (in standard deviations of the rest), which rise as the bands of "
            "arXiv:2507.11645 appear. Sarle's bimodality coefficient of the embedding entries "
            "(above 5/9 suggests two modes; a Gaussian gives about 1/3) and the means of a "
            "two-component mixture fitted to them follow the histogram's split into two peaks.",
            lambda: F.embedding_structure(
                m.steps, {t: {lab: m.get(p) for lab, p in c.items()} for t, c in panels.items()},
                markers=mk)))
    return sec


def pca_section(ctx: Context) -> Section:
    m, mk = ctx.m, ctx.markers
    sec = Section("pca", "Principal components of activations and gradients")
    ga = "metrics/pca/activations"
    layers = [n for n in m.names(ga) if re.fullmatch(r"coords_h\d+", n)]
    labels = m.f.get("samples/label")
    if layers and labels is not None:
        def activations():
            idx, coords = m.at_moments([f"{ga}/{n}" for n in layers], mk, 4)
            if coords[0].shape[1] != labels.shape[0]:
                raise FileFormatError(f"{m.path}: /samples/label has {labels.shape[0]} samples "
                                      f"but /{ga}/{layers[0]} has {coords[0].shape[1]}")
            return F.activation_pca(np.stack(coords), labels[()], steps=m.steps[idx].tolist(),
                                    layers=[f"hidden layer {n[len('coords_h'):]}" for n in layers])

        by = "energy class" if m.task_kind == "ising" else "class (the answer c)"
        sec.items.append(Item(
            "activation_pca", "PCA of hidden-layer activations",
            "Each sample's activation vector in each hidden layer, projected on its top two "
            f"principal components and coloured by {by}, at four moments (Hutchison & Yevick, "
            "arXiv:2510.25966, Figs. 16–18). While the network memorises the classes overlap; "
            "class clusters form as grokking proceeds.", activations))
    gg = "metrics/pca/gradients"
    if m.has(f"{gg}/coords") and m.has(f"{gg}/correct"):
        def gradients():
            xy, ok = m.get(f"{gg}/coords"), m.get(f"{gg}/correct")
            tr = m.get(f"{gg}/is_train")
            # a row is drawn if any sample has coordinates and a correct/misclassified flag
            valid = (np.isfinite(xy).all(axis=2) & np.isfinite(ok)).any(axis=1)
            idx = moments(m.steps, mk, 4, valid=valid)
            lab = m.get(f"{gg}/label") if m.has(f"{gg}/label") else None
            lab = None if lab is None or not valid.any() else lab[np.flatnonzero(valid)[0]]
            return F.gradient_pca(xy[idx], ok[idx], steps=m.steps[idx].tolist(),
                                  is_train=None if tr is None else tr[idx], labels=lab)

        coords = m.get(f"{gg}/coords")
        if np.isfinite(coords).all(axis=2).any():
            sec.items.append(Item(
                "gradient_pca", "PCA of per-sample gradients",
                "The gradient of each sample's loss with respect to all weight matrices, "
                "flattened and projected on its top two principal components, at four "
                "checkpoints where it was computed (Hutchison & Yevick, arXiv:2510.25966, "
                "Fig. 14); blue: correctly classified, vermilion: misclassified; dots train, "
                "crosses test (for a few classes, a second row colours them by class). "
                "Misclassified samples form lines away from the centre, correct ones gather "
                "near it.", gradients))
    dims = {s: f"{gg}/dim90_{s}" for s in ("train", "test") if m.has(f"{gg}/dim90_{s}")}
    if dims:
        data = {s: m.get(p) for s, p in dims.items()}
        if any(np.isfinite(v).any() for v in data.values()):
            sec.items.append(Item(
                "gradient_dimension", "Dimension of the per-sample gradients",
                "The number of principal components that explain 90 % of the variance of the "
                "per-sample gradients of train and of test samples, on the checkpoints where it "
                "was computed (Hutchison & Yevick, arXiv:2510.25966, Fig. 15).",
                lambda: F.gradient_dimension(m.steps, data, markers=mk)))
    return sec


def last_layer_section(ctx: Context) -> Section:
    m = ctx.m
    sec = Section("last_layer", "Last-layer principal components")
    g = "metrics/pca/last_layer"
    if m.has(f"{g}/pairs"):
        pairs = m.get(f"{g}/pairs")
        ok = np.flatnonzero(finite_rows(pairs))
        if ok.size:
            i = ok[-1]
            evr = m.get(f"{g}/evr")
            planes = m.get(f"{g}/planes")
            freqs = m.attr(g, "plane_freqs")
            freqs = json.loads(_text(freqs)) if isinstance(freqs, (str, bytes)) else (
                None if freqs is None else [int(k) for k in np.ravel(freqs)])
            use_planes = planes is not None and freqs and len(freqs) == planes.shape[1]
            sec.items.append(Item(
                "last_layer_pca", "Even against odd: the last layer's PC planes",
                "The rows of the last layer's weight matrix, one point per output class, on "
                "its principal-component pairs PC0–PC1, PC2–PC3 and PC4–PC5 and on the plane "
                "of each learned frequency, at the last checkpoint (Salah & Yevick, "
                "arXiv:2411.05353 §3.3–3.4). A frequency k coprime to P draws a circle of P "
                "points; if gcd(k, P) = d > 1 the points fall into P/d clusters of d points, "
                "which reads off a factor of P.",
                lambda: F.last_layer_pca(
                    pairs[i], evr[i] if evr is not None else np.full(6, np.nan),
                    step=int(m.steps[i]), planes=planes[i] if use_planes else None,
                    plane_freqs=freqs if use_planes else None)))
    return sec


def weights_section(ctx: Context) -> Section:
    m, mk = ctx.m, ctx.markers
    sec = Section("weights", "Weights, sparsity and dropout")
    panels, parts = {}, []
    ent = "metrics/entropy/weights"
    entropy = {n: f"{ent}/{n}" for n in m.names(ent) if not n.startswith("autocorr")}
    if entropy:
        panels["weight entropy"] = entropy
        parts.append("the entropy of each weight matrix's normalised weights (Salah & Yevick, "
                     "arXiv:2411.05353 §3.6: it falls as training accuracy rises, rises during "
                     "grokking and falls after)")
    norms = {n: f"metrics/norms/norm/{n}" for n in m.names("metrics/norms/norm")}
    if m.has("metrics/norms/total"):
        norms["all"] = "metrics/norms/total"
    elif "weight_norm" in m.scalars:
        norms["all"] = "scalars/weight_norm"
    if norms:
        panels["weight norm (L2)"] = norms
        parts.append("the L2 norm of each parameter and of all (weight decay shrinks it once "
                     "a general solution takes over)")
    inactive = {f"hidden {n[len('inactive_h'):]}": f"metrics/sparsity/{n}"
                for n in m.names("metrics/sparsity") if re.fullmatch(r"inactive_h\d+", n)}
    if inactive:
        panels["inactive units (share)"] = inactive
        parts.append("the share of hidden units inactive on every input (arXiv:2507.11645: it "
                     "falls while the network memorises, then rises)")
    small = {n: f"metrics/sparsity/small/{n}" for n in m.names("metrics/sparsity/small")}
    if small:
        panels["small weights |w| < 0.01 (share)"] = small
        parts.append("the share of weights with |w| < 0.01 in each matrix (Hutchison & Yevick, "
                     "arXiv:2510.25966)")
    peak = next((p for p in ("metrics/entropy/autocorr_peak",
                             "metrics/entropy/weights/autocorr_peak") if m.has(p)), None)
    if peak:
        panels["weight autocorrelation peak"] = {"last layer": peak}
        parts.append("the largest periodic autocorrelation of the weights into each output "
                     "node, averaged over nodes (arXiv:2411.05353, Eq. 7)")
    if panels:
        caption = ("Against step: " + "; ".join(parts) + ". Each panel shows one curve per "
                   "layer, with the event markers of the training curves.")
        sec.items.append(Item(
            "weight_statistics", "Weight statistics", caption,
            lambda: F.weight_statistics(m.steps, {t: {lab: m.get(p) for lab, p in c.items()}
                                                  for t, c in panels.items()}, markers=mk)))
    gv = "metrics/dropout/variance"
    if m.has(f"{gv}/variance"):
        var, mean = m.get(f"{gv}/variance"), m.get(f"{gv}/mean")
        if np.isfinite(var).any():
            sec.items.append(Item(
                "dropout_variance", "Variance under dropout",
                "Test accuracy over repeated stochastic forward passes with dropout active at "
                "frozen weights: its variance and its mean, on the checkpoints where it was "
                "computed (Salah & Yevick, arXiv:2507.11645). The variance is near zero while "
                "the network memorises, peaks at the onset of generalisation and falls back "
                "after.",
                lambda: F.dropout_variance(m.steps, var, mean if mean is not None
                                           else np.full(m.n, np.nan), markers=mk)))
    gd = "metrics/dropout/drc"
    if m.has(f"{gd}/accuracy"):
        acc = m.get(f"{gd}/accuracy")
        valid = finite_rows(acc)
        if valid.any():
            rates = m.attr(gd, "rates")
            rates = (json.loads(_text(rates)) if isinstance(rates, (str, bytes))
                     else np.arange(acc.shape[1]) / 10 if rates is None else np.ravel(rates))

            def drc():
                idx = moments(m.steps, mk, 6, valid=valid)
                return F.dropout_robustness(rates, acc[idx], steps=m.steps[idx].tolist())

            sec.items.append(Item(
                "dropout_robustness", "Dropout Robustness Curve",
                "Test accuracy against the dropout rate applied at inference, at up to six "
                "checkpoints from early (light) to late (dark): the Dropout Robustness Curve of "
                "Salah & Yevick (arXiv:2507.11645). While the network memorises the curve is "
                "flat near chance; after grokking accuracy is unaffected below a rate of about "
                "0.2 and holds until about 0.5.", drc))
    return sec


def output_section(ctx: Context) -> Section:
    m, mk = ctx.m, ctx.markers
    sec = Section("output", "Softmax outputs")
    if m.has("metrics/sparsity/softmax_gap"):
        gap = m.get("metrics/sparsity/softmax_gap")
        per = m.get("metrics/sparsity/softmax_gap_class")
        names = ([f"energy class {c}" for c in range(per.shape[1])]
                 if per is not None and m.task_kind == "ising" else None)
        sec.items.append(Item(
            "softmax_gap", "Softmax gap",
            "The mean over samples of P_max − P_second, the gap between the two largest "
            "softmax probabilities, over all samples and per class (Hutchison & Yevick, "
            "arXiv:2510.25966). In the paper the gap dips during grokking.",
            lambda: F.softmax_gap(m.steps, gap, per, markers=mk, class_names=names)))
    return sec


SECTIONS = (training_section, fourier_section, constellation_section, geometry_section,
            pca_section, last_layer_section, weights_section, output_section)
KNOWN_FIGURES = ("training_curves", "fourier_heatmap", "fourier_measures", "neuron_spectrum",
                 "frequency_loss", "constellation", "constellation_animation",
                 "cosine_similarity", "embedding_histograms", "embedding_structure",
                 "activation_pca", "gradient_pca", "gradient_dimension", "last_layer_pca",
                 "weight_statistics", "dropout_variance", "dropout_robustness", "softmax_gap")
# why a section can be missing, shown at the foot of the page
MISSING = {
    "fourier": "no Fourier metrics (the fourier, neurons and freqloss families; modular only)",
    "geometry": "no embedding-geometry metrics (cosine matrix, bimodality)",
    "pca": "no activation or gradient PCA metrics",
    "last_layer": "no last-layer PCA metrics (modular only)",
    "weights": "no weight, sparsity or dropout metrics",
    "output": "no softmax-gap metrics",
}


def build(ctx: Context) -> list[Section]:
    """The sections that have something to show, in page order; the others are recorded in
    ``ctx.left_out`` with the reason."""
    out = []
    for make in SECTIONS:
        sec = make(ctx)
        if sec.items:
            out.append(sec)
        elif sec.key in MISSING:
            ctx.left_out.append((sec.title, MISSING[sec.key]))
    return out


# --- writing --------------------------------------------------------------------------------

def render(out_dir, *, pdf: bool = False, quiet: bool = False, dpi: int = DPI) -> dict:
    """Draw every figure that OUT/metrics.h5 allows; write OUT/figures/<name>.png (and .pdf
    with ``pdf``; the animation as .gif) and OUT/report.html. Returns a summary dict."""
    out_dir = os.fspath(out_dir)
    with MetricsFile(out_dir) as m:
        ctx = Context(m, event_markers(m))
        sections = build(ctx)
        fig_dir = os.path.join(out_dir, "figures")
        os.makedirs(fig_dir, exist_ok=True)
        _remove_stale(fig_dir)
        items = [it for s in sections for it in s.items]
        images, files = {}, []
        for it in tqdm(items, desc="report", unit="fig", disable=quiet):
            mime, data, written = _save(it.draw(), fig_dir, it.name, pdf=pdf, dpi=dpi)
            images[it.name] = (mime, data)
            files += written
        page = _html(m, ctx, sections, images)
    path = os.path.join(out_dir, "report.html")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(path + ".tmp", path)
    return {"html": path, "figures": files, "sections": [s.key for s in sections],
            "left_out": ctx.left_out}


def _remove_stale(fig_dir: str) -> None:
    """Remove the figures of an earlier report, which this one might not redraw."""
    per_op = ("neuron_spectrum_", "frequency_loss_")
    for name in os.listdir(fig_dir):
        stem, _, ext = name.partition(".")
        if ext in ("png", "pdf", "gif") and (stem in KNOWN_FIGURES or stem.startswith(per_op)):
            os.remove(os.path.join(fig_dir, name))


def _save(obj, fig_dir: str, name: str, *, pdf: bool, dpi: int):
    """Write one figure (PNG, and PDF if asked) or animation (GIF); return the bytes to embed."""
    if isinstance(obj, FuncAnimation):
        path = os.path.join(fig_dir, name + ".gif")
        fig = obj._fig
        obj.save(path, writer=PillowWriter(fps=GIF_FPS), dpi=GIF_DPI)
        fig.clear()
        with open(path, "rb") as fh:
            return "image/gif", fh.read(), [path]
    fig = obj
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    path = os.path.join(fig_dir, name + ".png")
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
    written = [path]
    if pdf:
        written.append(os.path.join(fig_dir, name + ".pdf"))
        fig.savefig(written[-1], format="pdf", facecolor="white")
    fig.clear()  # the figure is not registered with pyplot: clearing it frees its artists
    return "image/png", buf.getvalue(), written


def run_line(config: dict | None) -> str:
    """The run's task, model and optimizer in one line."""
    if not config:
        return "a run recorded without a configuration"
    t, md, o = config.get("task", {}), config.get("model", {}), config.get("train", {})
    if t.get("kind", "modular") == "modular":
        ops = list(t.get("ops", []))
        what = ops[0] if len(ops) == 1 else f"{', '.join(ops)} (one multi-task model)"
        task = f"{what} mod {t.get('p')}, train fraction {t.get('frac')}"
        if t.get("exclude_zero"):
            task += ", operands from Z_P^*"
    else:
        task = "Ising energy classes"
        if t.get("eval_inverted"):
            task += " (and the n-inverted test set)"
    act = md.get("activation", "relu")
    if md.get("kind") == "transformer":
        model = (f"transformer, d_model {md.get('d_embed')}, {md.get('n_heads')} heads, "
                 f"d_mlp {md.get('width')} {act}, {md.get('depth')} block(s)")
    else:
        inp = ("one-hot" if md.get("input") == "onehot"
               else f"embedding {md.get('d_embed')} ({md.get('input', 'concat')})")
        if t.get("kind") == "ising":
            inp = f"{md.get('d_in') or 'L²'} spins"
        model = f"MLP, {inp} → {md.get('depth')} × {md.get('width')} {act}"
        if md.get("dropout"):
            model += f", dropout {md.get('dropout')}"
    name = {"adam": "Adam (L2 weight decay)"}.get(o.get("optimizer"), "AdamW")
    opt = (f"{name} lr {o.get('lr')}, weight decay {o.get('wd')}, betas ({o.get('beta1')}, "
           f"{o.get('beta2')}), {o.get('steps')} steps"
           + (f", batch {o['batch_size']}" if o.get("batch_size") else ", full batch")
           + f", seed {o.get('seed')}")
    return f"{task} · {model} · {opt}"


def summary(m: MetricsFile, markers: dict) -> dict:
    """The numbers of the summary table."""
    final = {k: float(v[-1]) for k, v in m.scalars.items()
             if k.endswith(("_acc", "_loss")) and len(v)}
    return {"crossings": crossings(m.steps, m.scalars),
            "grokking_delay": grokking_delay(m.steps, m.scalars),
            "final": final, "key_freqs": m.key_freqs, "onset": markers.get("onset"),
            "steps": (int(m.steps[0]), int(m.steps[-1])), "n": m.n}


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:0;background:#f6f6f4;color:#222;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:1.2em 1.6em 3em;background:#fff}
h1{font-size:1.55em;margin:.3em 0 .1em}h2{font-size:1.25em;margin:1.8em 0 .5em;
 border-bottom:1px solid #ddd;padding-bottom:.2em}
.run{color:#444;margin:.2em 0 1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.95em}
td,th{padding:.25em .8em;border-bottom:1px solid #e4e4e4;text-align:right}
th:first-child,td:first-child{text-align:left}
nav{font-size:.92em;margin:1em 0}nav a{margin-right:1em;color:#2a5d9f;text-decoration:none}
figure{margin:1.2em 0 2em}figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:.93em;color:#333;max-width:60em;margin:.5em auto 0}
.facts{font-size:.95em}.facts li{margin:.15em 0}.foot{font-size:.85em;color:#666;margin-top:3em}
"""


def _html(m: MetricsFile, ctx: Context, sections: list[Section], images: dict) -> str:
    esc = html.escape
    s = summary(m, ctx.markers)
    name = os.path.basename(m.source) if m.source else os.path.basename(os.path.dirname(m.path))
    rows = []
    for key, label in (("train_acc", "train accuracy"), ("test_acc", "test accuracy")):
        if key in s["crossings"]:
            cells = "".join(f"<td>{'—' if v is None else v}</td>"
                            for v in s["crossings"][key].values())
            final = s["final"].get(key)
            rows.append(f"<tr><td>{label}</td>{cells}<td>"
                        f"{'—' if final is None else f'{final:.4f}'}</td></tr>")
    head = "".join(f"<th>step ≥ {t}</th>" for t in THRESHOLDS)
    table = (f"<table><tr><th></th>{head}<th>final</th></tr>{''.join(rows)}</table>"
             if rows else "")
    facts = []
    delay = s["grokking_delay"]
    facts.append(f"grokking delay (train ≥ 0.99 → test ≥ 0.99): "
                 f"{'—' if delay is None else f'{delay} steps'}")
    if s["onset"] is not None:
        facts.append(f"grokking onset (detector): step {s['onset']}")
    for op, ks in s["key_freqs"].items():
        if ks:
            facts.append(f"key frequencies{f' ({op})' if len(s['key_freqs']) > 1 else ''}, "
                         f"final checkpoint: {', '.join(map(str, ks))}")
    losses = ", ".join(f"{k} {v:.3g}" for k, v in s["final"].items() if k.endswith("_loss"))
    if losses:
        facts.append(f"final loss: {losses}")
    facts.append(f"{s['n']} checkpoints analysed, steps {s['steps'][0]}–{s['steps'][1]}"
                 + (f"; metric families: {', '.join(m.families)}" if m.families else ""))
    nav = "".join(f'<a href="#{sec.key}">{esc(sec.title)}</a>' for sec in sections)
    body = []
    for sec in sections:
        body.append(f'<section id="{sec.key}"><h2>{esc(sec.title)}</h2>')
        for it in sec.items:
            mime, data = images[it.name]
            uri = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            body.append(f'<figure id="{it.name}"><img src="{uri}" alt="{esc(it.title)}">'
                        f"<figcaption><b>{esc(it.title)}.</b> {esc(it.caption)}</figcaption>"
                        "</figure>")
        body.append("</section>")
    left = "".join(f"<li>{esc(t)}: {esc(r)}</li>" for t, r in ctx.left_out)
    foot = ((f"<p>Left out of this report:</p><ul>{left}</ul>" if left else "")
            + f"<p>grokscan {esc(grokscan.__version__)} · metrics {esc(os.path.abspath(m.path))} "
            f"· checkpoints {esc(m.source or '—')} · the figures are also in "
            f"{esc(os.path.join(os.path.dirname(os.path.abspath(m.path)), 'figures'))}</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>grokscan report — {esc(name)}</title>
<style>{CSS}</style></head>
<body><main>
<h1>grokscan report — {esc(name)}</h1>
<p class="run">{esc(run_line(m.config))}</p>
{table}
<ul class="facts">{''.join(f'<li>{esc(f)}</li>' for f in facts)}</ul>
<nav>{nav}</nav>
{''.join(body)}
<div class="foot">{foot}</div>
</main></body></html>
"""
