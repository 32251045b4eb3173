"""The Ising task: sort lattices into their energy classes (Hutchison & Yevick,
arXiv:2510.25966), as a :class:`grokscan.tasks.base.Task`.

The ``/task`` group of a checkpoint file holds every split of the data set in full, so that
the file alone rebuilds it; ``source`` says where it came from (informational only).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import h5py
import numpy as np

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.settings import Settings, setting
from grokscan.tasks.base import Split, check_shape
from grokscan.tasks.ising.dataset import (
    _KEYS,
    SPLITS,
    IsingData,
    _assemble,
    _config_from_json,
    training_data,
)


@dataclass(frozen=True)
class IsingConfig(Settings):
    section = "task"
    kind: str = setting("ising", "the task", flag="task")
    data: str | None = setting(None, "the data-set file (grokscan ising generate; default: "
                               "data/ising8.h5)", type=str)
    eval_inverted: bool = setting(False, "also evaluate the n-inverted test set "
                                  "(inverted_loss, inverted_acc)")


_FIELDS = {"spins": "x", "label": "y", "energy": "energy", "source": "source"}


@dataclass(frozen=True)
class IsingTask:
    """An Ising data set as a :class:`grokscan.tasks.base.TaskData`: the inputs are the
    lattices flattened to L² floats (±1), the classes the energy bins. "test" is the
    random-spin test set; with ``eval_inverted`` the n-inverted set is evaluated too, as
    ``inverted``."""

    data: IsingData
    source: str
    eval_inverted: bool = False

    kind = "ising"
    class_label = "energy class"
    residues = None

    @property
    def class_names(self) -> list[str]:
        return [f"E in [{lo}, {hi}]" for lo, hi in self.data.config.bins]

    def split(self, model: str) -> Split:
        if model == "transformer":
            raise GrokscanError("the transformer takes token inputs; use --model mlp for Ising")
        d = self.data
        extra = {}
        if self.eval_inverted:
            if not len(d.inverted_y):
                raise GrokscanError(f"{self.source}: the n-inverted set is empty; "
                                    "run without --eval-inverted")
            extra["inverted"] = d.xy("inverted")
        return Split(*d.xy("train"), *d.xy("test"), 0, 0, len(d.config.bins), extra)

    def write(self, g: h5py.Group) -> None:
        d = self.data
        g.attrs.update(kind="ising", config=json.dumps(asdict(d.config)),
                       n_dropped=d.n_dropped, source=self.source)
        for split, key in _KEYS:
            a = getattr(d, f"{split}_{_FIELDS[key]}")
            # small (≈ 0.6 MB for the default set) and ±1 int8 compresses ~5× after shuffle
            g.create_dataset(f"{split}_{key}", data=a, compression="gzip", shuffle=True)

    def summary(self) -> dict:
        d = self.data
        return {"kind": "ising", "L": d.config.L, "n_classes": len(d.config.bins),
                **{f"n_{s}": len(getattr(d, f"{s}_y")) for s in SPLITS},
                "n_flip": d.config.n_flip, "source": self.source}

    def describe(self) -> str:
        d = self.data
        line = (f"Ising {d.config.L}×{d.config.L} lattices in {len(d.config.bins)} energy "
                f"classes: {len(d.train_y)} train, {len(d.test_y)} test")
        if self.eval_inverted:
            line += f", {len(d.inverted_y)} {d.config.n_flip}-inverted"
        return line

    @classmethod
    def read(cls, g: h5py.Group, cfg: IsingConfig | None, where: str = "/task") -> IsingTask:
        """Rebuild from the ``/task`` group; FileFormatError naming the missing or inconsistent
        dataset."""
        missing = [f"{s}_{k}" for s, k in _KEYS if f"{s}_{k}" not in g]
        if missing or "config" not in g.attrs:
            raise FileFormatError(f"{where}: an Ising task without "
                                  f"{', '.join(missing or ['the config attribute'])}")
        dcfg = _config_from_json(g.attrs["config"], f"{where}: unreadable 'config' attribute")
        L = dcfg.L
        for s, k in _KEYS:
            shape = (None, L, L) if k == "spins" else (None,)
            check_shape(g[f"{s}_{k}"], shape, where)
            if g[f"{s}_{k}"].size > (1 << 26):
                raise FileFormatError(f"{where}/{s}_{k}: {g[f'{s}_{k}'].size} elements, more "
                                      "than an Ising data set holds")
        arrays = {(s, k): np.asarray(g[f"{s}_{k}"][()]) for s, k in _KEYS}
        data = _assemble(dcfg, arrays, int(g.attrs.get("n_dropped", 0)), {}, where=where,
                         name="{}_{}")
        source = g.attrs.get("source", "")
        source = source.decode() if isinstance(source, bytes) else str(source)
        return cls(data, source, bool(cfg.eval_inverted) if cfg is not None else False)


class _Ising:
    kind = "ising"
    Config = IsingConfig
    models = ("mlp",)  # its inputs are not tokens
    # The paper's network and recipe (arXiv:2510.25966 §2): 64 spins → 4 × 48 ReLU, no biases,
    # init × 7, lr and weight decay 5e-4. The paper does not name its optimizer;
    # torch.optim.Adam with its default betas and weight_decay 5e-4 (an L2 term in the
    # gradient) reproduces its numbers (docs/tutorials/ising.md), AdamW's decoupled
    # decay at these values (θ shrinks by lr·wd = 2.5e-7 a step) acts like none.
    defaults = {"depth": 4, "width": 48, "bias": False, "init_scale": 7.0, "optimizer": "adam",
                "lr": 5e-4, "wd": 5e-4, "beta2": 0.999, "warmup": 0, "steps": 20000,
                "every": 100, "dense_until": 1000, "dense_every": 20}

    @staticmethod
    def make(cfg: IsingConfig, seed: int) -> IsingTask:
        return IsingTask(*training_data(cfg.data), eval_inverted=cfg.eval_inverted)

    read = staticmethod(IsingTask.read)


TASK = _Ising()
