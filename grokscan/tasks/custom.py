"""The task of a file written by the Recorder from a user's own loop: whatever arrays the user
gave (``kind = "custom"``), or nothing (``kind = "none"``). grokscan stores and shows them but
cannot rebuild a model's inputs from them, so only the weight-only measures apply."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from grokscan.errors import FileFormatError, GrokscanError

LIMIT = 1 << 28  # elements one array of a custom task may hold when read back


@dataclass(frozen=True)
class CustomData:
    arrays: dict = field(default_factory=dict)  # name -> numpy array
    kind: str = "custom"

    class_label = "class"
    class_names = None
    residues = None

    def write(self, g) -> None:
        g.attrs["kind"] = self.kind
        for k, v in self.arrays.items():
            g.create_dataset(k, data=np.asarray(v))

    def split(self, model: str):
        raise GrokscanError("the task of this file was given to the Recorder as arrays; "
                            "grokscan cannot rebuild the model's inputs from them")

    def summary(self) -> dict:
        return {"kind": self.kind, "arrays": {k: list(np.shape(v)) for k, v in self.arrays.items()}}

    def describe(self) -> str:
        if self.kind == "none":
            return "no task recorded"
        shapes = ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in self.arrays.items())
        return f"a task given as arrays ({shapes or 'none'})"


class _Custom:
    kind = "custom"
    Config = None  # not trained by grokscan
    defaults: dict = {}

    @staticmethod
    def make(cfg, seed: int):
        raise GrokscanError("a custom task is recorded by the Recorder, not trained")

    @staticmethod
    def read(g, cfg, where: str) -> CustomData:
        arrays = {}
        for k in g:
            ds = g[k]
            if not hasattr(ds, "shape"):
                continue
            if ds.size > LIMIT:
                raise FileFormatError(f"{where}/{k}: {ds.size} elements, more than the {LIMIT} "
                                      "grokscan reads")
            arrays[k] = ds[()]
        kind = g.attrs.get("kind", "custom")
        return CustomData(arrays, kind.decode() if isinstance(kind, bytes) else str(kind))


TASK = _Custom()
