"""Machine checks of a drawn matplotlib Figure, for the report's figures: each returns a list
of problems in words (empty: the figure passes).

- :func:`legend_overlaps`: a legend box that covers a drawn data point (the points of lines,
  densified along each segment so that a legend between two vertices is caught; the offsets of
  scatter plots; the outline and inside of filled areas), in display space.
- :func:`missing_labels`: an axis that shows numbers (tick labels) without saying what they
  are: no label of its own, of an axes it shares the axis with, or of the figure (supxlabel /
  supylabel); for a y axis the panel's title may name the quantity. An axis without tick
  labels (a PCA plane) needs none.
- :func:`duplicate_series`: two series of one axes with the same values.
- :func:`close_colours`: two series of one axes that differ in colour by less than a minimum
  CIELAB distance, unless they are the same colour told apart by line style or marker, or the
  axes' series form a sequential scale (lightness monotone in drawing order, 3 or more).

Data lines are the Line2D in data coordinates (``ax.transData``); the event markers
(``axvline``, in axes coordinates) are not data and are left out of every check.
"""

from __future__ import annotations

import itertools

import numpy as np
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.path import Path

MIN_DELTA_E = 28.0  # CIELAB ΔE (CIE76) below which two colours read as one (orange and
# vermilion of seaborn's colorblind palette: 25.6)
SAME = 1.0  # ΔE below which two colours are the same one (told apart by line style or marker)
STEP_PX = 2.0  # densify line segments to a point every STEP_PX pixels


def check_all(fig: Figure) -> list[str]:
    """Every check; the figure is drawn first (legend extents need a layout)."""
    fig.canvas.draw()
    return (legend_overlaps(fig) + missing_labels(fig) + duplicate_series(fig)
            + close_colours(fig))


