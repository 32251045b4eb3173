"""Each figure check (figcheck.py) finds the fault it names in a figure built to have it, and
nothing in the same figure without it."""

import figcheck as C
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _axes():
    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    return fig, ax


def test_a_legend_over_a_line_is_found():
    fig, ax = _axes()
    ax.plot([0, 1], [0.5, 0.5], label="flat")  # through the middle, where the legend goes
    fig.canvas.draw()
    assert C.legend_overlaps(fig) == []
    ax.legend(loc="center")
    fig.canvas.draw()
    assert C.legend_overlaps(fig) == ["a legend covers flat in 'loss'"]


def test_a_missing_axis_label_is_found():
    fig, ax = _axes()
    ax.plot([0, 1], [0, 1])
    fig.canvas.draw()
    assert C.missing_labels(fig) == []
    ax.set_ylabel("")
    fig.canvas.draw()
    assert len(C.missing_labels(fig)) == 1 and "no y label" in C.missing_labels(fig)[0]
    ax.set_title("loss")  # a panel's title may name its y quantity
    assert C.missing_labels(fig) == []
    ax.set_xlabel("")
    assert C.missing_labels(fig) == ["'loss' has no x label"]
    ax.set_xticks([])  # no numbers on the axis: nothing to name
    fig.canvas.draw()
    assert C.missing_labels(fig) == []


def test_a_duplicate_series_is_found():
    fig, ax = _axes()
    y = np.linspace(0, 1, 5)
    ax.plot(y, label="train")
    ax.plot(y + 0.1, label="test")
    assert C.duplicate_series(fig) == []
    ax.plot(y, label="copy")
    assert len(C.duplicate_series(fig)) == 1


def test_close_colours_are_found_unless_told_apart_by_style():
    fig, ax = _axes()
    ax.plot([0, 1], [0, 1], color="#d55e00", label="a")  # vermilion
    ax.plot([0, 1], [1, 0], color="#0072b2", label="b")  # blue
    assert C.close_colours(fig) == []
    ax.plot([0, 1], [0.2, 0.3], color="#d55e00", ls="--", label="c")  # same colour, dashed: fine
    assert C.close_colours(fig) == []
    ax.plot([0, 1], [0.5, 0.6], color="#de8f05", label="d")  # orange: ΔE 25.6 from vermilion
    assert len(C.close_colours(fig)) == 2  # against the solid and the dashed vermilion


def test_a_sequential_scale_may_have_close_neighbours():
    import seaborn as sns

    fig, ax = _axes()
    for i, c in enumerate(sns.color_palette("crest", 6)):
        ax.plot([0, 1], [i, i + 0.5], color=c, label=f"step {i}")
    assert C.close_colours(fig) == []
    ax.plot([0, 1], [9, 9.5], color=sns.color_palette("crest", 6)[2], ls=":", label="again")
    assert C.close_colours(fig)  # the ramp is broken: the close pairs count again


def _report_figures(run, out) -> dict:
    """Every figure of the report of ``run`` analysed with every default family."""
    from click.testing import CliRunner
    from matplotlib.animation import FuncAnimation

    from grokscan.cli import main
    from grokscan.reporting import build
    from grokscan.reporting.base import Page, event_markers
    from grokscan.store.metrics import MetricsFile

    r = CliRunner().invoke(main, ["analyze", str(run), "-o", str(out), "--every", "100",
                                  "--subset", "4", "--no-report", "-q"])
    assert r.exit_code == 0, r.output
    figs = {}
    with MetricsFile(out) as m:
        page = Page(m, event_markers(m))
        for sec in build(page):
            for it in sec.items:
                drawn = it.draw()
                if isinstance(drawn, FuncAnimation):
                    drawn = drawn._fig  # the animation's first frame is its figure
                figs[it.name] = drawn
    return figs


@pytest.fixture(scope="module")
def every_figure(fast_run, tmp_path_factory):
    """Every figure of the report of the fast recipe analysed with every family."""
    return _report_figures(fast_run, tmp_path_factory.mktemp("all"))


def test_the_report_figures_of_an_ising_run_and_a_transformer_pass_the_checks(tmp_path):
    from grokscan.config import resolve
    from grokscan.tasks import ising as lib
    from grokscan.training import train

    data = tmp_path / "ising.h5"
    lib.save_ising(data, lib.generate(lib.IsingDataConfig(n_train=160, n_test=64, n_flip=3,
                                                          seed=5)))
    train(resolve({"task": "ising", "data": str(data), "width": 16, "depth": 2, "every": 10,
                   "steps": 200}), tmp_path / "ising_run.h5", quiet=True)
    tf = resolve({"model": "transformer", "p": 23, "frac": 0.5, "d_embed": 32, "width": 64,
                  "n_heads": 2, "steps": 300, "every": 20, "lr": 3e-3})
    train(tf, tmp_path / "tf_run.h5", quiet=True)
    for kind in ("ising", "tf"):
        figs = _report_figures(tmp_path / f"{kind}_run.h5", tmp_path / kind)
        assert len(figs) >= (6 if kind == "ising" else 15), sorted(figs)
        if kind == "tf":
            assert "attention_maps" in figs
        problems = {name: C.check_all(fig) for name, fig in figs.items()}
        assert {k: v for k, v in problems.items() if v} == {}, kind


def test_every_report_figure_passes_the_checks(every_figure):
    assert len(every_figure) >= 15, sorted(every_figure)
    problems = {name: C.check_all(fig) for name, fig in every_figure.items()}
    assert {k: v for k, v in problems.items() if v} == {}


def _factor_weights(P, freqs, h=32, seed=0):
    """Last-layer rows with known frequencies: W[q] = Σ_k cos(θ) u_k + sin(θ) v_k + noise."""
    rng = np.random.default_rng(seed)
    q = np.arange(P)
    W = 0.02 * rng.standard_normal((P, h))
    for k in freqs:
        u, v = rng.standard_normal((2, h)) / np.sqrt(h)
        theta = 2 * np.pi * k * q / P
        W += np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v
    return W


@pytest.mark.parametrize("P, freqs", [(20, [4, 5]), (23, [3])])
def test_factor_plot_passes_the_checks(P, freqs):
    from grokscan.factor.read import read_factors
    from grokscan.figures.factor import factor_evidence

    fig = factor_evidence(read_factors(_factor_weights(P, freqs)), rejected=True)
    assert C.check_all(fig) == []
