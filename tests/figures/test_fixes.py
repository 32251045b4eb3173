"""The report's figures on constructed inputs where a figure used to mislead: maps aliased or
too tall, legends cut off, titles that are false for the run, axes that hide the points,
empty or flat panels, a panel repeating another, scales dominated by one moment."""

import io

import numpy as np
from PIL import Image

import grokscan.figures as F
from grokscan.figures._style import DPI
from grokscan.figures.maps import residue_pixels
from grokscan.reporting.maps import MAX_ROWS, shown_neurons


def png(fig) -> np.ndarray:
    """The figure as the report writes it: (H, W, 3) pixels at DPI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return np.asarray(Image.open(buf).convert("RGB")).astype(int)


def inside_figure(fig, artist) -> bool:
    """Whether an artist's box lies within the figure's (a legend that is not cut off)."""
    fig.canvas.draw()
    box, page = artist.get_window_extent(fig.canvas.get_renderer()), fig.bbox
    return (box.x0 >= page.x0 - 0.5 and box.x1 <= page.x1 + 0.5 and box.y0 >= page.y0 - 0.5
            and box.y1 <= page.y1 + 0.5)


# --- neuron maps ------------------------------------------------------------------------------

def test_each_residue_of_a_map_is_one_block_of_pixels():
    """A wave at k = 48 of P = 97 (a wavelength of about 2 residues): each residue a whole
    square of pixels, so the checkerboard is drawn as it is, not as a beat of resampling."""
    n = 97
    a = np.arange(n)
    wave = np.cos(2 * np.pi * 48 * (a[:, None] + a[None, :]) / n)
    fig = F.grid_maps(np.stack([np.stack([wave, -wave])]), rows=["neuron 0, k = 48"],
                      moments=["memorisation, step 20", "end, step 2000"])
    im = png(fig)
    s = residue_pixels(n)
    box = fig.axes[0].get_window_extent()
    assert round(box.width, 6) == round(box.height, 6) == n * s
    top, left = im.shape[0] - int(round(box.y1)), int(round(box.x0))
    blocks = im[top:top + n * s, left:left + n * s].reshape(n, s, n, s, 3)
    inner = blocks[1:-1, :, 1:-1]  # the frame of the axes is drawn over the outer blocks
    assert (inner == inner[:, :1, :, :1]).all()  # every block one colour
    colour, value = inner[:, 0, :, 0], wave[1:-1, 1:-1]  # the block of residue (a, b)
    clear = np.abs(value) > 0.3
    red = colour[..., 0] > colour[..., 2]  # vlag: red above 0, blue below
    assert (red[clear] == (value[clear] > 0)).all()


def test_the_neuron_maps_show_a_few_rows_the_best_explained_of_each_frequency():
    """Twelve neurons picked over six frequencies (the demo drew all twelve, 3666 px tall):
    at most MAX_ROWS rows, the best explained neuron of the best explained frequencies."""
    freq = np.repeat([5, 9, 14, 26, 30, 44], 2)
    share = np.array([0.9, 0.95, 0.5, 0.4, 0.8, 0.7, 0.99, 0.6, 0.3, 0.2, 0.85, 0.1])
    rows = shown_neurons(freq, share)
    assert rows.tolist() == [1, 4, 6, 10]  # k = 5, 14, 26, 44 (k = 9 and 30 explain less)
    assert len(rows) == MAX_ROWS
    acts = np.random.default_rng(0).standard_normal((len(rows), 2, 97, 97))
    fig = F.grid_maps(acts, rows=[f"neuron {r}" for r in rows], moments=["mem", "end"],
                      title="4 of the 12 neurons picked:\nthe best explained of 4 of 6")
    height, width = png(fig).shape[:2]
    assert height < 1300 and width < 1000  # shown 1:1 in the page's column, no rescaling
    assert inside_figure(fig, fig._suptitle)


# --- Fourier heatmap --------------------------------------------------------------------------

def test_the_fourier_heatmap_tells_a_key_frequency_from_the_faded_ones():
    """Norms of 10 at initialisation, at the end 1 at the key frequency and 0.01 elsewhere: on
    a linear scale both ends near its bottom, one colour; on the log scale far apart."""
    z = np.full((4, 6), 10.0)
    z[1:] = 0.01
    z[1:, 2] = [0.1, 0.5, 1.0]
    fig = F.fourier_heatmap(np.arange(4) * 100, {"embedding": z})
    mesh = fig.axes[0].collections[0]
    key, faded = mesh.to_rgba(np.array([1.0, 0.01]))[:, :3]
    assert np.abs(key - faded).max() > 0.3
    bar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    assert "log" in bar.get_ylabel()


# --- embedding histograms ---------------------------------------------------------------------

def test_the_embedding_histograms_share_one_x_range_and_say_so():
    edges = np.array([np.linspace(-0.1, 0.1, 11), np.linspace(-0.8, 0.6, 11)])
    fig = F.embedding_histograms(np.ones((2, 10)), edges, steps=[0, 2000])
    lims = {tuple(np.round(ax.get_xlim(), 9)) for ax in fig.axes}
    assert lims == {(-0.8, 0.6)}
    assert "one x range" in fig._supxlabel.get_text()


# --- last-layer PCA ---------------------------------------------------------------------------

class _Last:
    """Enough of a MetricsFile for the last-layer section: rows of a last layer that turn at
    frequency k = 3 on PC0–PC1 and k = 5 on the others."""

    def __init__(self, p: int):
        self.p, self.steps = p, np.array([0, 100])
        t = np.arange(p)
        plane = lambda k: np.stack([np.cos(2 * np.pi * k * t / p),  # noqa: E731
                                    np.sin(2 * np.pi * k * t / p)], axis=1)
        pairs = np.stack([plane(3), plane(5), plane(5)])
        self.data = {"metrics/pca/last_layer/pairs": np.stack([pairs, pairs]),
                     "metrics/pca/last_layer/evr": np.tile([0.3, 0.3, 0.1, 0.1, 0.05, 0.05],
                                                           (2, 1))}

    def has(self, path):
        return path in self.data

    def get(self, path):
        return self.data.get(path)

    def attr(self, group, name, default=None):
        return default

    def numbers(self, group, name, default=None, **_):
        return default


def test_the_last_layer_title_is_true_for_the_run_and_colours_follow_k_t():
    from grokscan.reporting.base import Page
    from grokscan.reporting.residues import last_layer_section, turning_frequency

    assert turning_frequency(_Last(23).data["metrics/pca/last_layer/pairs"][0, 0]) == 3
    for p, even in ((23, False), (97, False), (24, True)):
        item = last_layer_section(Page(_Last(p), {})).items[0]
        assert ("even against odd" in item.title.lower()) == even
        assert f"P = {p}" in item.title
    item = last_layer_section(Page(_Last(23), {})).items[0]
    fig = item.draw()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "colour 3·t"
    # in the order around the circle the colours are the hue circle's, class t at 3·t mod 23
    from grokscan.figures._style import residue_colours

    faces = ax.collections[0].get_facecolors()[:, :3]
    wheel = np.asarray(residue_colours(23))
    np.testing.assert_allclose(faces, wheel[(3 * np.arange(23)) % 23], atol=1e-6)


# --- weight statistics ------------------------------------------------------------------------

def test_weight_statistics_say_a_share_that_is_zero_and_leave_no_empty_slot():
    steps, one = np.arange(10) * 10, np.ones(10)
    panels = {"weight entropy": {"hidden.0.W": one}, "weight norm (L2)": {"hidden.0.W": one},
              "inactive units (share)": {"hidden 0": 0 * one},
              "small weights |w| < 0.01 (share)": {"hidden.0.W": 0.1 * one},
              "weight autocorrelation peak": {"last layer": one}}
    fig = F.weight_statistics(steps, panels)
    titles = [ax.get_title() for ax in fig.axes]
    assert "inactive units (share)" not in titles and len(titles) == 4
    said = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "no inactive units at any checkpoint (not drawn)" in said
    del panels["inactive units (share)"]
    panels["inactive units (share)"] = {"hidden 0": np.linspace(0, 0.2, 10)}
    fig = F.weight_statistics(steps, panels)  # five panels: the last spans its row
    assert all(ax.get_visible() and ax.lines for ax in fig.axes) and len(fig.axes) == 5
    fig.canvas.draw()
    last, first = fig.axes[-1].get_position(), fig.axes[0].get_position()
    assert last.width > 1.8 * first.width


# --- softmax gap ------------------------------------------------------------------------------

def test_the_softmax_gap_of_many_classes_is_one_panel_not_two_alike():
    g = np.random.default_rng(3).uniform(size=(10, 97))
    fig = F.softmax_gap(np.arange(10), g.mean(1), g)
    assert len(fig.axes) == 1
    labels = [c.get_label() for c in fig.axes[0].collections] + [
        ln.get_label() for ln in fig.axes[0].lines if not ln.get_label().startswith("_")]
    assert labels == ["10–90 % of the 97 classes", "all samples"]


# --- gradient PCA -----------------------------------------------------------------------------

def test_the_gradient_pca_shows_the_core_and_every_outlier():
    """95 % of the points in a tight core, 5 % a thousand times farther: the core spans a good
    part of the panel (it used to be a dot) and every point lies inside the axes."""
    rng = np.random.default_rng(0)
    xy = rng.standard_normal((400, 2))
    xy[:20] *= 1000.0
    fig = F.gradient_pca(xy[None], np.ones((1, 400)), steps=[100])
    ax = fig.axes[0]
    pts = np.concatenate([np.asarray(c.get_offsets()) for c in ax.collections])
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert len(pts) == 400
    assert ((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)).all()
    core = pts[20:]
    spread = np.percentile(core, 95, axis=0) - np.percentile(core, 5, axis=0)
    assert (spread > 0.08 * np.array([x1 - x0, y1 - y0])).all()  # it was 0.05 %
    assert "asinh" in ax.get_ylabel()


# --- the forecast's score ---------------------------------------------------------------------

def test_a_saturated_probability_is_readable_and_its_threshold_no_event_line():
    steps = np.arange(0, 2000, 10)
    score = 1 - np.exp(-steps / 50.0)  # at 1 from step 300 on, in float32
    score = score.astype(np.float32)
    record = {"name": "in-loop model", "steps": steps, "score": score, "threshold": 0.9,
              "step": 120, "probability": True}
    fig = F.forecast(steps, np.ones(len(steps)), np.linspace(0, 1, len(steps)), live=record,
                     memorisation=20)
    ax = fig.axes[0]
    assert ax.get_yscale() == "logit" and "logit" in ax.get_ylabel()
    line = next(ln for ln in ax.lines if ln.get_label().startswith("threshold"))
    events = [ln for ln in ax.lines if ln is not line and ln.get_label().startswith("_")]
    assert line.get_linestyle() == "-"  # every event line is dashed or dotted
    assert all(ev.get_linestyle() != "-" for ev in events)
    assert any(t.get_text() == "threshold 0.9" for t in ax.texts)  # named on the panel
    shown = ax.lines[0].get_ydata()
    assert np.isfinite(shown).all() and ax.get_ylim()[1] < 1  # no point at an infinite logit
    checkpoint = {**record, "name": "entropy fall", "score": np.linspace(0, 0.4, len(steps)),
                  "threshold": 0.01, "probability": False}
    fig = F.forecast(steps, np.ones(len(steps)), np.ones(len(steps)), checkpoint=checkpoint)
    assert fig.axes[0].get_yscale() == "linear"  # a relative change: not a probability


# --- legends ----------------------------------------------------------------------------------

def test_the_legends_of_the_frequency_figures_lie_inside_the_figure():
    steps = np.arange(0, 2001, 20)
    markers = {"memorisation": 20, "grokking": 980}
    losses = {f"{kind}_{split}": np.exp(-steps / 500) + 0.01
              for kind in ("loss", "restricted", "excluded") for split in ("train", "test")}
    trig = {k: np.linspace(0, 3000, len(steps)) * k for k in range(1, 21)}  # 20 frequencies
    for fig in (F.frequency_loss(steps, losses, markers=markers),
                F.trig_coefficients(steps, trig, markers=markers)):
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert len(legends) == 2
        assert all(inside_figure(fig, legend) for legend in legends)


def test_the_event_legend_takes_fewer_columns_rather_than_be_cut():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from grokscan.figures import marker_legend

    fig = Figure(figsize=(5, 3), layout="constrained")
    FigureCanvasAgg(fig)
    F.series_panel(np.arange(10), {"x": np.arange(10.0)}, ax=fig.subplots())
    marker_legend(fig, {"memorisation": 20, "grokking": 1400})
    assert inside_figure(fig, fig.legends[0])


def test_class_quantiles_that_coincide_are_one_line_named_for_both():
    """With more than 10 classes the panel draws quantiles over classes; where two are equal
    at every checkpoint (every class fitted alike) one line carries both names, so none hides
    under another."""
    from grokscan.figures import class_accuracy

    steps = np.arange(6)
    same = np.repeat(np.linspace(0, 1, 6)[:, None], 12, axis=1)  # 12 classes, all alike
    apart = same.copy()
    apart[:, :6] *= 0.5  # half the classes lag
    fig = class_accuracy(steps, apart, train=same)
    labels = [[ln.get_label() for ln in ax.lines if not ln.get_label().startswith("_")]
              for ax in fig.axes]
    assert ["10 %", "median", "90 %"] in labels
    assert ["10 % = median = 90 %"] in labels


def test_a_value_map_no_run_reached_says_so_without_a_colour_bar():
    """A sweep value that no cell has (no run reached test accuracy 0.99) is one sentence in
    the panel, not an empty map with a meaningless colour scale."""
    from grokscan.figures import value_map
    from grokscan.sweep.stats import Diagram

    def diagram(delay):
        return Diagram(x="wd", y="init_scale", xs=[0.1, 1.0], ys=[1.0, 8.0],
                       values={"delay": np.array(delay, float)},
                       phase=np.full((2, 2), "memorisation", dtype=object),
                       count=np.ones((2, 2), int), runs=np.ones((2, 2), int))

    empty = value_map(diagram([[np.nan, np.nan], [np.nan, np.nan]]), "delay")
    assert [t.get_text() for t in empty.axes[0].texts] == ["no run reached it"]
    assert len(empty.axes) == 1  # no colour bar
    full = value_map(diagram([[1.0, np.nan], [300.0, 20.0]]), "delay")
    assert len(full.axes) == 2 and "no run reached it" not in [t.get_text() for t in
                                                              full.axes[0].texts]
