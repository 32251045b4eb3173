"""The figure report: plotting functions on constructed arrays, the report of a synthetic
metrics file with the full layout (store/SCHEMA.md, "The metrics file"), the report of a
partial file, bad input, and the report of a real short run opened in headless Chromium."""

import base64
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time

import h5py
import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.figure import Figure
from PIL import Image

from grokscan import figures as F
from grokscan import reporting as R
from grokscan.analysis.families import FAMILIES
from grokscan.cli import main
from grokscan.errors import GrokscanError
from grokscan.reporting.base import Page, moments
from grokscan.store.metrics import MetricsFile, MetricsWriter

# --- a synthetic metrics file with every family, in the documented layout --------------------

N, P, S, G = 12, 11, 30, 20  # checkpoints, modulus (= classes), activation and gradient samples
STEPS = np.arange(N) * 10
PARAMS = ("embed.W_E", "hidden.0.W", "hidden.1.W", "unembed.W_U")
SUBSET = [0, 4, 8, 11]  # rows on which the subset families were computed
# train accuracy first reaches 0.5, 0.9, 0.99 at steps 10, 20, 30; test accuracy at 60, 70, 80
TRAIN_ACC = np.array([0.1, 0.6, 0.95, 1, 1, 1, 1, 1, 1, 1, 1, 1])
TEST_ACC = np.array([0.0, 0.0, 0.1, 0.1, 0.2, 0.3, 0.55, 0.92, 0.995, 1, 1, 1])
ALL = ("fourier", "neurons", "freqloss", "norms", "pca", "entropy", "embedding", "sparsity",
       "dropout")


def write_metrics(out, families=ALL, *, source="/nonexistent/run.h5", kind="modular",
                  ops=("add",), nulls=True):
    """OUT/metrics.h5 with the given families, every array of the documented shape, written
    by the analysis's own writer; several ``ops`` give the per-operation names
    (``<name>_<op>``) of the neurons and freqloss families; ``nulls=False``: as written before
    the nulls were stored."""
    rng = np.random.default_rng(0)
    modular = kind == "modular"
    ops = list(ops) if modular else []
    os.makedirs(out, exist_ok=True)
    t = np.linspace(0, 1, N)
    subset = np.full(N, np.nan)
    subset[SUBSET] = 1.0
    task = {"kind": kind, "ops": ops, "p": P, "frac": 0.5} if modular else {"kind": kind}
    config = {"task": task,
              "model": {"kind": "mlp", "input": "concat", "d_embed": 8, "width": 16, "depth": 2,
                        "activation": "relu", "dropout": 0.0},
              "train": {"lr": 0.01, "wd": 1.0, "beta1": 0.9, "beta2": 0.98, "steps": 110,
                        "batch_size": 0, "seed": 0}}
    line = "add mod 11, train fraction 0.5" if modular else "Ising energy classes"
    scalars = {"train_acc": TRAIN_ACC, "test_acc": TEST_ACC,
               "train_loss": np.exp(-8 * t) + 1e-3, "test_loss": 3 - 2.5 * t,
               "weight_norm": 30 - 10 * t}
    block, attrs_of = _synthetic(rng, families, t, subset, ops, modular)
    if nulls:
        block.update(_nulls(block, subset))
        attrs_of["dropout/variance"] = {"examples": 1024, "passes": 100, "rate": 0.3}
        for name, keys in (("fourier", ("gini_embed", "gini_logit")),
                           ("sparsity", [f"small/{p}" for p in PARAMS])):
            attrs_of[name] = {"init": {k: 0.01 for k in keys}, "init_step": 0}
    groups = {}
    for key in block:  # each dataset's family: the registered name its path starts with
        name = next(n for n in FAMILIES if key.startswith(n + "/"))
        groups[name] = attrs_of.get(name, {})
    attrs = {"source": source, "config": json.dumps(config), "families": list(groups),
             "basis": "additive", "op_basis": {op: "additive" for op in ops},
             "p": P if modular else 0, "ops": ops, "key_freqs": {op: [3, 5] for op in ops},
             "left_out": {}, "task": {"kind": kind, "line": line,
                                      "class_label": "answer c" if modular else "energy class",
                                      "class_names": None}}
    samples = ({"label": np.arange(S) % P, "train": np.arange(S) % 2 == 0}
               if "pca" in families else {})
    with MetricsWriter(os.path.join(out, "metrics.h5"), attrs=attrs, steps=STEPS,
                       scalars=scalars, run_steps=STEPS, run_scalars=scalars, samples=samples,
                       groups=groups) as w:
        w.write(block, N)
    return out


