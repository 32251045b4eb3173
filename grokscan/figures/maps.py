"""Maps over the (a, b) input grid at a few moments (Nanda et al., arXiv:2301.05217): the
activations of single neurons and the attention of each head, one row per unit, one column per
moment, one colour scale per row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from grokscan.figures._style import new_figure, styled

ROW_HEIGHT = 2.35  # inches per unit
MAX_TICKS = 6


def row_norm(values: np.ndarray) -> tuple[str, Normalize]:
    """The colour map and scale of one row (all its moments): diverging, centred on 0, when
    any value is negative; else sequential from the row's least to its largest value."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    if lo < 0:
        top = max(abs(lo), abs(hi)) or 1.0
        return "vlag", Normalize(-top, top)
    return "rocket", Normalize(lo, hi if hi > lo else lo + 1e-12)


def _ticks(n: int, labels: Sequence | None) -> tuple[np.ndarray, list[str]]:
    step = max(1, int(np.ceil(n / MAX_TICKS)))
    at = np.arange(0, n, step)
    return at, [str(labels[i] if labels is not None else i) for i in at]


@styled
def grid_maps(values, *, rows: Sequence[str], moments: Sequence[str], titles=None,
              axes_names: tuple[str, str] = ("a", "b"), tick_labels: Sequence | None = None,
              colour_label: str = "activation") -> Figure:
    """One heatmap per unit (row) and moment (column).

    values: (R, M, n, n), values[r, m, i, j] the unit's value at a = i (row) and b = j (column)
    of the grid in the order drawn; rows: R labels (the unit, e.g. 'neuron 17, k = 5');
    moments: M column names with their steps ('memorisation, step 380'); titles: optional
    (R, M) extra text per panel; axes_names: the names of the row and column inputs;
    tick_labels: what position i stands for (default i). Each row has one colour scale
    (:func:`row_norm`) and its colour bar.
    """
    values = np.asarray(values, dtype=float)
    R, M, n, _ = values.shape
    fig, axes = new_figure(R, M, height=ROW_HEIGHT, width=2.35 * M + 1.3)
    at, text = _ticks(n, tick_labels)
    for r in range(R):
        cmap, norm = row_norm(values[r])
        for m in range(M):
            ax = axes[r, m]
            im = ax.imshow(values[r, m], cmap=cmap, norm=norm, interpolation="nearest")
            extra = f"\n{titles[r][m]}" if titles is not None else ""
            ax.set_title(f"{moments[m]}{extra}", fontsize=9)
            ax.grid(False)
            ax.set_yticks(at, text if m == 0 else [])
            ax.set_xticks(at, text if r == R - 1 else [])
            if m == 0:
                ax.set_ylabel(f"{rows[r]}\n{axes_names[0]}", fontsize=9)
            if r == R - 1:
                ax.set_xlabel(axes_names[1])
        fig.colorbar(im, ax=axes[r].tolist(), label=colour_label, shrink=0.9, pad=0.02)
    return fig
