"""The public figure API, every name of ``grokscan.figures.__all__``: each panel function draws
the numbers it is given on the Axes it is given and returns that Axes (or, without one, a
Figure of its own); each figure function returns a Figure of its own; none creates a pyplot
figure; each has a numpydoc docstring whose examples run."""

import doctest
import inspect
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.animation import FuncAnimation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

import grokscan.figures as F
from grokscan.figures.pca import asinh_plane
from grokscan.sweep.stats import AlongAxis, Diagram

N, P = 8, 7  # checkpoints, residues
STEPS = np.arange(N) * 10
T = np.linspace(0.0, 1.0, N)
MARKERS = {"memorisation": 20, "grokking": 50}


def own_axes():
    """One Axes of a Figure made without pyplot."""
    fig = Figure(figsize=(3, 2), dpi=30)
    FigureCanvasAgg(fig)
    return fig.subplots()


def curves(ax) -> dict:
    """{label: (x, y)} of the labelled data lines of an Axes."""
    return {ln.get_label(): (ln.get_xdata(), ln.get_ydata()) for ln in ax.lines
            if not ln.get_label().startswith("_")}


def vlines(ax) -> list:
    """The steps of the vertical marker lines (drawn in axes coordinates) of an Axes."""
    return sorted(ln.get_xdata()[0] for ln in ax.lines
                  if ln.get_transform() is not ax.transData and len(set(ln.get_xdata())) == 1)


def offsets(ax, i: int = 0) -> np.ndarray:
    return np.asarray([c for c in ax.collections if isinstance(c, PathCollection)][i]
                      .get_offsets())


def circle(m: int, k: int = 1) -> np.ndarray:
    """(m, 2): residue t at angle 2πkt/m on the unit circle."""
    theta = 2 * np.pi * k * np.arange(m) / m
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def factor_report():
    """The factor report of a last layer whose rows turn at frequency 4 mod 20: five clusters
    of four (the classes mod 5)."""
    from grokscan.factor.read import read_factors

    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((2, 32)) / 6
    W = circle(20, 4) @ np.stack([u, v])
    return read_factors(W + 0.01 * rng.standard_normal(W.shape))


def diagram() -> Diagram:
    """Two learning rates × two weight decays, one cell without a finished run."""
    return Diagram("lr", "wd", [0.001, 0.01], [0.1, 1.0],
                   {"delay": np.array([[np.nan, 900.0], [400.0, 200.0]])},
                   np.array([["memorisation", "grokking"], [None, "comprehension"]],
                            dtype=object),
                   np.array([[2, 1], [0, 2]]), np.array([[2, 2], [0, 2]]))


def runs() -> list:
    return [{"steps": STEPS, "train_acc": T, "test_acc": T ** k, "value": float(k)}
            for k in (1, 3)]


# --- panel functions: (args, kwargs, check(ax)) each, the check on what the numbers draw -----

def _series_panel():
    y = T.copy()
    y[2] = np.nan
    def check(ax):
        (x0, y0), (_, y1) = curves(ax)["train"], curves(ax)["gap"]
        np.testing.assert_array_equal(x0, STEPS[np.isfinite(y)])
        np.testing.assert_array_equal(y0, y[np.isfinite(y)])
        np.testing.assert_array_equal(y1, 1 - T)
        assert vlines(ax) == [20, 50] and ax.get_title() == "accuracy"
    return (STEPS, {"train": y, "gap": 1 - T}), dict(title="accuracy", markers=MARKERS), check


SCALARS = {"train_loss": np.exp(-4 * T), "test_loss": 3 - 2 * T, "train_acc": T,
           "test_acc": T ** 4}


def _loss_curves():
    def check(ax):
        np.testing.assert_array_equal(curves(ax)["test"][1], SCALARS["test_loss"])
        assert ax.get_yscale() == "log" and vlines(ax) == [20, 50]
    return (STEPS, SCALARS), dict(markers=MARKERS), check