def _synthetic(rng, families, t, subset, ops, modular):
    """{"family/name": (N, ...)} of the families, and the attributes of some families."""
    sfx = [f"_{op}" for op in ops] if len(ops) > 1 else [""]
    f, attrs = {}, {}
    if "fourier" in families:
        norms = rng.uniform(0.5, 1.0, (N, P)) * (1 - t[:, None])
        norms[:, 5:7] += 3 * t[:, None]  # frequency 3 (cos 3, sin 3) grows
        for tag in ("embed", "logit"):
            f[f"fourier/norms_{tag}"] = norms
            for k in ("ffd", "fcr", "gini", "entropy", "key_fraction"):
                f[f"fourier/{k}_{tag}"] = rng.uniform(size=N)
            f[f"fourier/key_freqs_{tag}"] = np.tile([3, 5, 1, 2, 4], (N, 1))
    for x in sfx if "neurons" in families else ():
        f[f"neurons/mean_power{x}"] = rng.uniform(0.01, 1, (N, P, P))
        f[f"neurons/dominant_freq{x}"] = rng.integers(1, 6, (N, 16))
        f[f"neurons/explained{x}"] = rng.uniform(size=(N, 16))
        f[f"neurons/well_explained{x}"] = t
    for x in sfx if "freqloss" in families else ():
        for k in ("restricted", "excluded", "loss"):
            for split in ("train", "test"):
                f[f"freqloss/{k}_{split}{x}"] = rng.uniform(0.1, 3, N)
        for k in (2, 5):
            f[f"freqloss/trig_k{k}{x}"] = k * t
    if "norms" in families:
        for p in PARAMS:
            f[f"norms/norm/{p}"] = 10 - 5 * t
        f["norms/total"] = 20 - 10 * t
    if "pca" in families:
        for layer in (0, 1):
            f[f"pca/activations/coords_h{layer}"] = rng.normal(size=(N, S, 2))
            f[f"pca/activations/evr_h{layer}"] = np.full((N, 10), 0.1)
        g = "pca/gradients"
        f[f"{g}/coords"] = rng.normal(size=(N, G, 2)) * subset[:, None, None]
        f[f"{g}/correct"] = (rng.uniform(size=(N, G)) > 0.5) * subset[:, None]
        f[f"{g}/is_train"] = (np.arange(G) % 2 == 0) * subset[:, None]
        f[f"{g}/dim90_train"], f[f"{g}/dim90_test"] = 5 * subset, 7 * subset
    if "pca" in families and modular:
        g = "pca/last_layer"
        f[f"{g}/pairs"] = rng.normal(size=(N, 3, P, 2))
        f[f"{g}/evr"] = np.tile([0.3, 0.3, 0.1, 0.1, 0.05, 0.05], (N, 1))
        f[f"{g}/planes"] = rng.normal(size=(N, 2, P, 2))
        attrs[g] = {"plane_freqs": [3, 5]}
    if "entropy" in families:
        for p in PARAMS:
            f[f"entropy/weights/{p}"] = 5 + t
        f["entropy/weights/autocorr"] = rng.uniform(size=(N, P))
        f["entropy/weights/autocorr_peak"] = t
    if "embedding" in families:
        f["embedding/cosine/matrix"] = rng.uniform(-1, 1, (N, P, P)).astype(np.float32)
        f["embedding/cosine/circulant_share"] = t
        f["embedding/cosine/band_contrast"] = 1 + t
        g = "embedding/bimodality"
        f[f"{g}/coefficient"] = 0.3 + 0.4 * t
        f[f"{g}/mode_low"], f[f"{g}/mode_high"] = -0.4 * t, 0.4 * t
        f[f"{g}/hist"] = rng.integers(0, 20, (N, 40)).astype(float)
        f[f"{g}/hist_edges"] = np.tile(np.linspace(-1, 1, 41), (N, 1))
        g = "embedding/constellation"
        f[f"{g}/pca"] = rng.normal(size=(N, P, 2)).astype(np.float32)
        f[f"{g}/planes"] = rng.normal(size=(N, 2, P, 2)).astype(np.float32)
        f[f"{g}/fixed"] = rng.normal(size=(N, P, 2)).astype(np.float32)
        attrs[g] = {"residues": list(range(P)), "plane_freqs": [3, 5], "fixed_freq": 3}
    if "sparsity" in families:
        for layer in (0, 1):
            f[f"sparsity/inactive_h{layer}"] = 0.1 * t
        for p in PARAMS:
            f[f"sparsity/small/{p}"] = 0.05 * t
        f["sparsity/softmax_gap"] = t
        f["sparsity/softmax_gap_class"] = rng.uniform(size=(N, P))
    if "dropout" in families:
        f["dropout/variance/variance"] = 0.01 * subset
        f["dropout/variance/mean"] = 0.5 * subset
        f["dropout/drc/accuracy"] = np.linspace(1, 0, 10)[None, :] * subset[:, None]
        f["dropout/drc/auc"] = 0.5 * subset
        attrs["dropout/drc"] = {"rates": list(np.arange(10) / 10)}
    return {k: np.asarray(v) for k, v in f.items()}, attrs


