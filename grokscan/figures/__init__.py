"""Every figure grokscan draws, as functions that take numbers and draw with matplotlib.

Numbers in, a drawing out, no files: ``grokscan.reporting`` is what names and saves images.

- A **figure function** (``training_curves``, ``fourier_heatmap``, ``constellation``, ...)
  returns a new ``matplotlib.figure.Figure`` laid out as the report shows it, on its own Agg
  canvas: no pyplot figure is created and no global state is touched.
- A **panel function** draws one Axes. Given ``ax=``, it draws on that Axes (yours: from
  ``plt.subplots``, a ``Figure``, a subfigure) and returns it; without one, it returns a new
  Figure holding the panel alone. Every multi-panel figure is made of panel functions
  (``training_curves`` of :func:`loss_curves` and :func:`accuracy_curves`, ``constellation``
  of :func:`constellation_panel`, ...), and a single-panel figure (``frequency_loss``,
  ``dropout_robustness``, ``roc``, ...) is its own panel function.

Artists are drawn in the report's theme (:data:`RC`: fonts, colour map); the Axes' frame
(background, grid) is the one it was created with: create it inside
``matplotlib.rc_context(grokscan.figures.RC)`` to match the report. The event markers
(:data:`EVENTS`) of a panel are vertical lines; :func:`marker_legend` names them above a
figure.

Examples
--------
Two panels of the report side by side with a plot of your own:

>>> import matplotlib.pyplot as plt
>>> import numpy as np
>>> import grokscan.figures
>>> steps = np.arange(0, 2000, 50)
>>> t = np.linspace(0, 1, len(steps))
>>> scalars = {"train_acc": np.minimum(1, 3 * t), "test_acc": t ** 6,
...            "train_loss": np.exp(-6 * t), "test_loss": 3 - 2 * t}
>>> fig, (left, middle, right) = plt.subplots(1, 3, figsize=(12, 3.5))
>>> ax = grokscan.figures.accuracy_curves(steps, scalars, ax=left)
>>> ax is left
True
>>> ax = grokscan.figures.loss_curves(steps, scalars, markers={"memorisation": 650},
...                                   ax=middle)
>>> lines = right.plot(steps, scalars["test_acc"] - scalars["train_acc"])
>>> grokscan.figures.marker_legend(fig, {"memorisation": 650})
>>> plt.close(fig)

A figure as the report draws it, saved where you choose:

>>> fig = grokscan.figures.training_curves(steps, scalars)
>>> len(fig.axes)
2
"""

from grokscan.figures._style import EVENTS, RC, marker_legend, series_grid, series_panel
from grokscan.figures.classes import class_accuracy, norm_accuracy
from grokscan.figures.curves import accuracy_curves, loss_curves, training_curves
from grokscan.figures.factor import factor_evidence, factor_panel
from grokscan.figures.fourier import (
    fourier_heatmap,
    fourier_measures,
    frequency_heatmap,
    frequency_loss,
    neuron_power,
    neuron_spectrum,
    trig_coefficients,
)
from grokscan.figures.geometry import (
    constellation,
    constellation_animation,
    constellation_panel,
    cosine_matrices,
    cosine_matrix,
    embedding_histogram,
    embedding_histograms,
    embedding_structure,
)
from grokscan.figures.llc import acceptance_rates, llc_chains, llc_curve, llc_diagnostics
from grokscan.figures.maps import grid_map, grid_maps
from grokscan.figures.onset import (
    flag_steps,
    flags,
    forecast,
    forecast_accuracy,
    forecast_score,
    lead_fractions,
    roc,
)
from grokscan.figures.pca import (
    activation_pca,
    activation_pca_panel,
    gradient_class_panel,
    gradient_dimension,
    gradient_pca,
    gradient_pca_panel,
    last_layer_pca,
    last_layer_plane,
)
from grokscan.figures.sweep import (
    along_axis,
    distribution,
    overlaid_accuracy,
    overlaid_curves,
    phase_diagram,
    phase_map,
    value_map,
)
from grokscan.figures.weights import (
    dropout_robustness,
    dropout_variance,
    softmax_gap,
    weight_statistics,
)

__all__ = [
    # the look every figure shares
    "EVENTS", "RC", "marker_legend",
    # against step: any quantities
    "series_grid", "series_panel",
    # training
    "training_curves", "loss_curves", "accuracy_curves",
    # Fourier
    "fourier_heatmap", "frequency_heatmap", "fourier_measures", "neuron_spectrum",
    "neuron_power", "frequency_loss", "trig_coefficients",
    # embedding geometry
    "constellation", "constellation_panel", "constellation_animation", "cosine_matrices",
    "cosine_matrix", "embedding_histograms", "embedding_histogram", "embedding_structure",
    # maps over the (a, b) grid
    "grid_maps", "grid_map",
    # principal components
    "activation_pca", "activation_pca_panel", "gradient_pca", "gradient_pca_panel",
    "gradient_class_panel", "gradient_dimension", "last_layer_pca", "last_layer_plane",
    # weights, dropout, outputs
    "weight_statistics", "dropout_variance", "dropout_robustness", "softmax_gap",
    # classes and the weight norm
    "class_accuracy", "norm_accuracy",
    # local learning coefficient
    "llc_curve", "llc_diagnostics", "llc_chains", "acceptance_rates",
    # onset detectors
    "forecast", "forecast_score", "forecast_accuracy", "roc", "flags", "flag_steps",
    "lead_fractions",
    # sweeps
    "phase_diagram", "phase_map", "value_map", "along_axis", "overlaid_curves",
    "overlaid_accuracy", "distribution",
    # factors of P
    "factor_evidence", "factor_panel",
]