def _accuracy_curves():
    def check(ax):
        np.testing.assert_array_equal(curves(ax)["test"][1], SCALARS["test_acc"])
        np.testing.assert_array_equal(curves(ax)["train"][0], STEPS)
    return (STEPS, SCALARS), {}, check


def _frequency_heatmap():
    norms = np.arange(N * 5, dtype=float).reshape(N, 5)
    def check(ax):
        mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
        np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(5, N), norms.T)
        assert vlines(ax) == [20, 50]
    return (STEPS, norms), dict(title="embedding", markers=MARKERS), check


def _neuron_power():
    power = np.arange(1.0, 1.0 + P * P).reshape(P, P)  # positive, 2 decades: none clipped
    def check(ax):
        mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
        np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(P, P), power)
        assert mesh.norm.vmax == P * P
    return (power,), dict(title="after"), check


def _frequency_loss():
    losses = {"loss_train": 1 + T, "restricted_test": 2 + T, "excluded_test": 3 - T}
    def check(ax):
        drawn = curves(ax)
        np.testing.assert_array_equal(drawn["excluded (test)"][1], losses["excluded_test"])
        assert [ln.get_linestyle() for ln in ax.lines[:3]] == ["-", "--", ":"]
    return (STEPS, losses), dict(markers=MARKERS), check


def _trig_coefficients():
    coef = {5: T, 2: -T}
    def check(ax):
        assert list(curves(ax)) == ["k = 2", "k = 5"]
        np.testing.assert_array_equal(curves(ax)["k = 2"][1], -T)
    return (STEPS, coef), {}, check


def _constellation_panel():
    xy = 2 * circle(P, 3)
    def check(ax):
        np.testing.assert_allclose(offsets(ax), xy)
        assert sorted(int(t.get_text()) for t in ax.texts) == list(range(P))
        assert ax.get_xlim() == ax.get_ylim()  # square, scaled to fit
    return (xy,), dict(hue=(3 * np.arange(P)) % P, title="k = 3"), check


def _cosine_matrix():
    C = np.cos(2 * np.pi * np.subtract.outer(np.arange(P), np.arange(P)) / P)
    def check(ax):
        np.testing.assert_array_equal(ax.images[0].get_array(), C)
        assert ax.images[0].get_clim() == (-1, 1)
    return (C,), dict(title="step 0"), check


def _embedding_histogram():
    def check(ax):
        np.testing.assert_allclose(ax.patches[0].get_data().values, [0.25, 0.75])
    return ([1.0, 3.0], [0.0, 1.0, 2.0]), {}, check


def _grid_map():
    a = np.arange(P)
    values = np.cos(2 * np.pi * 2 * np.add.outer(a, a) / P)
    def check(ax):
        np.testing.assert_array_equal(ax.images[0].get_array(), values)
        assert ax.images[0].norm.vmin == -ax.images[0].norm.vmax  # diverging around 0
    return (values,), dict(title="neuron 3"), check


def _activation_pca_panel():
    xy = circle(12)
    xy[3] = np.nan
    labels = np.arange(12) % 3
    def check(ax):
        np.testing.assert_allclose(offsets(ax), np.delete(xy, 3, axis=0))
        colours = [to_hex(c) for c in ax.collections[0].get_facecolors()]
        assert len(set(colours)) == 3 and colours[0] == colours[5]  # samples 0 and 6: class 0
    return (xy, labels), {}, check


def _gradient_pca_panel():
    xy = np.stack([np.linspace(0, 1, 20), np.linspace(1, 0, 20)], axis=1)
    correct = (np.arange(20) >= 5).astype(float)
    correct[7] = np.nan
    def check(ax):
        got = np.concatenate([c.get_offsets() for c in ax.collections])
        drawn = np.delete(asinh_plane(xy), 7, 0)  # on the asinh scale around the median
        np.testing.assert_allclose(np.sort(got, axis=0), np.sort(drawn, axis=0))
        black = [c for c in ax.collections if to_hex(c.get_facecolor()[0]) == to_hex("0.05")]
        assert len(black[0].get_offsets()) == 5  # the misclassified
    return (xy, correct), {}, check


