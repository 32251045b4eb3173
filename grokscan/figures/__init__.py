"""Report figures: one function per figure; each takes numbers (numpy arrays) and returns a
``matplotlib.figure.Figure`` (the animation returns a ``FuncAnimation``). Nothing here writes
a file: ``grokscan.reporting`` names and saves them. Drawing uses the Agg backend."""

from grokscan.figures._style import EVENTS, RC, series_grid
from grokscan.figures.curves import training_curves
from grokscan.figures.fourier import (
    fourier_heatmap,
    fourier_measures,
    frequency_loss,
    neuron_spectrum,
    trig_coefficients,
)
from grokscan.figures.geometry import (
    constellation,
    constellation_animation,
    cosine_matrices,
    embedding_histograms,
    embedding_structure,
)
from grokscan.figures.maps import grid_maps
from grokscan.figures.pca import activation_pca, gradient_dimension, gradient_pca, last_layer_pca
from grokscan.figures.weights import (
    dropout_robustness,
    dropout_variance,
    softmax_gap,
    weight_statistics,
)

__all__ = [
    "EVENTS", "RC", "activation_pca", "constellation", "constellation_animation",
    "cosine_matrices", "dropout_robustness", "dropout_variance", "embedding_histograms",
    "embedding_structure", "fourier_heatmap", "fourier_measures", "frequency_loss",
    "gradient_dimension", "gradient_pca", "grid_maps", "last_layer_pca", "neuron_spectrum",
    "series_grid", "softmax_gap", "training_curves", "trig_coefficients",
    "weight_statistics",
]
