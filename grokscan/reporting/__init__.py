"""``grokscan report OUT/``: draw the figures of OUT/metrics.h5 and write OUT/report.html.

The page is one self-contained HTML file (every image embedded as a base64 data URI, no
script, no network) that opens from disk: the run's task, model and optimizer, then a summary
(the run's story in a paragraph computed from its numbers, the crossing table, the facts and
the few figures that show what happened), then every other figure in one folded section per
group of metrics under a table of contents. Each caption says what is drawn, then what this
run shows (grokscan/reporting/words.py: a paper's finding beside whether this run agrees, each
finding against its null). The figures are also saved under OUT/figures/ with stable names
(PNG at DPI with a palette of COLOURS colours; the constellation animation as GIF); with
``pdf=True`` the summary and every figure also go into one document, OUT/report.pdf. A
section whose metrics were not computed is left out, and the page lists what was left out
and why.

The report reads OUT/metrics.h5 only: it redraws with the checkpoint file gone. This package
is the only one that names and writes figure files (every file complete or not at all); the
drawing is in ``grokscan.figures`` (one function per figure, numbers in, Figure out).

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py).
"""

from __future__ import annotations

import io
import os

from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.backends.backend_pdf import PdfPages
from PIL import Image

from grokscan.errors import GrokscanError
from grokscan.figures._pages import text_page
from grokscan.figures._style import DPI  # PNG resolution: a full-width figure is 1300 px
from grokscan.files import Staged, write_atomic
from grokscan.progress import progress
from grokscan.reporting.base import GIF_FPS, Page, Section, event_markers
from grokscan.reporting.classes import classes_section
from grokscan.reporting.llc import llc_section
from grokscan.reporting.model import output_section, pca_section, training_section, weights_section
from grokscan.reporting.page import SUMMARY, html_page, pdf_text
from grokscan.reporting.residues import (
    constellation_section,
    fourier_section,
    geometry_section,
    last_layer_section,
)
from grokscan.store.metrics import MetricsFile

GIF_DPI = 72
COLOURS = 256  # the report's PNGs are stored with a palette of this many colours

SECTIONS = (training_section, fourier_section, constellation_section, geometry_section,
            pca_section, last_layer_section, weights_section, output_section, classes_section,
            llc_section)
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




PDF = "report.pdf"


def render(out_dir, *, pdf: bool = False, quiet: bool = False, dpi: int = DPI) -> dict:
    """Draw every figure that OUT/metrics.h5 allows; write OUT/figures/<name>.png (the
    animation as .gif), OUT/report.html and, with ``pdf``, OUT/report.pdf: one document, a
    first page with the run's summary, then every figure in the page's order (the animation
    left out). Returns a summary dict. The new figures and page are written beside the old
    ones and replace them once complete (grokscan.files.Staged): until then the earlier report
    stays as it was; a report.pdf of an earlier report is removed when this one writes none."""
    out_dir = os.fspath(out_dir)
    with MetricsFile(out_dir) as m:
        page = Page(m, event_markers(m))
        sections = build(page)
        with Staged(out_dir) as staged:
            items = [it for s in sections for it in s.items]
            items.sort(key=lambda it: it.name not in SUMMARY)  # the page's order: summary first
            images, files = {}, []
            doc = PdfPages(staged.path("." + PDF)) if pdf else None
            if doc is not None:
                doc.savefig(text_page(*pdf_text(m, page, items)))
            bar = progress(len(items), desc="report", unit="fig", quiet=quiet)
            try:
                for it in items:
                    mime, data, written = _save(it.draw(), staged, it.name, doc=doc, dpi=dpi)
                    images[it.name] = (mime, data)
                    files += written
                    bar.update()
            finally:
                bar.close()
                if doc is not None:
                    doc.close()
            staged.publish(html_page(m, page, sections, images).encode("utf-8"))
    _place_pdf(out_dir, staged.final("." + PDF) if pdf else None)
    return {"html": staged.page, "figures": files, "sections": [s.key for s in sections],
            "left_out": page.left_out, "pdf": os.path.join(out_dir, PDF) if pdf else None}


def _place_pdf(out_dir: str, written: str | None) -> None:
    """Move the document written among the figures to OUT/report.pdf, or remove an earlier
    one that no longer matches the page."""
    path = os.path.join(out_dir, PDF)
    try:
        if written is not None:
            os.replace(written, path)
        elif os.path.exists(path):
            os.remove(path)
    except OSError as e:
        raise GrokscanError(f"{path}: cannot write it ({e.strerror or e})") from None


def _save(obj, staged: Staged, name: str, *, doc: PdfPages | None, dpi: int):
    """Write one figure (PNG, and a page of the PDF document ``doc``) or animation (GIF) into
    the staged folder; return the bytes to embed and the paths the files will have."""
    if isinstance(obj, FuncAnimation):
        path = staged.path(name + ".gif")
        fig = obj._fig
        try:
            obj.save(path, writer=PillowWriter(fps=GIF_FPS), dpi=GIF_DPI)
        except OSError as e:
            raise GrokscanError(f"{path}: cannot write it ({e.strerror or e})") from None
        fig.clear()
        with open(path, "rb") as fh:
            return "image/gif", fh.read(), [staged.final(name + ".gif")]
    fig = obj
    data = compact_png(figure_bytes(fig, "png", dpi=dpi))
    _write(staged.path(name + ".png"), data)
    written = [staged.final(name + ".png")]
    if doc is not None:
        doc.savefig(fig, facecolor="white")
    fig.clear()  # the figure is not registered with pyplot: clearing it frees its artists
    return "image/png", data, written


def _write(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as e:
        raise GrokscanError(f"{path}: cannot write it ({e.strerror or e})") from None


def compact_png(data: bytes) -> bytes:
    """The PNG with a palette of COLOURS colours (no dithering): a figure's flat colours and
    smooth colour scales survive, at about a third of the bytes."""
    with Image.open(io.BytesIO(data)) as im:
        small = im.convert("RGB").quantize(COLOURS, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.NONE)
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=True)
    return buf.getvalue() if buf.tell() < len(data) else data


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
