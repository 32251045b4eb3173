"""The report's sections on a task with residues mod P: the Fourier representation, the
embedding constellations and geometry, the last layer's principal components."""

from __future__ import annotations

import re

import numpy as np

from grokscan import figures as F
from grokscan.figures.geometry import LABEL_MAX
from grokscan.metrics import fourier as fm
from grokscan.reporting import words as W
from grokscan.reporting.base import (
    GIF_FPS,
    GIF_FRAMES,
    Item,
    Page,
    Section,
    at_moments,
    discrete_log_order,
    finite_rows,
    op_title,
    ops_of,
    sfx,
)
from grokscan.reporting.maps import attention_maps_item, neuron_maps_item
from grokscan.store.metrics import MetricsFile

RERUN = "re-run grokscan analyze to compute it"  # what an older metrics file lacks


def _keys(m: MetricsFile) -> list[int]:
    """The key frequencies of the first operation (those the analysis used)."""
    ks = next(iter(m.key_freqs.values()), None) if m.key_freqs else None
    return [int(k) for k in ks or []]


def fourier_section(page: Page) -> Section:
    m, mk = page.m, page.markers
    sec = Section("fourier", "Fourier representation")
    g = "metrics/fourier"
    if m.has(f"{g}/norms_embed"):
        panels = {f"embedding ({m.basis} basis)": f"{g}/norms_embed",
                  "neuron-logit map W_L": f"{g}/norms_logit"}
        panels = {t: p for t, p in panels.items() if m.has(p)}
        sec.items.append(Item(
            "fourier_heatmap", "Fourier norms over training",
            f"The norm of each Fourier frequency k of the per-residue embedding vectors (and of "
            f"the neuron-logit map W_L), one column per checkpoint, in the {m.basis} basis. "
            + W.concentration_words(m.steps, fm.frequency_power(m.get(f"{g}/norms_embed")),
                                    _keys(m), mk),
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
                "rising. " + _tracks_words(m, mk, measures) + " "
                + _measures_words(m, mk, measures),
                lambda: F.fourier_measures(
                    m.steps, {t: {lab: m.get(p) for lab, p in c.items()}
                              for t, c in measures.items()}, markers=mk)))
    for op in ops_of(m):
        path = f"metrics/neurons/mean_power{sfx(m, op)}"
        if m.has(path):
            sec.items.append(_neuron_item(page, path, op))
        sec.items += [it for it in (neuron_maps_item(page, op), attention_maps_item(page, op))
                      if it is not None]
    for op in ops_of(m):
        sec.items += _freqloss_items(page, op)
    return sec


def _tracks_words(m: MetricsFile, mk: dict, measures: dict) -> str:
    """Furuta et al.'s finding, FFD tracks the grokking of addition and FCR that of
    multiplication, read on the measure of this run's basis: does most of its change fall
    between memorisation and grokking?"""
    name = "FCR" if m.basis == "multiplicative" else "FFD"
    curve = next((c.get("embedding") for t, c in measures.items() if t.startswith(name)), None)
    if curve is None:
        return ""
    agrees, evidence = W.tracks_words(m.steps, m.get(curve), mk,
                                      what=f"the embedding's {name}")
    return W.claim("Furuta et al. (arXiv:2402.16726)",
                   f"{name} tracks the grokking of "
                   + ("multiplication" if name == "FCR" else "addition"), agrees, evidence)


def _measures_words(m: MetricsFile, mk: dict, measures: dict) -> str:
    """The course of the embedding's FFD, Gini and entropy, and Gini against initialisation."""
    parts = []
    for title, curves in measures.items():
        if "embedding" in curves and not title.startswith("FCR"):
            parts.append(W.course(m.steps, m.get(curves["embedding"]),
                                  what=f"the embedding's {title.split(' (')[0]}"))
    text = ("In this run " + "; ".join(parts) + ".") if parts else ""
    gini = {f"gini_{t}": f"the Gini coefficient of the {w}" for t, w in
            (("embed", "embedding"), ("logit", "neuron-logit map"))
            if m.has(f"metrics/fourier/gini_{t}")}
    init = m.attr("metrics/fourier", "init")
    if not isinstance(init, dict):
        return text + (" The values at initialisation, the null of the Gini coefficient, are "
                       f"not in this metrics file: {RERUN}.")
    step = int(m.numbers("metrics/fourier", "init_step", [0], whole=True, lo=0)[0])
    said = [W.against_init(v if isinstance(v := init.get(k), (int, float)) else None,
                           float(m.get(f"metrics/fourier/{k}")[-1]), what=w, init_step=step)
            for k, w in gini.items()]
    said = [x for x in said if x]
    return text + (" Against initialisation (the null): " + "; ".join(said) + "." if said
                   else "")


