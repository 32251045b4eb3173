"""The live view as a self-contained HTML page (``grokscan watch --html FILE``): the same
numbers as the terminal view, the curves, the spectrum and the constellation drawn with
matplotlib in the report's style (grokscan/figures/_style.py) and embedded as base64 PNGs, no
network. While the run is live the page reloads itself every 2 s; each version is written
atomically (grokscan/files.py), so a browser never reads half a page."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from grokscan.files import write_atomic
from grokscan.metrics import fourier as fm

REFRESH_S = 2


def _png(fig, dpi: int) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figures(view) -> dict[str, object]:
    """{caption: Figure} of the view's curves, spectrum and constellation (those it has)."""
    from grokscan.figures._style import PALETTE, new_figure, residue_colours, series_grid, styled

    out = {}
    steps = view.steps.values
    panels = {}
    for title, names in (("loss", ("train_loss", "test_loss")),
                         ("accuracy", ("train_acc", "test_acc"))):
        curves = {n.split("_")[0]: view.scalars[n].values for n in names if n in view.scalars}
        if curves:
            panels[title] = curves
    if panels and len(steps):
        out["loss and accuracy"] = series_grid(steps, panels, logy=("loss",), height=2.4)

    @styled
    def spectrum():
        power = fm.frequency_power(view.norms)
        fig, ax = new_figure(1, 1, height=2.4, width=6.0)
        ax = ax[0, 0]
        k = np.arange(1, len(power) + 1)
        colours = [PALETTE[3] if int(x) in view.keys else PALETTE[0] for x in k]
        ax.bar(k, power, color=colours)
        ax.set(xlabel="frequency k", ylabel="power μ²+ν²",
               title=f"embedding Fourier power (keys: {', '.join(map(str, view.keys)) or '—'})")
        return fig

    @styled
    def constellation():
        fig, ax = new_figure(1, 1, height=3.6, width=3.8)
        ax = ax[0, 0]
        pts = view.points
        ax.scatter(pts[:, 0], pts[:, 1], c=residue_colours(len(pts)), s=18)
        ax.set_aspect("equal")
        ax.set(title=f"residues on the plane of k = {view.keys[0]}", xticks=[], yticks=[])
        return fig

    if view.norms is not None:
        out["Fourier spectrum"] = spectrum()
    if view.points is not None:
        out["constellation"] = constellation()
    return out


def render(view, *, dpi: int = 80) -> str:
    """The page for the view's current state."""
    rows = [("step", "—" if view.steps.last() is None else str(int(view.steps.last()))),
            ("checkpoints", str(view.steps.n)), ("state", view.state)]
    for name in ("train_loss", "test_loss", "train_acc", "test_acc"):
        if name in view.scalars:
            rows.append((name.replace("_", " "), f"{view.value(name):.4g}"))
    if view.norms is not None:
        rows += [("key frequencies", ", ".join(map(str, view.keys)) or "—"),
                 ("FFD", f"{view.ffd.last():.3f}"), ("Gini", f"{view.gini.last():.3f}")]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    images = "".join(f'<figure><img alt="{html.escape(c)}" src="data:image/png;base64,'
                     f'{_png(f, dpi)}"><figcaption>{html.escape(c)}</figcaption></figure>'
                     for c, f in figures(view).items())
    refresh = (f'<meta http-equiv="refresh" content="{REFRESH_S}">'
               if view.status == "live" else "")
    title = html.escape(f"grokscan watch · {view.path} · {view.what} · {view.status}")
    return (f'<!doctype html><html><head><meta charset="utf-8">{refresh}<title>{title}</title>'
            "<style>body{font-family:sans-serif;margin:1.5em}th{text-align:left;"
            "padding-right:1em;color:#555}figure{display:inline-block;margin:0.5em}"
            f"img{{max-width:100%}}</style></head><body><h1>{title}</h1><table>{table}</table>"
            f"{images}</body></html>")


def write(view, path: str, *, dpi: int = 80) -> None:
    """Write the page to ``path`` atomically."""
    write_atomic(path, render(view, dpi=dpi).encode("utf-8"))
