"""``grokscan report OUT/``: draw the figures of OUT/metrics.h5 and write OUT/report.html.

The page is one self-contained HTML file (every image embedded as a base64 data URI, no
script, no network) that opens from disk: a header with the run's task, model and optimizer,
a summary table, then one section per group of metrics, each figure with a short caption
naming the paper it comes from. The figures are also saved under OUT/figures/ with stable
names (PNG; PDF with ``pdf=True``; the constellation animation as GIF). A section whose metrics
were not computed is left out, and the page lists what was left out and why.

The report reads OUT/metrics.h5 only: it redraws with the checkpoint file gone. This package
is the only one that names and writes figure files (every file complete or not at all); the
drawing is in ``grokscan.figures`` (one function per figure, numbers in, Figure out).

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py).
"""

from __future__ import annotations

import io
import os
import tempfile

from matplotlib.animation import FuncAnimation, PillowWriter

from grokscan.errors import GrokscanError
from grokscan.files import own_folder, write_atomic
from grokscan.progress import progress
from grokscan.reporting.base import GIF_FPS, Page, Section, event_markers
from grokscan.reporting.llc import llc_section
from grokscan.reporting.model import output_section, pca_section, training_section, weights_section
from grokscan.reporting.page import html_page
from grokscan.reporting.residues import (
    constellation_section,
    fourier_section,
    geometry_section,
    last_layer_section,
)
from grokscan.store.metrics import MetricsFile

DPI = 130  # PNG resolution: a full-width figure (10 in) is 1300 px wide
GIF_DPI = 100

SECTIONS = (training_section, fourier_section, constellation_section, geometry_section,
            pca_section, last_layer_section, weights_section, output_section, llc_section)
KNOWN_FIGURES = ("training_curves", "fourier_heatmap", "fourier_measures", "neuron_spectrum",
                 "neuron_maps", "attention_maps", "frequency_loss", "constellation",
                 "constellation_animation",
                 "cosine_similarity", "embedding_histograms", "embedding_structure",
                 "activation_pca", "gradient_pca", "gradient_dimension", "last_layer_pca",
                 "weight_statistics", "dropout_variance", "dropout_robustness", "softmax_gap",
                 "llc", "llc_diagnostics")
# why a section can be missing, shown at the foot of the page
MISSING = {
    "fourier": "no Fourier metrics (the fourier, neurons and freqloss families; modular only)",
    "geometry": "no embedding-geometry metrics (cosine matrix, bimodality)",
    "pca": "no activation or gradient PCA metrics",
    "last_layer": "no last-layer PCA metrics (modular only)",
    "weights": "no weight, sparsity or dropout metrics",
    "output": "no softmax-gap metrics",
}


def build(page: Page) -> list[Section]:
    """The sections that have something to show, in page order; the others are recorded in
    ``page.left_out`` with the reason."""
    out = []
    for make in SECTIONS:
        sec = make(page)
        if sec.items:
            out.append(sec)
        elif sec.key in MISSING:
            page.left_out.append((sec.title, MISSING[sec.key]))
    return out




def render(out_dir, *, pdf: bool = False, quiet: bool = False, dpi: int = DPI) -> dict:
    """Draw every figure that OUT/metrics.h5 allows; write OUT/figures/<name>.png (and .pdf
    with ``pdf``; the animation as .gif) and OUT/report.html. Returns a summary dict."""
    out_dir = os.fspath(out_dir)
    with MetricsFile(out_dir) as m:
        page = Page(m, event_markers(m))
        sections = build(page)
        fig_dir = own_folder(os.path.join(out_dir, "figures"))
        _remove_stale(fig_dir)
        items = [it for s in sections for it in s.items]
        images, files = {}, []
        bar = progress(len(items), desc="report", unit="fig", quiet=quiet)
        for it in items:
            mime, data, written = _save(it.draw(), fig_dir, it.name, pdf=pdf, dpi=dpi)
            images[it.name] = (mime, data)
            files += written
            bar.update()
        bar.close()
        text = html_page(m, page, sections, images)
    path = os.path.join(out_dir, "report.html")
    write_atomic(path, text.encode("utf-8"))
    return {"html": path, "figures": files, "sections": [s.key for s in sections],
            "left_out": page.left_out}


def _remove_stale(fig_dir: str) -> None:
    """Remove the figures of an earlier report, which this one might not redraw."""
    per_op = ("neuron_spectrum_", "neuron_maps_", "attention_maps_", "frequency_loss_")
    for name in os.listdir(fig_dir):
        stem, _, ext = name.partition(".")
        if ext in ("png", "pdf", "gif") and (stem in KNOWN_FIGURES or stem.startswith(per_op)):
            os.remove(os.path.join(fig_dir, name))


def _save(obj, fig_dir: str, name: str, *, pdf: bool, dpi: int):
    """Write one figure (PNG, and PDF if asked) or animation (GIF); return the bytes to embed."""
    if isinstance(obj, FuncAnimation):
        path = os.path.join(fig_dir, name + ".gif")
        fig = obj._fig
        try:
            with tempfile.TemporaryDirectory(dir=fig_dir) as tmp:  # renamed once complete
                part = os.path.join(tmp, name + ".gif")
                obj.save(part, writer=PillowWriter(fps=GIF_FPS), dpi=GIF_DPI)
                os.replace(part, path)
        except OSError as e:
            raise GrokscanError(f"{path}: cannot write it ({e.strerror or e})") from None
        fig.clear()
        with open(path, "rb") as fh:
            return "image/gif", fh.read(), [path]
    fig = obj
    data = figure_bytes(fig, "png", dpi=dpi)
    path = os.path.join(fig_dir, name + ".png")
    write_atomic(path, data)
    written = [path]
    if pdf:
        written.append(os.path.join(fig_dir, name + ".pdf"))
        write_atomic(written[-1], figure_bytes(fig, "pdf", dpi=dpi))
    fig.clear()  # the figure is not registered with pyplot: clearing it frees its artists
    return "image/png", data, written


def figure_bytes(fig, fmt: str, *, dpi: int = DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, facecolor="white")
    return buf.getvalue()


def save_figure(fig, path, *, dpi: int = DPI) -> None:
    """Write one figure to ``path`` (its format from the extension: png, pdf, svg), complete
    or not at all; a GrokscanError naming the file when it cannot be written."""
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    try:
        data = figure_bytes(fig, fmt, dpi=dpi)
    except ValueError as e:  # a format matplotlib does not write
        raise GrokscanError(f"{path}: cannot write the figure ({e})") from None
    write_atomic(path, data)