def _gradient_class_panel():
    xy = np.stack([np.linspace(0, 1, 20), np.linspace(1, 0, 20)], axis=1)
    def check(ax):
        np.testing.assert_allclose(offsets(ax), asinh_plane(xy))
        assert len({to_hex(c) for c in ax.collections[0].get_facecolors()}) == 4
    return (xy, np.ones(20), np.arange(20) % 4), {}, check


def _gradient_dimension():
    dims = {"train": np.where(np.arange(N) % 2, np.nan, 5.0), "test": np.full(N, 6.0)}
    def check(ax):
        np.testing.assert_array_equal(curves(ax)["train"][0], STEPS[::2])
        np.testing.assert_array_equal(curves(ax)["test"][1], dims["test"])
    return (STEPS, dims), dict(markers=MARKERS), check


def _last_layer_plane():
    xy = circle(10, 5)  # two clusters of five
    def check(ax):
        np.testing.assert_allclose(offsets(ax), xy)
        assert len(ax.texts) == 10
    return (xy,), dict(title="plane of k = 5"), check


def _dropout_robustness():
    rates = np.arange(10) / 10
    acc = np.stack([np.full(10, 0.1), np.clip(1.5 - 2 * rates, 0, 1)])
    def check(ax):
        assert list(curves(ax)) == ["step 0", "step 70"]
        np.testing.assert_array_equal(curves(ax)["step 70"][1], acc[1])
    return (rates, acc), dict(steps=[0, 70]), check


def _norm_accuracy():
    norm, test = np.linspace(90, 20, N), np.clip(T, 0, 1)
    def check(ax):
        assert list(curves(ax)) == ["train accuracy", "test accuracy"]
        np.testing.assert_array_equal(curves(ax)["test accuracy"][0], norm)
        np.testing.assert_array_equal(curves(ax)["test accuracy"][1], test)
    return (norm, test), dict(train_acc=np.ones(N)), check


def _llc_curve():
    mean = np.where(np.arange(N) % 3 == 0, 10.0 + T, np.nan)
    def check(ax):
        line = ax.lines[0]
        np.testing.assert_array_equal(line.get_ydata(), mean[np.isfinite(mean)])
        np.testing.assert_array_equal(line.get_xdata(), STEPS[np.isfinite(mean)])
    return (STEPS, mean, 0.1 * T), dict(markers=MARKERS), check


def _llc_chains():
    trace = 0.1 + 0.01 * np.arange(3 * 5).reshape(3, 5)
    def check(ax):
        for c in range(3):
            np.testing.assert_allclose(ax.lines[c].get_ydata(), 100 * (trace[c] - 0.1))
        assert ax.get_title() == "step 40"
    return (trace,), dict(init_loss=0.1, nbeta=100.0, step=40), check


def _acceptance_rates():
    accept = np.stack([T, 1 - T], axis=1)
    accept[1] = np.nan
    def check(ax):
        np.testing.assert_array_equal(ax.lines[1].get_ydata(), np.delete(1 - T, 1))
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.delete(STEPS, 1))
    return (STEPS, accept), dict(markers=MARKERS), check


def _roc():
    fpr, tpr = [0.0, 0.2, 1.0], [0.0, 0.9, 1.0]
    def check(ax):
        line = curves(ax)["score (AUC 0.90)"]
        np.testing.assert_array_equal(line[0], fpr)
        np.testing.assert_array_equal(line[1], tpr)
    return ({"score": (fpr, tpr)}, {"score": 0.9}), {}, check


ONSET_ROWS = pd.DataFrame({"step_test_0.5": [100.0, 200.0, 300.0],
                           "flag": [50.0, np.nan, 250.0], "step_memorised": [20.0, 40.0, 60.0],
                           "lead_fraction": [0.625, np.nan, 0.2]})


