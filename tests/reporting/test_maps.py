"""The report's maps over (a, b) (neurons/maps, attention/maps): drawn from the analysis of
constructed runs (tests/maps_runs.py), passing the figure checks, in the order of the run's
group, on one colour scale per row, with captions that state this run's numbers."""

import figcheck as C
import numpy as np
import pytest
from maps_runs import P, mlp_run, transformer_run

from grokscan.analysis import Options, analyze
from grokscan.figures.maps import grid_maps, row_norm
from grokscan.groups import discrete_log_order
from grokscan.reporting import build
from grokscan.reporting.base import Page, event_markers
from grokscan.reporting.maps import shown_neurons
from grokscan.store.metrics import MetricsFile

MAPS = ("neurons/maps", "attention/maps")


def _items(out) -> dict:
    """{figure name: (Item, drawn Figure)} of the report of OUT."""
    found = {}
    with MetricsFile(out) as m:
        for sec in build(Page(m, event_markers(m))):
            for it in sec.items:
                found[it.name] = (it, it.draw())
    return found


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("maps_report")
    out = {}
    for name, make, op in (("mlp", mlp_run, "add"), ("transformer", transformer_run, "add"),
                           ("mul", mlp_run, "mul")):
        path = make(tmp / f"{name}.h5", op=op)
        analyze(path, tmp / name, Options(families=MAPS + ("neurons",), quiet=True))
        out[name] = tmp / name
    return out


def test_the_maps_pass_the_figure_checks(reports):
    drawn = {}
    for name, out in reports.items():
        drawn.update({f"{name}/{k}": v for k, v in _items(out).items()})
    assert {"mlp/neuron_maps", "transformer/neuron_maps", "transformer/attention_maps",
            "mul/neuron_maps"} <= set(drawn)
    assert "mlp/attention_maps" not in drawn
    problems = {k: C.check_all(fig) for k, (_, fig) in drawn.items()}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_neuron_maps_show_the_stored_grids_and_numbers(reports):
    item, fig = _items(reports["mlp"])["neuron_maps"]
    with MetricsFile(reports["mlp"]) as m:
        acts, share = m.moment("neurons/maps/acts"), m.moment("neurons/maps/share")
        neuron = m.moment("neurons/maps/neuron")[-1]
        freq = m.moment("neurons/maps/freq")[-1]
    images = [ax.images[0] for ax in fig.axes if ax.images]
    rows = shown_neurons(freq, share[-1])  # the best explained neuron of each frequency
    assert len(rows) == len(set(freq.tolist())) < acts.shape[1]
    assert len(images) == acts.shape[0] * len(rows)
    for i, r in enumerate(rows):
        left, right = images[2 * i], images[2 * i + 1]
        np.testing.assert_array_equal(left.get_array(), acts[0, r])
        np.testing.assert_array_equal(right.get_array(), acts[1, r])
        assert left.norm.vmin == right.norm.vmin and left.norm.vmax == right.norm.vmax
        assert share[-1, r] == share[-1, freq == freq[r]].max()
        assert fig.axes[2 * i].get_ylabel().startswith(f"neuron {neuron[r]}, k = ")
    assert fig._suptitle.get_text().startswith(f"{len(rows)} of the {acts.shape[1]} neurons")
    assert "memorisation, step 10" in fig.axes[0].get_title()
    assert "end, step 20" in fig.axes[1].get_title()
    stat = f"median {np.median(share[-1]):.2f}, {share[-1].min():.2f}–{share[-1].max():.2f}"
    assert f"at the end {stat}" in item.caption
    assert "cos and sin of w_k(a + b) alone" in item.caption
    # the finding is said to hold only where the drawn neurons show it
    assert ("this run agrees" in item.caption) <= (np.median(share[-1]) >= 0.8)
    assert "nothing to be checked against" in item.caption or "After grokking" in item.caption


def test_multiplication_is_drawn_in_discrete_log_order(reports):
    _, fig = _items(reports["mul"])["neuron_maps"]
    with MetricsFile(reports["mul"]) as m:
        acts = m.moment("neurons/maps/acts")
    order = discrete_log_order(P)
    first = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(first, acts[0, 0][order[:, None], order[None, :]])
    assert first.shape == (P - 1, P - 1) and "g^i" in fig.axes[0].get_ylabel()


def test_the_attention_maps_and_their_caption(reports):
    item, fig = _items(reports["transformer"])["attention_maps"]
    with MetricsFile(reports["transformer"]) as m:
        to_a = m.moment("attention/maps/to_a")
    assert len([ax for ax in fig.axes if ax.images]) == 2 * to_a.shape[1]  # heads × moments
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), to_a[0, 0])
    assert "at memorisation to a 0.33" in item.caption  # W_Q = 0 there: a third each


def test_the_colour_scale_of_a_row():
    cmap, norm = row_norm(np.array([[-1.0, 3.0], [0.5, 2.0]]))
    assert cmap == "vlag" and (norm.vmin, norm.vmax) == (-3.0, 3.0)  # centred on 0
    cmap, norm = row_norm(np.array([[0.2, 0.4], [0.1, 0.9]]))
    assert cmap == "rocket" and (norm.vmin, norm.vmax) == (0.1, 0.9)
    fig = grid_maps(np.random.default_rng(0).standard_normal((3, 2, 5, 5)),
                    rows=["u 0", "u 1", "u 2"], moments=["one, step 1", "two, step 2"])
    assert C.check_all(fig) == []


def test_a_run_whose_neurons_are_all_dead_at_the_end(tmp_path):
    path = mlp_run(tmp_path / "dead.h5", dead=True)
    analyze(path, tmp_path / "out", Options(families=("neurons/maps",), quiet=True))
    with MetricsFile(tmp_path / "out") as m:
        assert m.moment("neurons/maps/acts").shape == (2, 0, P, P)
        page = Page(m, event_markers(m))
        names = [it.name for sec in build(page) for it in sec.items]
    assert "neuron_maps" not in names
    assert ("Single neurons over (a, b)",
            "no neuron of the last layer varies over (a, b) at the end") in page.left_out