def _nulls(block: dict, subset) -> dict:
    """The nulls analyze stores beside the findings (grokscan/metrics/nulls.py), constructed:
    the binomial ceiling of the dropout variance, a shuffled-residue level, a Gaussian range."""
    out = {}
    if "dropout/variance/mean" in block:
        mean = block["dropout/variance/mean"]
        out["dropout/variance/binomial"] = mean * (1 - mean) / 1024
        ratio = block["dropout/variance/variance"] / out["dropout/variance/binomial"]
        out.update({"dropout/variance/ratio": ratio, "dropout/variance/ratio_lo": 0.7 * ratio,
                    "dropout/variance/ratio_hi": 1.4 * ratio})
    if "embedding/cosine/circulant_share" in block:
        for k in ("circulant_share", "band_contrast"):
            out[f"embedding/cosine/{k}_null"] = np.full(N, 0.1)
            out[f"embedding/cosine/{k}_null_hi"] = np.full(N, 0.2)
        for k, v in (("", 0.333), ("_lo", 0.32), ("_hi", 0.35)):
            out[f"embedding/bimodality/coefficient_null{k}"] = np.full(N, v)
    return out


MARKERS = {"memorisation": 30, "grokking": 80}


def drawn(fig: Figure) -> bool:
    """Every visible axes of the figure holds something drawn from data."""
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    return bool(axes) and all(ax.lines or ax.collections or ax.images or ax.patches
                              for ax in axes)


def vlines(ax) -> list[float]:
    """x positions of the vertical marker lines of an axes."""
    return sorted(ln.get_xdata()[0] for ln in ax.lines
                  if len(set(ln.get_xdata())) == 1 and ln.get_transform() != ax.transData)


# --- plotting functions on constructed arrays -------------------------------------------------

def test_agg_backend():
    assert matplotlib.get_backend().lower() == "agg"


def test_training_curves_draw_the_data_and_the_markers():
    scalars = {"train_acc": TRAIN_ACC, "test_acc": TEST_ACC, "train_loss": np.exp(-STEPS / 50),
               "test_loss": np.ones(N)}
    fig = F.training_curves(STEPS, scalars, markers=MARKERS)
    loss, acc = fig.axes[:2]
    assert loss.get_yscale() == "log" and drawn(fig)
    test = next(ln for ln in acc.lines if ln.get_label() == "test")
    np.testing.assert_array_equal(test.get_ydata(), TEST_ACC)
    assert vlines(loss) == vlines(acc) == [30, 80]


def test_series_grid_draws_only_finite_rows():
    y = np.full(N, np.nan)
    y[SUBSET] = [1.0, 2.0, 3.0, 4.0]
    fig = F.series_grid(STEPS, {"a": {"x": y}, "b": {"x": np.arange(N) + 1.0}}, logy=("b",),
                        markers=MARKERS)
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), STEPS[SUBSET])
    np.testing.assert_array_equal(line.get_ydata(), [1, 2, 3, 4])
    assert fig.axes[1].get_yscale() == "log" and vlines(fig.axes[1]) == [30, 80]


def test_fourier_heatmap_shows_the_norms():
    z = np.arange(N * 5, dtype=float).reshape(N, 5)
    fig = F.fourier_heatmap(STEPS, {"embedding": z}, markers=MARKERS)
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(5, N), z.T)
    assert vlines(fig.axes[0]) == [30, 80]


def test_neuron_spectrum_and_frequency_loss():
    a, b = np.full((P, P), 0.01), np.full((P, P), 0.01)
    b[5, 5] = 10.0
    fig = F.neuron_spectrum(a, b, steps=(30, 110))
    meshes = [c for ax in fig.axes[:2] for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 2 and np.asarray(meshes[1].get_array()).max() == 10.0
    assert meshes[0].norm is meshes[1].norm  # one colour scale for both
    losses = {"loss_train": np.ones(N), "restricted_train": np.full(N, 0.5)}
    fig = F.frequency_loss(STEPS, losses, markers=MARKERS)
    assert [ln.get_linestyle() for ln in fig.axes[0].lines[:2]] == ["-", "--"] and drawn(fig)


def test_trig_coefficients_draw_one_line_per_key_frequency():
    coef = {5: np.linspace(0, 1, N), 2: np.full(N, np.nan)}
    coef[2][3:] = 0.5
    fig = F.trig_coefficients(STEPS, coef, markers=MARKERS)
    lines = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("k = ")]
    assert [ln.get_label() for ln in lines] == ["k = 2", "k = 5"]
    np.testing.assert_array_equal(lines[0].get_xdata(), STEPS[3:])
    np.testing.assert_array_equal(lines[1].get_ydata(), coef[5])
    assert vlines(fig.axes[0]) == [30, 80]