def _flag_steps():
    def check(ax):
        np.testing.assert_array_equal(offsets(ax, 1), [[100, 50], [200, np.nan], [300, 250]])
        assert offsets(ax, 2).tolist() == [[200, 315]]  # not flagged: at the top
    return (ONSET_ROWS,), {}, check


def _lead_fractions():
    def check(ax):
        heights = [p.get_height() for p in ax.patches]
        assert sum(heights) == 2  # the flagged runs
    return (ONSET_ROWS,), {}, check


def _forecast_score():
    record = {"name": "detector", "steps": STEPS, "score": T, "threshold": 0.5, "step": 40}
    def check(ax):
        np.testing.assert_array_equal(curves(ax)["score"][1], T)
        assert ax.get_title(loc="left") == "detector"
    return (record,), {}, check


def _forecast_accuracy():
    def check(ax):
        np.testing.assert_array_equal(ax.lines[0].get_ydata(), T)
        np.testing.assert_array_equal(ax.lines[1].get_ydata(), T ** 2)
    return (STEPS, T, T ** 2), {}, check


def _phase_map():
    def check(ax):
        codes = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
        # in the order of PHASE_COLOURS: comprehension, grokking, memorisation, confusion
        np.testing.assert_array_equal(codes, [[2, 1], [np.nan, 0]])
        assert sorted(t.get_text() for t in ax.texts) == ["C 2/2", "G 1/2", "M 2/2", "no run"]
    return (diagram(),), {}, check


def _value_map():
    def check(ax):
        np.testing.assert_array_equal(ax.images[0].get_array(), diagram().values["delay"])
        assert [t.get_text() for t in ax.texts] == ["900", "400", "200"]
    return (diagram(), "delay"), dict(title="delay"), check


def _along_axis():
    a = AlongAxis("wd", "v", [0.1, 1.0], [np.array([900.0, np.nan]), np.array([400.0, 500.0])],
                  np.array([900.0, 450.0]), np.array([900.0, 400.0]), np.array([900.0, 500.0]))
    def check(ax):
        mean = next(ln for ln in ax.lines if ln.get_linestyle() == "-")
        np.testing.assert_array_equal(mean.get_ydata(), [900, 450])
    return (a,), dict(ylabel="step"), check


def _overlaid_accuracy():
    def check(ax):
        np.testing.assert_array_equal(ax.lines[1].get_ydata(), (T ** 3)[1:])  # step 0: log x
        np.testing.assert_array_equal(ax.lines[1].get_xdata(), STEPS[1:])
        assert ax.get_title() == "test accuracy" and ax.get_legend() is not None
    return (runs(),), dict(split="test", axis="k"), check


def _distribution():
    values = np.array([800.0, 900.0, np.nan, 1000.0])
    def check(ax):
        ticks = next(ln for ln in ax.lines if ln.get_marker() == "|")
        np.testing.assert_array_equal(ticks.get_xdata(), [800, 900, 1000])
    return (values,), dict(xlabel="delay"), check


def _factor_panel():
    e = factor_report().evidence[0]
    def check(ax):
        np.testing.assert_allclose(offsets(ax), e.points)
        assert sorted(t.get_text() for t in ax.texts) == [f"{i} mod 5" for i in range(5)]
    return (e,), {}, check


# the case of panel function NAME is the function _NAME above
PANELS = {name[1:]: case for name, case in globals().items()
          if name.startswith("_") and name[1:] in F.__all__ and callable(case)}


@pytest.mark.parametrize("name", sorted(PANELS))
def test_a_panel_draws_its_numbers_on_the_axes_given_and_returns_it(name):
    args, kwargs, check = PANELS[name]()
    ax = own_axes()
    assert getattr(F, name)(*args, **kwargs, ax=ax) is ax
    check(ax)
    # drawn there, not on Axes of its own (a colour bar aside)
    assert [a for a in ax.figure.axes if a.get_label() != "<colorbar>"] == [ax]
    assert plt.get_fignums() == []