def _freqloss_items(page: Page, op: str) -> list[Item]:
    """Restricted and excluded loss, and the trig components, of one operation."""
    m, mk = page.m, page.markers
    items = []
    suffix = sfx(m, op)
    keys = [f"{kind}_{split}" for kind in ("loss", "restricted", "excluded")
            for split in ("train", "test")]
    paths = {k: f"metrics/freqloss/{k}{suffix}" for k in keys}
    paths = {k: p for k, p in paths.items() if m.has(p)}
    if paths:
        freqs = m.key_freqs.get(op) if op else None
        items.append(Item(
            f"frequency_loss{suffix}", f"Restricted and excluded loss{op_title(m, op)}",
            "Nanda et al.'s restricted loss (the logits keep only their key-frequency "
            "components cos and sin of w_k(a+b−c)) and excluded loss (those components "
            "removed), beside the plain train and test loss on the same samples"
            + (f"; key frequencies {', '.join(map(str, freqs))}" if freqs else "") + ". "
            + W.freqloss_words(m.steps, {k: m.get(p) for k, p in paths.items()}, mk,
                               test_acc=m.run_scalars.get("test_acc"), run_steps=m.run_steps),
            lambda paths=paths: F.frequency_loss(
                m.steps, {k: m.get(p) for k, p in paths.items()}, markers=mk)))
    trig = _trig_item(page, op)
    return items + ([trig] if trig is not None else [])


def _trig_item(page: Page, op: str) -> Item | None:
    """Nanda's trig components: the coefficient of cos(w_k(a+b−c)) per key frequency."""
    m, mk = page.m, page.markers
    suffix = sfx(m, op)
    found = [re.fullmatch(rf"trig_k(\d+){re.escape(suffix)}", n)
             for n in m.names("metrics/freqloss")]
    paths = {int(f.group(1)): f"metrics/freqloss/{f.group(0)}" for f in found if f}
    if not paths:
        return None
    return Item(
        f"trig_coefficients{suffix}", f"Trig components of the logits{op_title(m, op)}",
        "The coefficient of the unit direction cos(w_k(a+b−c)) over the (a, b, c) cube in the "
        f"logits, for each key frequency k ({', '.join(map(str, sorted(paths)))}), against "
        "step. " + W.trig_words(m.steps, {k: m.get(p) for k, p in paths.items()},
                               m.run_scalars.get("test_loss"), m.run_steps, mk,
                               test_acc=m.run_scalars.get("test_acc")),
        lambda: F.trig_coefficients(m.steps, {k: m.get(p) for k, p in paths.items()},
                                    markers=mk))


def _neuron_item(page: Page, path: str, op: str) -> Item:
    m, mk = page.m, page.markers

    mem = mk.get("memorisation")
    i0 = int(np.argmin(np.abs(m.steps - mem))) if mem is not None else 0
    idx = np.unique([i0, m.n - 1])
    power = m.rows(path, idx)
    if not finite_rows(power).all():  # computed on some checkpoints only
        ok = np.flatnonzero(finite_rows(m.get(path)))
        idx = np.unique([ok[np.argmin(np.abs(ok - i0))], ok[-1]])
        power = m.rows(path, idx)
    said = W.spectrum_words(power[0], power[-1],
                            steps=(int(m.steps[idx[0]]), int(m.steps[idx[-1]])))

    def draw():
        after = "after grokking" if mk.get("grokking") is not None else "at the end"
        before = "at memorisation" if mem is not None else "at the start"
        return F.neuron_spectrum(power[0], power[-1], steps=(m.steps[idx[0]], m.steps[idx[-1]]),
                                 labels=(before, after))

    return Item(
        f"neuron_spectrum{sfx(m, op)}", f"Neuron-activation spectrum{op_title(m, op)}",
        "The 2-D Fourier power of each hidden neuron's activation over all inputs (a, b), "
        "averaged over neurons, at memorisation and at the end of the run. " + said, draw)