def test_constellation_places_every_residue(tmp_path):
    theta = 2 * np.pi * 3 * np.arange(P) / P
    circle = np.stack([np.cos(theta), np.sin(theta)], -1)
    coords = np.stack([np.stack([circle, 2 * circle])] * 2)  # (2 projections, 2 moments, P, 2)
    fig = F.constellation(coords, steps=[0, 110], projections=["PC", "k = 3"])
    assert len(fig.axes) == 4
    for ax, xy in zip(fig.axes, coords.reshape(4, P, 2)):
        pts = next(c for c in ax.collections if isinstance(c, PathCollection))
        np.testing.assert_allclose(pts.get_offsets(), xy)
        assert sorted(int(t.get_text()) for t in ax.texts) == list(range(P))
    anim = F.constellation_animation(coords[0], steps=[0, 110], title="t", hue=np.arange(P))
    assert isinstance(anim, FuncAnimation) and drawn(anim._fig)
    anim.save(tmp_path / "c.gif", writer=PillowWriter(fps=2), dpi=30)
    with Image.open(tmp_path / "c.gif") as im:
        assert im.n_frames == 2


def test_constellation_colours_each_plane_by_its_own_hue():
    # the plane of k = 3 coloured by 3·t mod P: points that share 3·t mod P share a colour,
    # whatever their residue, and the first row keeps the residue's colour
    from matplotlib.colors import to_hex

    from grokscan.figures._style import residue_colours

    xy = np.random.default_rng(0).normal(size=(2, 1, P, 2))
    t = np.arange(P)
    fig = F.constellation(xy, steps=[0], projections=["PC", "k = 3"],
                          hues=np.stack([t, (3 * t) % P]))
    colours = [to_hex(c) for c in residue_colours(P)]
    for ax, hue in zip(fig.axes, (t, (3 * t) % P)):
        pts = next(c for c in ax.collections if isinstance(c, PathCollection))
        assert [to_hex(c) for c in pts.get_facecolors()] == [colours[h] for h in hue]


def test_cosine_matrices_and_histograms():
    mats = np.stack([np.eye(P), -np.eye(P)])
    fig = F.cosine_matrices(mats, steps=[0, 110])
    images = [im for ax in fig.axes for im in ax.images]
    np.testing.assert_array_equal(images[1].get_array(), -np.eye(P))
    assert images[0].get_clim() == (-1, 1)
    hist = np.array([[1.0, 3.0], [2.0, 2.0]])
    edges = np.array([[0.0, 1.0, 2.0], [0.0, 0.5, 1.0]])
    fig = F.embedding_histograms(hist, edges, steps=[0, 110])
    for ax, e in zip(fig.axes, edges):
        density = ax.patches[0].get_data().values
        assert (density * np.diff(e)).sum() == pytest.approx(1.0)  # unit area


def test_pca_figures():
    coords = np.random.default_rng(1).normal(size=(2, 3, S, 2))
    coords[0, 0, 0] = np.nan
    labels = np.arange(S) % 4
    fig = F.activation_pca(coords, labels, steps=[0, 50, 110], layers=["h0", "h1"])
    assert len(fig.axes) == 6 and drawn(fig)
    first = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(first, coords[0, 0, 1:])  # the NaN sample is not drawn
    assert len(fig.legends[0].get_texts()) == 4  # four classes: a categorical legend
    correct = np.ones((2, G))
    correct[:, :5] = 0
    correct[1, 5] = np.nan
    fig = F.gradient_pca(np.zeros((2, G, 2)), correct, steps=[0, 110])
    n_drawn = [sum(len(c.get_offsets()) for c in ax.collections) for ax in fig.axes]
    assert n_drawn == [G, G - 1]
    labels = np.arange(G) % 4  # a few classes: a second row, coloured by class
    fig = F.gradient_pca(np.zeros((2, G, 2)), correct, steps=[0, 110], labels=labels)
    n_drawn = [sum(len(c.get_offsets()) for c in ax.collections) for ax in fig.axes]
    assert n_drawn == [G, G - 1, G, G - 1]
    colours = fig.axes[2].collections[0].get_facecolors()
    assert len({tuple(c) for c in colours}) == 4
    np.testing.assert_array_equal(colours[0], colours[4])  # samples 0 and 4: class 0
    fig = F.gradient_dimension(STEPS, {"train": 5.0 * np.ones(N)}, markers=MARKERS)
    assert drawn(fig)
    pairs = np.random.default_rng(2).normal(size=(3, P, 2))
    fig = F.last_layer_pca(pairs, np.array([0.3, 0.2, 0.1, 0.1, 0.05, 0.05]), step=110,
                           planes=pairs[:2], plane_freqs=[3, 5])
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0] == "PC0 (30%) – PC1 (20%)" and titles[-1] == "plane of k = 5"
    np.testing.assert_allclose(fig.axes[1].collections[0].get_offsets(), pairs[1])