@pytest.mark.parametrize("name", sorted(PANELS))
def test_a_panel_without_axes_is_a_figure_of_its_own(name):
    args, kwargs, check = PANELS[name]()
    fig = getattr(F, name)(*args, **kwargs)
    assert isinstance(fig, Figure) and isinstance(fig.canvas, FigureCanvasAgg)
    check(fig.axes[0])
    if kwargs.get("markers"):  # the events are named above the panel
        assert len(fig.legends) == 1
    assert plt.get_fignums() == []


# --- figure functions: a new Figure laid out as the report shows it ---------------------------

def _figures():
    rng = np.random.default_rng(0)
    series = {"loss": {"train": np.exp(-T)}, "accuracy": {"train": T, "test": T ** 2}}
    stack = np.stack([circle(P), 2 * circle(P, 3)])
    return {
        "series_grid": ((STEPS, series), dict(logy=("loss",), markers=MARKERS), 2),
        "training_curves": ((STEPS, SCALARS), dict(markers=MARKERS), 2),
        "fourier_heatmap": ((STEPS, {"a": rng.random((N, 3)), "b": rng.random((N, 3))}), {},
                            4),
        "fourier_measures": ((STEPS, {"Gini": {"embedding": T}}), {}, 1),
        "neuron_spectrum": ((np.ones((P, P)), np.eye(P) + 0.1), dict(steps=(0, 70)), 3),
        "constellation": ((stack[None].repeat(2, 0),),
                          dict(steps=[0, 70], projections=["PC", "k = 3"]), 4),
        "cosine_matrices": ((np.stack([np.eye(P), -np.eye(P)]),), dict(steps=[0, 70]), 3),
        "embedding_histograms": (([[1.0, 3.0], [2.0, 2.0]], [[0, 1, 2], [0, 0.5, 1]]),
                                 dict(steps=[0, 70]), 2),
        "embedding_structure": ((STEPS, {"circulant share": {"share": T}}), {}, 1),
        "grid_maps": ((rng.normal(size=(2, 3, P, P)),),
                      dict(rows=["n 1", "n 2"], moments=["a", "b", "c"]), 8),
        "activation_pca": ((rng.normal(size=(2, 3, 12, 2)), np.arange(12) % 3),
                           dict(steps=[0, 10, 70], layers=["h0", "h1"]), 6),
        "gradient_pca": ((rng.normal(size=(2, 20, 2)), np.ones((2, 20))),
                         dict(steps=[0, 70], labels=np.arange(20) % 3), 4),
        "last_layer_pca": ((rng.normal(size=(3, P, 2)), np.full(6, 0.1)), dict(step=70), 3),
        "weight_statistics": ((STEPS, {"weight norm": {"W": 2 - T}}), {}, 1),
        "dropout_variance": ((STEPS, 0.01 * T, 1 - T), {}, 2),
        "softmax_gap": ((STEPS, T, np.stack([T, 1 - T], axis=1)), {}, 2),
        "class_accuracy": ((STEPS, np.stack([T, 1 - T], axis=1), np.ones((N, 2))), {}, 2),
        "llc_diagnostics": (([0, 70], rng.random((2, 3, 5)), [0.1, 0.1], 10.0, STEPS,
                             rng.random((N, 3))), {}, 3),
        "forecast": ((STEPS, T, T ** 2), dict(checkpoint={
            "name": "d", "steps": STEPS, "score": T, "threshold": 0.5, "step": 40},
            memorisation=20), 2),
        "flags": ((ONSET_ROWS,), {}, 2),
        "phase_diagram": ((diagram(), {"delay": "delay"}), {}, 3),
        "overlaid_curves": ((runs(),), dict(axis="k"), 2),
        "factor_evidence": ((factor_report(),), {}, 2),
    }


FIGURES = sorted(_figures())


