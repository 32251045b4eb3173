"""PCA figures (Hutchison & Yevick, arXiv:2510.25966; Salah & Yevick, arXiv:2411.05353): layer
activations coloured by class, per-sample gradients (correct against misclassified), their
90 %-variance dimension, and the last layer's "even against odd" principal-component planes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from grokscan.figures._style import (
    SERIES,
    new_figure,
    residue_colours,
    series_grid,
    styled,
)
from grokscan.figures.geometry import LABEL_MAX

CATEGORICAL_MAX = 10  # up to this many classes: a categorical palette and a legend
ROBUST = (1.0, 99.0)  # percentiles of the gradient PCA's axis limits; points beyond: at the edge
# correct / misclassified in greys, so that no class colour means either
OUTCOME = {1: "0.62", 0: "0.05"}
EDGE = "0.35"  # the points beyond the range: open diamonds, no hue either


def robust_limits(xy: np.ndarray, pad: float = 0.08) -> tuple[tuple, tuple]:
    """((x0, x1), (y0, y1)): the ROBUST percentiles of the finite points (n, 2), widened by
    ``pad`` of their span on each side."""
    ok = np.isfinite(xy).all(axis=1)
    lo, hi = np.percentile(xy[ok], ROBUST, axis=0) if ok.any() else (np.zeros(2), np.ones(2))
    span = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - pad * span, hi + pad * span
    return (lo[0], hi[0]), (lo[1], hi[1])


def _clip(xy: np.ndarray, lims) -> tuple[np.ndarray, np.ndarray]:
    """The points clipped into ``lims`` and a mask of those that were outside."""
    lo = np.array([lims[0][0], lims[1][0]])
    hi = np.array([lims[0][1], lims[1][1]])
    out = ((xy < lo) | (xy > hi)).any(axis=1)
    return np.clip(xy, lo, hi), out


def class_colours(n_classes: int):
    """A categorical palette for few classes (the Ising energy bins), a hue circle for many
    (the residues of a modular task, whose classes are cyclic)."""
    if n_classes <= CATEGORICAL_MAX:
        return SERIES[:n_classes]
    return residue_colours(n_classes)


@styled
def activation_pca(coords, labels, *, steps: Sequence[int], layers: Sequence[str],
                   class_names: Sequence[str] | None = None) -> Figure:
    """Each sample's hidden activation vector on the top-2 principal components, coloured by
    its class (Hutchison & Yevick, arXiv:2510.25966, Figs. 16-18).

    coords: (n_layers, n_moments, S, 2); labels: (S,) integer classes; row i is hidden layer
    ``layers[i]``, column j the checkpoint at ``steps[j]``. Points with a NaN coordinate are
    not drawn.
    """
    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels).astype(int)
    n_layers, n_mom = coords.shape[:2]
    classes = np.unique(labels)
    n_classes = int(labels.max()) + 1
    colours = class_colours(n_classes)
    side = min(2.6, 10.0 / n_mom)
    fig, axes = new_figure(n_layers, n_mom, height=side, width=side * n_mom)
    c = [colours[k] for k in labels]
    for i in range(n_layers):
        for j in range(n_mom):
            ax = axes[i, j]
            xy = coords[i, j]
            ok = np.isfinite(xy).all(axis=1)
            ax.scatter(xy[ok, 0], xy[ok, 1], c=[c[s] for s in np.flatnonzero(ok)], s=7,
                       linewidths=0, alpha=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"step {steps[j]}", fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{layers[i]}\nPC 2 against PC 1", fontsize=9)
    if n_classes <= CATEGORICAL_MAX:
        names = class_names or [str(k) for k in range(n_classes)]
        handles = [Line2D([], [], marker="o", ls="", color=colours[k], label=names[k])
                   for k in classes]
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles),
                   title="class")
    else:  # many cyclic classes (residues): a colour bar of the hue circle
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import BoundaryNorm, ListedColormap

        norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
        bar = fig.colorbar(ScalarMappable(norm, ListedColormap(colours)), ax=axes,
                           location="right", shrink=0.8, aspect=30)
        bar.set_ticks([0, n_classes // 4, n_classes // 2, 3 * n_classes // 4, n_classes - 1])
        bar.set_label("class (residue)")
        bar.minorticks_off()
    return fig


@styled
def gradient_pca(coords, correct, *, steps: Sequence[int], is_train=None,
                 labels=None) -> Figure:
    """Per-sample gradients on their top-2 principal components, correct against
    misclassified samples (Hutchison & Yevick, arXiv:2510.25966, Fig. 14).

    coords: (n_moments, G, 2); correct: (n_moments, G), 1 correct, 0 misclassified, NaN not
    computed (not drawn); is_train: (n_moments, G) or None, train samples as dots and test
    samples as crosses. labels: (G,) integer classes or None; for a few classes (the Ising
    energy bins) a second row shows the same points coloured by class.
    """
    coords, correct = np.asarray(coords, dtype=float), np.asarray(correct, dtype=float)
    n_mom = len(coords)
    by_class = labels is not None and int(np.max(labels)) + 1 <= CATEGORICAL_MAX
    side = min(2.8, 10.0 / n_mom)
    fig, axes = new_figure(2 if by_class else 1, n_mom, height=side, width=side * n_mom)
    colour = OUTCOME
    n_out = 0
    for j, ax in enumerate(axes[0]):
        lims = robust_limits(coords[j])
        xy, outside = _clip(coords[j], lims)
        ok = np.isfinite(xy).all(axis=1) & np.isfinite(correct[j])
        n_out += int((ok & outside).sum())
        train = (np.asarray(is_train[j]) > 0.5) if is_train is not None else np.ones(len(xy), bool)
        for flag in (1, 0):  # misclassified drawn last, on top
            for tr, mk in ((True, "o"), (False, "x")):
                sel = ok & (correct[j] == flag) & (train == tr) & ~outside
                if sel.any():
                    ax.scatter(xy[sel, 0], xy[sel, 1], s=9, marker=mk, color=colour[flag],
                               linewidths=0.8 if mk == "x" else 0, alpha=0.8)
        if (ok & outside).any():
            ax.scatter(xy[ok & outside, 0], xy[ok & outside, 1], s=22, marker="D",
                       facecolors="none", edgecolors=EDGE, linewidths=0.9)
        ax.set_xlim(*lims[0])
        ax.set_ylim(*lims[1])
        ax.set_title(f"step {steps[j]}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("PC 2 against PC 1")
    if by_class:
        labels = np.asarray(labels).astype(int)
        colours = class_colours(int(labels.max()) + 1)
        for j, ax in enumerate(axes[1]):
            lims = robust_limits(coords[j])
            xy, _ = _clip(coords[j], lims)
            ok = np.isfinite(xy).all(axis=1) & np.isfinite(correct[j])
            ax.scatter(xy[ok, 0], xy[ok, 1], s=9, linewidths=0, alpha=0.8,
                       c=[colours[k] for k in labels[ok]])
            ax.set_xlim(*lims[0])
            ax.set_ylim(*lims[1])
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1, 0].set_ylabel("by class\nPC 2 against PC 1")
    handles = [Line2D([], [], marker="o", ls="", color=colour[1], label="correct"),
               Line2D([], [], marker="o", ls="", color=colour[0], label="misclassified")]
    if is_train is not None:
        handles += [Line2D([], [], marker="o", ls="", color="0.4", label="train"),
                    Line2D([], [], marker="x", ls="", color="0.4", label="test")]
    if n_out:
        handles.append(Line2D([], [], marker="D", ls="", mfc="none", color=EDGE,
                              label=f"{n_out} beyond {ROBUST[0]:g}–{ROBUST[1]:g} %, at the "
                              "edge"))
    if by_class:
        handles += [Line2D([], [], marker="o", ls="", color=colours[k], label=f"class {k}")
                    for k in np.unique(labels)]
    fig.legend(handles=handles, loc="outside upper center",
               ncols=min(len(handles), 2 if n_mom < 3 else 4))
    return fig


def gradient_dimension(steps, dims, *, markers=None) -> Figure:
    """The number of principal components that explain 90 % of the per-sample gradient
    variance, against step (arXiv:2510.25966, Fig. 15). dims: {"train": (n,), "test": (n,)},
    NaN where not computed."""
    return series_grid(steps, {"components for 90 % of the gradient variance": dims},
                       markers=markers, ncols=1, height=3.2)


@styled
def last_layer_pca(pairs, evr, *, step: int, planes=None, plane_freqs=None) -> Figure:
    """The last layer's rows (one point per class) on PC0–PC1, PC2–PC3, PC4–PC5, and on the
    plane of each learned frequency (Salah & Yevick, arXiv:2411.05353 §3.3-3.4).

    pairs: (3, C, 2); evr: (6,) explained-variance ratios of PC0..PC5; planes: (K, C, 2) or
    None, with ``plane_freqs`` its K frequencies. Points are coloured and numbered by class:
    P/d clusters of d points on a plane say that its frequency shares the factor d with P.
    """
    pairs = np.asarray(pairs, dtype=float)
    evr = np.asarray(evr, dtype=float)
    panels = [(pairs[j], f"PC{2 * j} ({evr[2 * j]:.0%}) – PC{2 * j + 1} ({evr[2 * j + 1]:.0%})")
              for j in range(len(pairs))]
    if planes is not None:
        panels += [(np.asarray(planes[i], float), f"plane of k = {k}")
                   for i, k in enumerate(plane_freqs)]
    ncols = min(3 if len(panels) <= 6 else 4, len(panels))
    nrows = -(-len(panels) // ncols)
    side = min(3.3, 10.0 / ncols)
    fig, axes = new_figure(nrows, ncols, height=side, width=side * ncols)
    C = pairs.shape[1]
    colours = residue_colours(C)
    for ax, (xy, title) in zip(axes.flat, panels):
        ok = np.isfinite(xy).all(axis=1)
        ax.scatter(xy[ok, 0], xy[ok, 1], c=[colours[q] for q in np.flatnonzero(ok)], s=20,
                   edgecolors="0.2", linewidths=0.3, zorder=3)
        if C <= LABEL_MAX:
            for q in np.flatnonzero(ok):
                ax.annotate(str(q), xy[q], xytext=(2.5, 2.5), textcoords="offset points",
                            fontsize=6, color="0.25")
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"last layer at step {step}", fontsize=11)
    return fig