def test_weight_and_dropout_figures():
    fig = F.weight_statistics(STEPS, {"weight norm (L2)": {"W": 10 - STEPS / 20},
                                      "weight entropy": {"W": np.ones(N)}}, markers=MARKERS)
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "linear"
    acc = np.array([np.linspace(0.1, 0.1, 10), np.linspace(1, 0, 10)])
    fig = F.dropout_robustness(np.arange(10) / 10, acc, steps=[0, 110])
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), acc[1])
    var = np.full(N, np.nan)
    var[SUBSET] = 0.01
    fig = F.dropout_variance(STEPS, var, var * 50, markers=MARKERS)
    assert len(fig.axes[0].lines[0].get_xdata()) == len(SUBSET)


def test_a_layer_has_one_colour_in_every_weight_panel():
    from matplotlib.colors import to_hex

    one = np.ones(N)
    fig = F.weight_statistics(STEPS, {
        "weight entropy": {"hidden.0.W": one, "hidden.1.W": one * 2, "unembed.W_U": one * 3},
        "inactive units (share)": {"hidden 0": one * 0, "hidden 1": one * 0.01}})
    seen = {}
    for ax in fig.axes:
        for line in ax.lines:
            if not line.get_label().startswith("_"):
                seen.setdefault(line.get_label().replace(".W", "").replace(".", " "),
                                set()).add(to_hex(line.get_color()))
    assert all(len(c) == 1 for c in seen.values()), seen  # hidden 0's units = its weights
    assert len({c.pop() for c in seen.values()}) == 3  # three layers, three colours


def test_softmax_gap_quantiles_over_many_classes():
    g = np.random.default_rng(3).uniform(size=(N, 13))
    fig = F.softmax_gap(STEPS, g.mean(1), g, markers=MARKERS)
    assert len(fig.axes) == 1  # one panel: the gap inside the band of the classes
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    np.testing.assert_allclose(np.sort(band[:, 1])[[0, -1]],
                               [np.quantile(g, 0.1, axis=1).min(),
                                np.quantile(g, 0.9, axis=1).max()])
    fig = F.softmax_gap(STEPS, g.mean(1), g[:, :4], class_names=list("abcd"))
    assert sorted(ln.get_label() for ln in fig.axes[1].lines) == list("abcd")


def test_moments_tell_the_story():
    assert STEPS[moments(STEPS, MARKERS, 5)].tolist() == [0, 30, 50, 80, 110]
    assert STEPS[moments(STEPS, MARKERS, 4)].tolist() == [0, 30, 80, 110]
    valid = np.zeros(N, bool)
    valid[SUBSET] = True
    assert STEPS[moments(STEPS, MARKERS, 4, valid=valid)].tolist() == [0, 40, 80, 110]
    none = {"memorisation": None, "grokking": None}
    # without events: the ends, then each time the step farthest from those already chosen
    assert STEPS[moments(STEPS, none, 4)].tolist() == [0, 50, 80, 110]
    assert STEPS[moments(STEPS, MARKERS, 3, valid=valid)].tolist() == [0, 80, 110]
    # the training's own phases, where known: the end of the plateau and the transition
    phases = {**MARKERS, "plateau_end": 40, "transition": 60}
    assert STEPS[moments(STEPS, phases, 5)].tolist() == [0, 40, 60, 80, 110]


def test_moments_end_on_steps_that_repeat_or_are_nan():
    """The fill-in loop chose a row again when steps repeat or are NaN, and never ended (the
    metrics file is checked when it is opened; this is the function's own guarantee)."""
    import signal

    def stop(sig, frame):
        raise TimeoutError("moments did not end")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(10)
    try:
        for steps in ([0, 10, 10, 10, 10, 20], [0, np.nan, np.nan, np.nan, 40, 50]):
            rows = moments(np.array(steps), {}, 5)
            assert len(rows) == 5 and len(set(rows.tolist())) == 5, (steps, rows)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_the_phases_of_test_accuracy():
    from grokscan.reporting.base import test_phases

    assert test_phases(STEPS, TEST_ACC, 30) == {"plateau_end": 40, "transition": 60}
    flat = np.full(N, 0.02)  # memorised, never generalises
    assert test_phases(STEPS, flat, 30) == {"plateau_end": None, "transition": None}
    assert test_phases(STEPS, TEST_ACC, None) == {"plateau_end": None, "transition": None}


# --- the report of synthetic metrics files ----------------------------------------------------

FULL_FIGURES = {"training_curves", "fourier_heatmap", "fourier_measures", "neuron_spectrum",
                "frequency_loss", "constellation", "cosine_similarity", "embedding_histograms",
                "embedding_structure", "activation_pca", "gradient_pca", "gradient_dimension",
                "last_layer_pca", "weight_statistics", "dropout_variance",
                "dropout_robustness", "softmax_gap", "trig_coefficients"}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = write_metrics(tmp_path_factory.mktemp("full"))
    return out, R.render(out, quiet=True, dpi=40)