def constellation_section(page: Page) -> Section:
    m, mk = page.m, page.markers
    sec = Section("constellation", "Embedding constellations")
    g = "metrics/embedding/constellation"
    if not m.has(f"{g}/pca"):
        if m.version == 1 and m.p:  # version 1 drew these from the checkpoint file
            page.left_out.append((sec.title, "this metrics file (format version 1) holds no "
                                  "constellation; analyse the run again to draw it"))
        return sec
    residues = m.numbers(g, "residues", np.arange(m.p), whole=True, lo=0, hi=max(m.p - 1, 0))
    keys = m.numbers(g, "plane_freqs", [], whole=True, lo=1, hi=m.p // 2).tolist()
    paths = [f"{g}/pca"] + ([f"{g}/planes"] if keys and m.has(f"{g}/planes") else [])
    idx, arrays = at_moments(m, paths, mk, 5)
    order = discrete_log_order(m)

    def static():
        coords = [arrays[0]] + ([arrays[1][:, j] for j in range(len(keys))] if len(arrays) > 1
                                else [])
        projections = ["PC 2 against PC 1"] + [f"plane of k = {k}" for k in keys][
            : len(coords) - 1]
        t, n = np.arange(len(residues)), len(residues)  # t: the place in the group's order
        hues = [t] + [(k * t) % n for k in keys][: len(coords) - 1]
        return F.constellation(np.stack(coords), steps=m.steps[idx].tolist(),
                               projections=projections, residues=residues, hues=np.stack(hues))

    t_is = ("t the residue's discrete logarithm (residues in discrete-log order, 0 left out, "
            "since the operation lives on the multiplicative group)" if order is not None
            else "t the residue")
    numbers = " Numbers give the residue." if len(residues) <= LABEL_MAX else ""
    said = " " + W.constellation_words(arrays[0][0], arrays[0][-1], steps=(
        int(m.steps[idx[0]]), int(m.steps[idx[-1]])))
    sec.items.append(Item(
        "constellation", "Constellation of the residue embeddings",
        f"The embedding vectors of the {len(residues)} residues projected on their top two "
        "principal components (first row) and on the plane of each of the strongest key "
        "frequencies k of the final embedding, spanned by the cos and sin Fourier directions "
        f"(further rows), at {len(idx)} moments from initialisation to the end. Colour: t in the "
        f"first row and k·t mod {len(residues)} in the plane of k, {t_is}: as frequency k is "
        "learned, a random cloud turns into points on a circle ordered by k·t, and its colours "
        "into a wheel (the constellation picture of the algebra-de-grok tool)." + numbers
        + said, static))
    if m.has(f"{g}/fixed"):
        sec.items.append(_animation_item(m, g, residues))
    return sec


def _animation_item(m: MetricsFile, g: str, residues: np.ndarray) -> Item:
    k = int(m.numbers(g, "fixed_freq", [0], whole=True, lo=0, hi=m.p // 2)[0])
    frames = np.unique(np.linspace(0, m.n - 1, min(GIF_FRAMES, m.n)).round().astype(int))
    n = len(residues)

    def animation():
        xy = m.rows(f"{g}/fixed", frames)
        hue = (k * np.arange(n)) % n if k else None
        title = f"plane of k = {k} at the end (colour: {k}·t)" if k else "final PC 1–2"
        return F.constellation_animation(xy, steps=m.steps[frames].tolist(), title=title,
                                         hue=hue, fps=GIF_FPS)

    return Item(
        "constellation_animation", "The constellation over the whole run",
        f"The same vectors at {len(frames)} checkpoints spread over the run, all projected on "
        + (f"the plane of the strongest key frequency k = {k} of the final embedding "
           f"and coloured by {k}·t mod {n}, so that the learned circle "
           "ends as a colour wheel" if k else
           "the top two principal components of the final embedding")
        + "; the directions are fixed, so what moves between frames is the vectors, not the "
        "axes. Each frame is rescaled to fit (its half-width is in the title).",
        animation)


def geometry_section(page: Page) -> Section:
    m, mk = page.m, page.markers
    sec = Section("geometry", "Embedding geometry")
    order = discrete_log_order(m)
    cos_path = "metrics/embedding/cosine/matrix"
    if m.has(cos_path):
        shown, _ = at_moments(m, [cos_path], mk, 4)

        def cosine():
            idx, (C,) = at_moments(m, [cos_path], mk, 4)
            if order is not None and C.shape[-1] >= m.p:
                C = C[:, order[:, None], order[None, :]]
            return F.cosine_matrices(C, steps=m.steps[idx].tolist(), axis_label=(
                "residue (discrete-log order)" if order is not None else "residue"))

        sec.items.append(Item(
            "cosine_similarity", "Cosine similarity of the embedding vectors",
            "The cosine-similarity matrix C(A, B) = A·B / (‖A‖ ‖B‖) of the residues' embedding "
            "vectors (Salah & Yevick, arXiv:2507.11645, Eq. 2) at "
            + ", ".join(W.moment_names(m.steps[shown], mk)) + ". "
            + _cosine_claim(m, mk, order is not None) + " " + _structure_words(m, mk), cosine))
    g = "metrics/embedding/bimodality"
    if m.has(f"{g}/hist") and m.has(f"{g}/hist_edges"):
        def histograms():
            idx, (h, e) = at_moments(m, [f"{g}/hist", f"{g}/hist_edges"], mk, 4)
            return F.embedding_histograms(h, e, steps=m.steps[idx].tolist())

        sec.items.append(Item(
            "embedding_histograms", "Histogram of embedding entries",
            "The distribution of all embedding entries at the same four moments, as densities. "
            + _bimodality_claim(m, mk) + " " + _bimodality_words(m), histograms))
    panels = _structure_panels(m)
    if panels:
        sec.items.append(Item(
            "embedding_structure", "Embedding structure against step",
            "The two figures above as numbers against step: the share of the cosine "
            "matrix's variance that the best circulant explains and the contrast of its "
            "strongest band (in standard deviations of the rest), the bands of "
            "arXiv:2507.11645. Sarle's bimodality coefficient of the embedding entries "
            "(above 5/9 suggests two modes; a Gaussian gives about 1/3) and the means of a "
            "two-component mixture fitted to them, which part when the entries split into two "
            "peaks. "
            "Each measure is drawn with its null (the curve named null): the same matrix with "
            "its residues shuffled, or as many Gaussian entries. " + _structure_words(m, mk)
            + " " + _bimodality_words(m),
            lambda: F.embedding_structure(
                m.steps, {t: {lab: m.get(p) for lab, p in c.items()} for t, c in panels.items()},
                markers=mk)))
    return sec


def turning_frequency(xy) -> int | None:
    """The frequency k in 1..C−1 at which C points (C, 2), class t at angle about 2πkt/C, turn
    around their centre: the largest Fourier component of x + iy over t (None when a point is
    not finite). For the colours k·t mod C under which such a circle reads as a colour wheel.

    Examples
    --------
    >>> import numpy as np
    >>> theta = 2 * np.pi * 3 * np.arange(11) / 11
    >>> turning_frequency(np.stack([np.cos(theta), np.sin(theta)], axis=1))
    3
    """
    xy = np.asarray(xy, dtype=float)
    if len(xy) < 3 or not np.isfinite(xy).all():
        return None
    z = xy[:, 0] + 1j * xy[:, 1]
    spectrum = np.abs(np.fft.fft(z - z.mean()))  # component k: Σ_t z_t e^{−2πikt/C}
    return int(np.argmax(spectrum[1:]) + 1)


def _structure_panels(m: MetricsFile) -> dict:
    """{title: {label: path}} of the embedding-structure figure, each measure with its null."""
    g = "metrics/embedding/bimodality"
    panels = {}
    for title, path in (("circulant share of C", "metrics/embedding/cosine/circulant_share"),
                        ("band contrast of C", "metrics/embedding/cosine/band_contrast"),
                        ("bimodality coefficient", f"{g}/coefficient")):
        if m.has(path):
            panels[title] = {title: path}
            if m.has(path + "_null_hi"):  # the null's upper edge, drawn beside the measure
                panels[title]["null: " + ("residues shuffled, 95th percentile" if "cosine" in
                                          path else "Gaussian, 97.5 %")] = path + "_null_hi"
    modes = {lab: f"{g}/{k}" for lab, k in (("low mode", "mode_low"), ("high mode", "mode_high"))
             if m.has(f"{g}/{k}")}
    if modes:
        panels["two-mode fit: means"] = modes
    return panels


def _cosine_claim(m: MetricsFile, mk: dict, multiplicative: bool) -> str:
    share, hi = (m.get(f"metrics/embedding/cosine/{k}")  # None where not in the file
                 for k in ("circulant_share", "circulant_share_null_hi"))
    return W.cosine_claim(m.steps, share, None if share is None else hi, mk,
                          multiplicative=multiplicative)


def _bimodality_claim(m: MetricsFile, mk: dict) -> str:
    c, hi = (m.get(f"metrics/embedding/bimodality/{k}")  # None where not in the file
             for k in ("coefficient", "coefficient_null_hi"))
    return W.bimodality_claim(m.steps, c, None if c is None else hi, mk)


def _structure_words(m: MetricsFile, mk: dict) -> str:
    """The circulant share and band contrast against shuffled residues, in this run."""
    g = "metrics/embedding/cosine"
    if not m.has(f"{g}/circulant_share"):
        return ""
    if not m.has(f"{g}/circulant_share_null_hi"):
        return ("The shuffled-residue null of the circulant share is not in this metrics "
                f"file: {RERUN}.")
    parts = [W.structure_words(m.steps, m.get(f"{g}/{k}"), m.get(f"{g}/{k}_null_hi"),
                               what=w, markers=mk)
             for k, w in (("circulant_share", "circulant share"),
                          ("band_contrast", "band contrast")) if m.has(f"{g}/{k}_null_hi")]
    return "In this run " + "; ".join(p for p in parts if p) + "."


def _bimodality_words(m: MetricsFile) -> str:
    g = "metrics/embedding/bimodality"
    if not m.has(f"{g}/coefficient"):
        return ""
    if not m.has(f"{g}/coefficient_null"):
        return f"The Gaussian null of the bimodality coefficient is not in this file: {RERUN}."
    return W.bimodality_words(m.steps, *(m.get(f"{g}/{k}") for k in (
        "coefficient", "coefficient_null", "coefficient_null_lo", "coefficient_null_hi")))


def last_layer_section(page: Page) -> Section:
    m = page.m
    sec = Section("last_layer", "Last-layer principal components")
    g = "metrics/pca/last_layer"
    if m.has(f"{g}/pairs"):
        pairs = m.get(f"{g}/pairs")
        ok = np.flatnonzero(finite_rows(pairs))
        if ok.size:
            i = ok[-1]
            evr = m.get(f"{g}/evr")
            planes = m.get(f"{g}/planes")
            freqs = m.numbers(g, "plane_freqs", whole=True, lo=1, hi=m.p // 2)
            freqs = None if freqs is None else freqs.tolist()
            use_planes = planes is not None and freqs and len(freqs) == planes.shape[1]
            title = (f"Even against odd (P = {m.p}): the last layer's PC planes"
                     if m.p and m.p % 2 == 0 else f"The last layer's PC planes (P = {m.p})")
            sec.items.append(Item(
                "last_layer_pca", title,
                "The rows of the last layer's weight matrix, one point per output class, on "
                "its principal-component pairs PC0–PC1, PC2–PC3 and PC4–PC5 and on the plane "
                "of each learned frequency, at the last checkpoint (Salah & Yevick, "
                "arXiv:2411.05353 §3.3–3.4). A frequency k coprime to P draws a circle of P "
                "points; if gcd(k, P) = d > 1 the points fall into P/d clusters of d points, "
                "which reads off a factor of P. " + W.last_layer_words(m.p, freqs or []),
                lambda: F.last_layer_pca(
                    pairs[i], evr[i] if evr is not None else np.full(6, np.nan),
                    step=int(m.steps[i]), planes=planes[i] if use_planes else None,
                    plane_freqs=freqs if use_planes else None,
                    pair_freqs=[turning_frequency(xy) for xy in pairs[i]])))
    return sec


