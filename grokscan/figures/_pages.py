"""Pages of text for a document of figures: the first page of the report's PDF."""

from __future__ import annotations

import textwrap

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

A4 = (8.27, 11.69)  # inches, portrait
CHARS = 92  # characters per line at the body's size on A4


def text_page(title: str, blocks: list[str], *, size: tuple[float, float] = A4) -> Figure:
    """A page with a title and paragraphs of text, top to bottom, wrapped to the page; what
    does not fit is cut at the foot with an ellipsis line. ``blocks``: paragraphs (a block
    starting with "• " is a list item)."""
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    top, line = 0.94, 0.0165  # figure fractions: the first line and the line height
    fig.text(0.07, top, title, fontsize=15, fontweight="bold", va="top")
    y = top - 0.045
    for block in blocks:
        indent = "  " if block.startswith("• ") else ""
        lines = textwrap.wrap(block, CHARS, subsequent_indent=indent) or [""]
        for text in lines:
            if y < 0.05:
                fig.text(0.07, y + line, "…", fontsize=9, va="top")
                return fig
            fig.text(0.07, y, text, fontsize=9, va="top", family="sans-serif")
            y -= line
        y -= line * 0.6
    return fig