def test_every_figure_draws_from_the_full_metrics_file(full, tmp_path):
    out, _ = full
    with MetricsFile(out) as m:
        ctx = Page(m, R.event_markers(m))
        # test accuracy 0.1 at memorisation (step 30): 0.19 first at step 40, 0.55 at 60
        assert ctx.markers == {**MARKERS, "plateau_end": 40, "transition": 60}
        items = {it.name: it for sec in R.build(ctx) for it in sec.items}
        # the source file does not exist: everything is drawn from the metrics file alone
        assert set(items) == FULL_FIGURES | {"constellation_animation"}
        for name, it in items.items():
            fig = it.draw()
            if name == "constellation_animation":
                assert isinstance(fig, FuncAnimation)
                fig.save(tmp_path / "a.gif", writer=PillowWriter(fps=4), dpi=20)
                with Image.open(tmp_path / "a.gif") as im:
                    assert im.n_frames == N  # every analysed checkpoint is a frame
                continue
            assert isinstance(fig, Figure) and drawn(fig), name
            assert len(re.findall(r"\. ", it.caption)) >= 1, name  # two or three sentences


def test_full_report_page(full):
    out, result = full
    page = (out / "report.html").read_text()
    srcs = re.findall(r'<img src="([^"]*)"', page)
    assert len(srcs) == len(FULL_FIGURES) + 1
    assert sum(s.startswith("data:image/png;base64,") for s in srcs) == len(FULL_FIGURES)
    assert sum(s.startswith("data:image/gif;base64,") for s in srcs) == 1
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # nothing outside the file
    for name in FULL_FIGURES:  # the embedded image is the saved PNG
        png = (out / "figures" / f"{name}.png").read_bytes()
        uri = re.search(rf'<figure id="{name}"><img src="data:image/png;base64,([^"]+)"', page)
        assert base64.b64decode(uri.group(1)) == png
    assert sorted(os.path.basename(p) for p in result["figures"]) == sorted(
        [f"{n}.png" for n in FULL_FIGURES] + ["constellation_animation.gif"])
    # the summary table: first crossings of the constructed accuracies, and the delay
    row = re.search(r"<td>train accuracy</td>(.*?)</tr>", page).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row) == ["10", "20", "20", "20", "30", "1.0000"]
    row = re.search(r"<td>test accuracy</td>(.*?)</tr>", page).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row)[:5] == ["60", "70", "70", "70", "80"]
    assert "grokking delay (train ≥ 0.99 → test ≥ 0.99): 50 steps" in page
    assert "add mod 11, train fraction 0.5 · MLP, embedding 8 (concat) → 2 × 16 relu" in page
    assert "/nonexistent" not in page  # the foot names the files, not local paths
    assert [s for s in result["sections"]] == ["training", "fourier", "constellation",
                                               "geometry", "pca", "last_layer", "weights",
                                               "output"]


def test_the_page_opens_with_the_runs_summary_and_folds_the_rest(full):
    out, _ = full
    page = (out / "report.html").read_text()
    ids = re.findall(r'<section id="(\w+)"', page)
    assert ids[0] == "summary" and "training" not in ids  # its figures are in the summary
    summary = page[page.index('<section id="summary">'):page.index("</section>")]
    assert re.findall(r'<figure id="(\w+)"', summary) == ["training_curves", "fourier_heatmap"]
    assert ("Train accuracy reached 0.99 at step 30 (memorisation). Test accuracy first "
            "reached 0.5 at step 60, 30 steps after memorisation. It reached 0.99 at step 80: "
            "the run grokked, 50 steps after memorising. Key frequencies at the end: 3, 5."
            in page)
    assert page.count("<details>") == len(ids) - 1  # every other section folds
    assert re.findall(r'<a href="#(\w+)"', page) == ids[1:]  # the table of contents


def test_each_finding_is_read_against_its_null(full, tmp_path):
    out, _ = full
    page = (out / "report.html").read_text()
    assert "times the binomial p(1 − p)/n of 1024 test examples" in page
    assert "stands above its shuffled-residue null (95th percentile) from step" in page
    assert "Null: a Gaussian of as many entries gives 0.333" in page
    assert "Against initialisation (the null): the Gini coefficient of the embedding" in page
    assert "not in this metrics file" not in page
    # a file written before the nulls were stored still reports, and says what it lacks
    old = write_metrics(tmp_path / "old", families=("embedding", "dropout", "fourier",
                                                    "sparsity"), nulls=False)
    with MetricsFile(old) as m:  # the captions, without drawing
        page = " ".join(it.caption for sec in R.build(Page(m, R.event_markers(m)))
                        for it in sec.items)
    for what in ("The binomial null is not in this metrics file",
                 "The shuffled-residue null of the circulant share is not in this metrics file",
                 "The Gaussian null of the bimodality coefficient is not in this file",
                 "The values at initialisation, the null of the Gini coefficient, are not in "):
        assert what in page
    assert page.count("re-run grokscan analyze") >= 4