@pytest.mark.parametrize("name", FIGURES)
def test_a_figure_function_returns_a_figure_of_its_own(name):
    args, kwargs, n_axes = _figures()[name]
    fig = getattr(F, name)(*args, **kwargs)
    assert isinstance(fig, Figure) and isinstance(fig.canvas, FigureCanvasAgg)
    assert len(fig.axes) == n_axes  # its panels and colour bars
    assert "ax" not in inspect.signature(getattr(F, name)).parameters
    assert plt.get_fignums() == []


def test_a_figure_is_made_of_its_panels():
    fig = F.training_curves(STEPS, SCALARS, markers=MARKERS)
    for ax, panel in zip(fig.axes, (F.loss_curves, F.accuracy_curves)):
        alone = panel(STEPS, SCALARS, markers=MARKERS, ax=own_axes())
        assert curves(ax).keys() == curves(alone).keys()
        for label, (x, y) in curves(alone).items():
            np.testing.assert_array_equal(curves(ax)[label][0], x)
            np.testing.assert_array_equal(curves(ax)[label][1], y)
        assert vlines(ax) == vlines(alone) == [20, 50]


def test_the_animation_and_the_marker_legend():
    anim = F.constellation_animation(np.stack([circle(P), 2 * circle(P)]), steps=[0, 70],
                                     title="plane")
    assert isinstance(anim, FuncAnimation)
    np.testing.assert_allclose(offsets(anim._fig.axes[0]), circle(P))
    anim._draw_was_started = True  # not saved: no warning that it was never drawn
    fig = own_axes().figure
    F.marker_legend(fig, {"memorisation": 20, "grokking": None})
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "memorisation (train acc ≥ 0.99): 20"]
    assert plt.get_fignums() == []


def test_every_public_name_is_tested():
    assert {"EVENTS", "RC"} | set(PANELS) | set(FIGURES) | {
        "constellation_animation", "marker_legend"} == set(F.__all__)
    for name in PANELS:  # a panel takes ``ax`` as a keyword, default None
        ax = inspect.signature(getattr(F, name)).parameters["ax"]
        assert ax.kind is inspect.Parameter.KEYWORD_ONLY and ax.default is None, name


# --- documentation --------------------------------------------------------------------------

PUBLIC = sorted(n for n in F.__all__ if callable(getattr(F, n)))


@pytest.mark.parametrize("name", PUBLIC)
def test_the_docstring_is_numpydoc(name):
    obj = getattr(F, name)
    doc = inspect.getdoc(obj)
    assert doc and doc.splitlines()[0].strip(), name  # a summary line
    sections = re.findall(r"^(\w[\w ]*)\n-+$", doc, flags=re.M)
    assert sections == ["Parameters", "Returns", "Examples"], (name, sections)
    params = doc.split("Parameters\n----------\n")[1].split("\nReturns\n")[0]
    documented = {p.strip() for line in re.findall(r"^(\w[\w, ]*) :", params, flags=re.M)
                  for p in line.split(",")}
    assert documented == set(inspect.signature(obj).parameters), name
    assert re.search(r"^\w[\w.]*", doc.split("Returns\n-------\n")[1]), name  # a type


@pytest.mark.parametrize("name", ["grokscan.figures"] + PUBLIC)
def test_the_docstring_examples_run(name):
    obj = F if name == "grokscan.figures" else getattr(F, name)
    test = doctest.DocTestParser().get_doctest(obj.__doc__, {}, name, None, 0)
    assert test.examples, name
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda text: pytest.fail(text))
    assert runner.failures == 0 and plt.get_fignums() == []


def test_dropout_variance_draws_its_binomial_null():
    binomial = T * (1 - T) / 1024
    fig = F.dropout_variance(STEPS, binomial * 1.1, T, binomial=binomial,
                             ratio=(np.full(N, 1.1), np.full(N, 0.9), np.full(N, 1.4)))
    assert [ax.get_title() for ax in fig.axes] == [
        "variance of test accuracy under dropout", "variance / binomial, 95 % interval"]
    assert len(fig.axes[0].lines) >= 2 and fig.axes[1].collections  # the interval is shaded
