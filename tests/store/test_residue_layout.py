"""The layout a Recorder is given is checked against the model before the first checkpoint
(grokscan/store/layout.py), and a column layout is analysed as its transpose would be."""

import h5py
import numpy as np
import pytest
import torch

from grokscan import Layout
from grokscan.analysis import Options, analyze
from grokscan.errors import GrokscanError
from grokscan.recorder import Recorder
from grokscan.store.reader import Run

P, D = 23, 8


class NandaStyle(torch.nn.Module):
    """An embedding stored as (d_model, d_vocab), as in Nanda et al.'s code, and an unembed."""

    def __init__(self, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W_E = torch.nn.Parameter(torch.randn(D, P + 1, generator=g))
        self.W_U = torch.nn.Parameter(torch.randn(D, P, generator=g))


def record(path, model, layout, **kw):
    with Recorder(path, model, layout=layout, grads=False, **kw) as rec:
        rec.record(0, train_loss=1.0)


@pytest.mark.parametrize("entries, logit_map, needle", [
    # the (d_model, d_vocab) embedding given as rows: its 8 rows cannot hold 23 residues
    ([{"param": "W_E", "start": 0, "stop": P}], (),
     f"residue_vectors takes rows 0:{P} of W_E, of shape ({D}, {P + 1}), which has {D} rows; "
     f'its columns ({P + 1}) may be the residues: give "axis": 1'),
    ([{"param": "W_e", "start": 0, "stop": P, "axis": 1}], (),
     "residue_vectors names the parameter 'W_e', which is not one of W_E, W_U"),
    ([{"param": "W_E", "start": 0, "stop": P, "axis": 2}], (), "along axis 2"),
    ([{"param": "W_E", "start": 0, "stop": P, "axis": 1},
      {"param": "W_U", "start": 0, "stop": 5, "axis": 1}], (), "selects [5, 23] residues"),
    ([], ({"param": "W_E", "axes": "in,out"}, {"param": "W_U", "axes": "in,out"}),
     f"W_E has shape ({D}, {P + 1}), read in,out, its output is {P + 1}; expected the {D} "
     "inputs of W_U"),
])
def test_a_layout_that_does_not_fit_the_model_is_refused(tmp_path, entries, logit_map, needle):
    out = tmp_path / "r.h5"
    with pytest.raises(GrokscanError) as e:
        record(out, NandaStyle(), Layout(tuple(entries), logit_map))
    assert needle in str(e.value), str(e.value)
    assert str(e.value).startswith("layout: ")
    assert not out.exists() and not (tmp_path / "r.h5.part").exists()


def test_p_from_the_config_is_checked(tmp_path):
    from conftest import fast_config  # P = 41

    with pytest.raises(GrokscanError, match="takes 23 columns of W_E; expected P = 41"):
        record(tmp_path / "r.h5", NandaStyle(),
               Layout(({"param": "W_E", "start": 0, "stop": P, "axis": 1},)),
               config=fast_config())


def test_columns_are_analysed_as_the_transposed_rows(tmp_path):
    # the same weights, once as (d_model, vocab) with axis 1, once transposed with rows:
    # every weight measure that reads the per-residue vectors must agree exactly
    a, b = NandaStyle(seed=3), NandaStyle(seed=3)
    b.W_E = torch.nn.Parameter(a.W_E.detach().T.clone())
    from grokscan.tasks.modular import ModularConfig, make_data

    task = make_data(ModularConfig(p=P), seed=0)  # residues mod P, without a grokscan model
    record(tmp_path / "cols.h5", a, Layout(({"param": "W_E", "start": 0, "stop": P,
                                            "axis": 1, "operand": "a,b"},), ("W_U",)), task=task)
    record(tmp_path / "rows.h5", b, Layout(({"param": "W_E", "start": 0, "stop": P,
                                            "operand": "a,b"},), ("W_U",)), task=task)
    with Run(tmp_path / "cols.h5") as run:
        assert run.residue_vectors[0]["axis"] == 1
    for name in ("cols", "rows"):
        s = analyze(tmp_path / f"{name}.h5", tmp_path / name,
                    Options(families=("fourier",), quiet=True))
        assert "fourier" in s["families"], s["left_out"]
    with h5py.File(tmp_path / "cols/metrics.h5") as f, h5py.File(tmp_path / "rows/metrics.h5") as g:
        names = list(f["metrics/fourier"])
        assert names
        for k in names:
            np.testing.assert_array_equal(f["metrics/fourier"][k][()], g["metrics/fourier"][k][()])


class LinearStyle(torch.nn.Module):
    """An embedding and a logit layer stored as torch.nn.Linear stores its weight: (out, in),
    here (classes, d) = (23, D); or (in, out) with ``transposed``."""

    def __init__(self, width: int = D, transposed: bool = False):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.emb = torch.nn.Parameter(torch.randn(P, width, generator=g))
        w = torch.randn(P, width, generator=g)
        self.out = torch.nn.Parameter(w.T.contiguous() if transposed else w)


@pytest.mark.parametrize("transposed, axes", [(False, "out,in"), (True, "in,out")])
def test_a_logit_map_s_orientation_is_inferred_when_one_reading_fits(tmp_path, transposed,
                                                                     axes):
    """P = 23 classes, d = 8: (23, 8) can only be read out,in and (8, 23) in,out; the file
    states it, and the map read back is the same matrix either way."""
    from grokscan.tasks.modular import modular_task

    out = tmp_path / "r.h5"
    record(out, LinearStyle(transposed=transposed),
           Layout(({"param": "emb", "start": 0, "stop": P},), ("out",)),
           task=modular_task("add", P, frac=0.5))
    with Run(out) as run:
        assert run.neuron_logit_map == [{"param": "out", "axes": axes}]
        assert run.version == 4


def test_a_square_logit_map_must_say_its_axes(tmp_path):
    from grokscan.tasks.modular import modular_task

    with pytest.raises(GrokscanError) as e:
        record(tmp_path / "r.h5", LinearStyle(width=P), Layout((), ("out",)),
               task=modular_task("add", P, frac=0.5))
    msg = str(e.value)
    assert msg.startswith("layout: neuron_logit_map: out has shape (23, 23), which maps to 23 "
                          "classes either way round; say which")
    assert '"axes": "out,in"' in msg and "\n" not in msg
    record(tmp_path / "s.h5", LinearStyle(width=P),
           Layout((), ({"param": "out", "axes": "out,in"},)),
           task=modular_task("add", P, frac=0.5))  # stated: recorded


def test_a_logit_map_without_the_class_axis_is_refused(tmp_path):
    from grokscan.tasks.modular import modular_task

    with pytest.raises(GrokscanError) as e:
        record(tmp_path / "r.h5", NandaStyle(), Layout((), ("W_E",)),
               task=modular_task("add", P, frac=0.5))
    assert str(e.value) == (f"layout: neuron_logit_map: W_E has shape ({D}, {P + 1}); "
                            f"expected one of its axes to be the {P} classes")
    assert not (tmp_path / "r.h5").exists()