def test_partial_report_leaves_out_what_was_not_computed(tmp_path):
    out = write_metrics(tmp_path / "p", families=("pca", "dropout"), kind="ising")
    assert R.render(out, quiet=True, dpi=30)["left_out"] == [
        ("Fourier representation", R.MISSING["fourier"]),
        ("Embedding geometry", R.MISSING["geometry"]),
        ("Last-layer principal components", R.MISSING["last_layer"]),
        ("Softmax outputs", R.MISSING["output"])]
    page = (out / "report.html").read_text()
    ids = re.findall(r'<section id="(\w+)"', page)
    assert ids == ["summary", "pca", "weights"]
    figs = re.findall(r'<figure id="(\w+)"', page)
    assert figs == ["training_curves", "activation_pca", "gradient_pca", "gradient_dimension",
                    "weight_statistics", "dropout_variance", "dropout_robustness"]
    assert "coloured by energy class" in page and "Fourier norms" not in page
    assert sorted(os.listdir(out / "figures")) == sorted(f"{n}.png" for n in figs)
    # the CLI on a file with fewer families: one PDF too, and the figures no longer drawn go
    write_metrics(out, families=())
    r = CliRunner().invoke(main, ["report", str(out), "--pdf", "-q"])
    assert r.exit_code == 0, r.output
    assert re.findall(r'<figure id="(\w+)"', (out / "report.html").read_text()) == [
        "training_curves", "weight_statistics"]  # the recorded weight norm is always there
    assert sorted(os.listdir(out / "figures")) == ["training_curves.png",
                                                   "weight_statistics.png"]
    doc = (out / "report.pdf").read_bytes()
    assert doc[:4] == b"%PDF" and len(re.findall(rb"/Type\s*/Page\b", doc)) == 3  # summary + 2
    r = CliRunner().invoke(main, ["report", str(out), "-q"])  # a later report without --pdf
    assert r.exit_code == 0 and not (out / "report.pdf").exists()


def test_one_figure_per_operation_of_a_multitask_run(tmp_path):
    out = write_metrics(tmp_path, families=("neurons", "freqloss"), ops=("add", "sub"))
    with MetricsFile(out) as m:
        ctx = Page(m, R.event_markers(m))
        items = {it.name: it for sec in R.build(ctx) for it in sec.items}
        assert list(items) == ["training_curves", "neuron_spectrum_add", "neuron_spectrum_sub",
                               "frequency_loss_add", "trig_coefficients_add",
                               "frequency_loss_sub", "trig_coefficients_sub",
                               "weight_statistics"]
        assert items["frequency_loss_sub"].title == "Restricted and excluded loss (sub)"
        fig = items["neuron_spectrum_sub"].draw()
        mesh = fig.axes[1].collections[0]  # after grokking: the last checkpoint of sub's power
        with h5py.File(out / "metrics.h5") as f:
            last = f["metrics/neurons/mean_power_sub"][-1]
        np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(P, P), last)


