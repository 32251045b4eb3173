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
    ([], ("W_E", "W_U"), f"multiplies ({D}, {P + 1}) by W_U of shape ({D}, {P})"),
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