def data_axes(fig: Figure) -> list:
    """The visible axes that hold data (colour bars aside)."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"
            and (data_lines(ax) or ax.collections or ax.images or ax.patches)]


def data_lines(ax) -> list[Line2D]:
    return [ln for ln in ax.lines if ln.get_visible() and ln.get_transform() is ax.transData
            and len(ln.get_xdata())]


def _name(artist) -> str:
    label = artist.get_label()
    return label if label and not label.startswith("_") else type(artist).__name__


def _title(ax) -> str:
    return ax.get_title() or ax.get_ylabel() or f"axes {ax.figure.axes.index(ax)}"


# --- legends over data --------------------------------------------------------------------------

def _dense(xy: np.ndarray) -> np.ndarray:
    """Display points along a polyline (n, 2), at most STEP_PX apart; NaN breaks the line."""
    out = [xy[np.isfinite(xy).all(axis=1)]]
    for a, b in zip(xy[:-1], xy[1:]):
        if np.isfinite(a).all() and np.isfinite(b).all():
            k = int(np.hypot(*(b - a)) // STEP_PX)
            if k > 0:
                t = np.linspace(0, 1, k + 2)[1:-1, None]
                out.append(a + t * (b - a))
    return np.concatenate(out)


def display_points(artist, ax) -> np.ndarray:
    """(n, 2) display coordinates of what an artist draws inside its axes."""
    if isinstance(artist, Line2D):
        pts = _dense(artist.get_transform().transform(np.asarray(artist.get_xydata(), float)))
    elif isinstance(artist, PathCollection):
        pts = artist.get_offset_transform().transform(np.asarray(artist.get_offsets(), float))
    elif isinstance(artist, PolyCollection):
        t = artist.get_transform()
        pts = np.concatenate([_dense(t.transform(p.vertices)) for p in artist.get_paths()]
                             or [np.empty((0, 2))])
    else:
        return np.empty((0, 2))
    pts = pts[np.isfinite(pts).all(axis=1)]
    return pts[_inside(ax.bbox, pts)]


def _inside(box, pts: np.ndarray) -> np.ndarray:
    """Which display points (n, 2) lie inside a Bbox."""
    x, y = pts[:, 0], pts[:, 1]
    return (x >= box.x0) & (x <= box.x1) & (y >= box.y0) & (y <= box.y1)


def _legends(fig: Figure) -> list:
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]


def legend_overlaps(fig: Figure) -> list[str]:
    renderer = fig.canvas.get_renderer()
    problems = []
    for leg in _legends(fig):
        box = leg.get_window_extent(renderer).padded(-1.0)
        corners = np.array([[box.x0, box.y0], [box.x1, box.y1], [box.x0, box.y1],
                            [box.x1, box.y0], [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]])
        for ax in data_axes(fig):
            for artist in data_lines(ax) + list(ax.collections):
                pts = display_points(artist, ax)
                hit = bool(_inside(box, pts).any())
                if isinstance(artist, PolyCollection):  # a legend inside a filled band
                    t = artist.get_transform()
                    hit = hit or any(Path(t.transform(p.vertices)).contains_points(corners).any()
                                     for p in artist.get_paths())
                if hit:
                    problems.append(f"a legend covers {_name(artist)} in '{_title(ax)}'")
    return problems


# --- axis labels ----------------------------------------------------------------------------------

def missing_labels(fig: Figure) -> list[str]:
    sup = {"x": getattr(fig, "_supxlabel", None), "y": getattr(fig, "_supylabel", None)}
    problems = []
    for ax in data_axes(fig):
        for axis in ("x", "y"):
            ticks = getattr(ax, f"get_{axis}ticklabels")()
            if not any(t.get_visible() and t.get_text().strip() for t in ticks):
                continue  # no numbers shown on this axis: nothing to name
            shared = getattr(ax, f"get_shared_{axis}_axes")().get_siblings(ax)
            labels = [getattr(a, f"get_{axis}label")() for a in shared]
            if axis == "y":
                labels.append(ax.get_title())
            if not any(lab.strip() for lab in labels) and not (
                    sup[axis] is not None and sup[axis].get_text().strip()):
                problems.append(f"'{_title(ax)}' has no {axis} label")
    return problems


# --- duplicated series ------------------------------------------------------------------------

def _values(artist) -> np.ndarray | None:
    if isinstance(artist, Line2D):
        return np.asarray(artist.get_xydata(), float)
    if isinstance(artist, PathCollection):
        return np.asarray(artist.get_offsets(), float)
    return None


def duplicate_series(fig: Figure) -> list[str]:
    problems = []
    for ax in data_axes(fig):
        series = [(a, _values(a)) for a in data_lines(ax) + list(ax.collections)]
        series = [(a, v) for a, v in series if v is not None and len(v) > 1]
        for (a, u), (b, v) in itertools.combinations(series, 2):
            if u.shape == v.shape and np.allclose(u, v, rtol=1e-9, atol=0, equal_nan=True):
                problems.append(f"{_name(a)} and {_name(b)} in '{_title(ax)}' have the same "
                                "values")
    return problems


# --- colours ----------------------------------------------------------------------------------

def lab(rgb) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour (3,) in [0, 1]."""
    c = np.asarray(rgb, float)
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _style(artist):
    """(rgb, dash pattern, marker) of a series drawn in one colour, or None (a colour map)."""
    if isinstance(artist, Line2D):
        return to_rgb(artist.get_color()), str(artist.get_linestyle()), str(artist.get_marker())
    if isinstance(artist, (PathCollection, PolyCollection)):
        face = np.unique(np.round(np.asarray(artist.get_facecolor())[:, :3], 4), axis=0)
        if len(face) == 1:
            paths = artist.get_paths()
            return tuple(face[0]), "fill", str(len(paths[0].vertices) if paths else 0)
    return None


def close_colours(fig: Figure, min_delta_e: float = MIN_DELTA_E) -> list[str]:
    problems = []
    for ax in data_axes(fig):
        styled = [(a, s) for a in data_lines(ax) + list(ax.collections)
                  if (s := _style(a)) is not None]
        light = np.array([lab(c)[0] for _, (c, _, _) in styled])
        if len(light) >= 3 and (np.all(np.diff(light) > 0) or np.all(np.diff(light) < 0)):
            continue  # a sequential scale: neighbours are meant to be close
        for (a, (ca, la, ma)), (b, (cb, lb, mb)) in itertools.combinations(styled, 2):
            d = float(np.linalg.norm(lab(ca) - lab(cb)))
            same_look = la == lb and ma == mb
            if (d < min_delta_e and same_look) or SAME < d < min_delta_e:
                problems.append(f"{_name(a)} and {_name(b)} in '{_title(ax)}' differ in colour "
                                f"by ΔE {d:.1f} < {min_delta_e:g}")
    return problems