def test_bad_output_folders(tmp_path):
    with pytest.raises(GrokscanError, match="no such file or folder"):
        R.render(tmp_path / "missing")
    with pytest.raises(GrokscanError, match=r"holds no metrics.h5 \(make it with"):
        R.render(tmp_path)
    (tmp_path / "metrics.h5").write_text("not hdf5")
    with pytest.raises(GrokscanError, match="is not an HDF5 file"):
        R.render(tmp_path)
    write_metrics(tmp_path, families=())
    with h5py.File(tmp_path / "metrics.h5", "r+") as f:
        f.attrs["format_version"] = 3
    with pytest.raises(GrokscanError, match="grokscan-metrics format version 3; this grokscan "
                                            "reads version 1 or 2"):
        R.render(tmp_path)
    with h5py.File(tmp_path / "metrics.h5", "r+") as f:
        f.attrs["format"] = "grokscan-checkpoints"
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 1
    lines = [ln for ln in r.output.strip().splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and "not a grokscan metrics file" in lines[0], r.output
    write_metrics(tmp_path, families=())
    with h5py.File(tmp_path / "metrics.h5", "r+") as f:
        f["metrics/norms/total"] = np.ones(N + 1)
    with pytest.raises(GrokscanError, match=r"/metrics/norms/total has shape \(13,\); "
                                            r"expected one row per analysed step \(12\)"):
        R.render(tmp_path, quiet=True)


# --- a real short run, analysed and reported by the CLI, opened in Chromium --------------------

@pytest.fixture(scope="module")
def real(fast_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    r = CliRunner().invoke(main, ["analyze", str(fast_run), "-o", str(out), "--families",
                                  "fourier,norms,embedding/constellation", "--every", "10", "-q"])
    assert r.exit_code == 0, r.output
    return out


def test_analyze_ends_with_the_report(real, fast_run, tmp_path):
    page = (real / "report.html").read_text()
    figs = re.findall(r'<figure id="(\w+)"', page)
    assert figs == ["training_curves", "forecast", "fourier_heatmap", "fourier_measures",
                    "constellation", "constellation_animation", "weight_statistics"]
    gif = (real / "figures" / "constellation_animation.gif")
    with Image.open(gif) as im:
        assert im.n_frames == 16  # 151 checkpoints, every 10th analysed
    assert f'src="data:image/gif;base64,{base64.b64encode(gif.read_bytes()).decode()}"' in page
    r = CliRunner().invoke(main, ["analyze", str(fast_run), "-o", str(tmp_path), "--families",
                                  "norms", "--every", "50", "--no-report", "-q"])
    assert r.exit_code == 0 and (tmp_path / "metrics.h5").exists()
    assert not (tmp_path / "report.html").exists()


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe: the browser reads
    NUL-terminated JSON commands on its fd 3 and writes replies and events on its fd 4
    (``--remote-debugging-pipe``), so no WebSocket library is needed."""

    def __init__(self, exe: str, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="grokscan-chromium-")
        child_in, self.to_child = os.pipe()
        self.from_child, child_out = os.pipe()

        def wire():  # in the child, before exec: put the pipe ends on fds 3 and 4
            a, b = os.dup(child_in), os.dup(child_out)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [exe, "--headless", "--remote-debugging-pipe", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
                f"--user-data-dir={self.profile}"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
        self.proc = subprocess.Popen(args + ["about:blank"], preexec_fn=wire, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(child_in)
        os.close(child_out)
        self.buf, self.last_id, self.events = b"", 0, []

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_child], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self.from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self.last_id += 1
        msg = {"id": self.last_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read())

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and p["type"] == "error":
                out.append(str(p["args"]))
            elif e.get("method") == "Runtime.exceptionThrown":
                out.append(str(p["exceptionDetails"]))
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        return out

    def open(self, path, png, *, width=1280, height=1600) -> tuple[list, list]:
        """Load ``path`` from a file:// URL; save a screenshot; return the state of every
        image [alt, complete, naturalWidth] and the console errors."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        s = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=s)
        self.call("Emulation.setDeviceMetricsOverride", session=s, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", session=s, url="file://" + os.path.abspath(path))
        self.wait_for("Page.loadEventFired")
        images = self.call("Runtime.evaluate", session=s, returnByValue=True, expression=(
            "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        ))["result"]["value"]
        shot = self.call("Page.captureScreenshot", session=s, format="png")["data"]
        with open(png, "wb") as fh:
            fh.write(base64.b64decode(shot))
        self.call("Target.closeTarget", targetId=target)
        return images, self.errors()

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_child)
        os.close(self.from_child)
        shutil.rmtree(self.profile, ignore_errors=True)


def chromium_path() -> str:
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)
    if exe is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package)")
    return exe


def test_the_report_opens_in_chromium(real, tmp_path):
    browser = Chromium(chromium_path())
    try:
        # the checker itself catches a broken image and a console error
        bad = tmp_path / "bad.html"
        bad.write_text('<html><body><img alt="broken" src="data:image/png;base64,AAAA">'
                       '<script>console.error("boom")</script></body></html>')
        images, errors = browser.open(bad, tmp_path / "bad.png")
        browser.events.clear()
        assert images == [["broken", True, 0]] and errors
        images, errors = browser.open(real / "report.html", tmp_path / "report.png")
    finally:
        browser.close()
    assert len(images) == 7 and all(done and width > 0 for _, done, width in images), images
    assert errors == []
    with Image.open(tmp_path / "report.png") as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape == (1600, 1280, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100  # text and figures, not blank


def test_the_training_caption_states_this_runs_crossings_and_only_the_lines_drawn():
    from types import SimpleNamespace

    from grokscan.reporting.model import _training_caption

    run = SimpleNamespace(run_scalars={"test_acc": np.array([0.0, 0.2, 0.31])},
                          run_steps=np.array([10, 20, 30]))
    text = _training_caption(run, {"memorisation": 30, "grokking": None})
    assert "dashed line marks memorisation" in text and "dash-dotted" not in text
    assert "test accuracy did not reach 0.99 (final 0.310)" in text
    text = _training_caption(run, MARKERS)
    assert "reached 0.99 at step 30 and test accuracy at step 80, 50 steps later" in text
    text = _training_caption(run, {"memorisation": None, "grokking": None})
    assert "line" not in text and "did not reach 0.99" in text


def test_a_share_of_inactive_units_that_stays_zero_is_said_not_drawn(tmp_path):
    out = write_metrics(tmp_path / "m", families=("norms", "entropy", "sparsity"))

    def caption():
        with MetricsFile(out) as m:
            return next(it.caption for sec in R.build(Page(m, R.event_markers(m)))
                        for it in sec.items if it.name == "weight_statistics")

    assert "not drawn" not in caption()  # the constructed shares rise from 0
    with h5py.File(os.path.join(out, "metrics.h5"), "r+") as f:
        for name in [n for n in f["metrics/sparsity"] if n.startswith("inactive_h")]:
            f[f"metrics/sparsity/{name}"][...] = 0.0
    assert "(0 at every checkpoint here: said above the figure, not drawn)" in caption()
