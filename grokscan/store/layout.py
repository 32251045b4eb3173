"""Where analysis finds a model's per-residue vectors and its neuron-logit map
(store/SCHEMA.md, root attributes ``residue_vectors`` and ``neuron_logit_map``): the
:class:`Layout` a writer is given, the one check of it against the parameters' shapes (the
Recorder runs it before the first checkpoint, the reader at every open), and the selection of
the vectors from a parameter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokscan.errors import GrokscanError

AXES = {0: "rows", 1: "columns"}


@dataclass(frozen=True)
class Layout:
    """residue_vectors: dicts ``{"param", "start", "stop", "operand"}`` and optionally
    ``"axis"``: entries start:stop of that 2-D parameter along ``axis`` (0, the default: its
    rows; 1: its columns, as in a (d_model, d_vocab) embedding) are the vectors of residues
    0..P-1; neuron_logit_map: the parameter names whose matrix product maps the last hidden
    layer to the logits. grokscan's own models provide both (``Layout.of(model)``); for any
    other model, give them, or leave them empty and only the measures that need neither apply.
    """

    residue_vectors: tuple = ()
    neuron_logit_map: tuple = ()

    @classmethod
    def of(cls, model) -> Layout:
        """The layout a model declares (``model.residue_vectors()``, ``neuron_logit_map()``),
        empty where it declares none."""
        rv = model.residue_vectors() if hasattr(model, "residue_vectors") else []
        nl = model.neuron_logit_map() if hasattr(model, "neuron_logit_map") else []
        return cls(tuple(rv), tuple(nl))


def check_layout(residue_vectors, neuron_logit_map, shapes: dict, *, where: str,
                 p: int | None = None, error=GrokscanError) -> None:
    """The residue vectors and the neuron-logit map name parameters of ``shapes``
    ({name: shape}) with shapes that fit: a range start:stop along the stated axis of a 2-D
    parameter (P entries when ``p`` is known; every entry the same length), and matrices whose
    product is defined. A mismatch raises ``error`` naming the parameter, what was expected and
    what was found."""
    lengths = set()
    for r in residue_vectors:
        name = r.get("param") if isinstance(r, dict) else None
        if name not in shapes:
            raise error(f"{where}: residue_vectors names the parameter {name!r}, which "
                        f"{'is not one of ' + ', '.join(shapes) if shapes else 'does not exist'}")
        start, stop, axis, shape = r.get("start"), r.get("stop"), r.get("axis", 0), shapes[name]
        if axis not in AXES or len(shape) != 2:
            raise error(f"{where}: residue_vectors takes {name} of shape {tuple(shape)} along "
                        f"axis {axis!r}; expected a 2-D parameter and axis 0 (rows) or 1 "
                        "(columns)")
        if not (isinstance(start, int) and isinstance(stop, int)
                and 0 <= start < stop <= shape[axis]):
            other = (f"; its {AXES[1 - axis]} ({shape[1 - axis]}) may be the residues: give "
                     f'"axis": {1 - axis}' if isinstance(stop, int)
                     and shape[axis] < stop <= shape[1 - axis] else "")
            raise error(f"{where}: residue_vectors takes {AXES[axis]} {start}:{stop} of {name}, "
                        f"of shape {tuple(shape)}, which has {shape[axis]} {AXES[axis]}{other}")
        if p is not None and stop - start != p:
            raise error(f"{where}: residue_vectors takes {stop - start} {AXES[axis]} of {name}; "
                        f"expected P = {p}, one per residue")
        lengths.add(stop - start)
    if len(lengths) > 1:
        raise error(f"{where}: residue_vectors selects {sorted(lengths)} residues from its "
                    "parameters; expected the same number from each")
    prev = None
    for name in neuron_logit_map:
        if name not in shapes:
            raise error(f"{where}: neuron_logit_map names the parameter {name!r}, which "
                        f"{'is not one of ' + ', '.join(shapes) if shapes else 'does not exist'}")
        shape = tuple(shapes[name])
        if len(shape) != 2 or (prev is not None and prev[1] != shape[0]):
            raise error(f"{where}: neuron_logit_map multiplies {prev} by {name} of shape "
                        f"{shape}; the shapes do not compose")
        prev = shape


def residue_rows(values: np.ndarray, entry: dict) -> np.ndarray:
    """The per-residue vectors that one ``residue_vectors`` entry selects from a parameter's
    values at one or more checkpoints (..., d0, d1): shape (..., P, d)."""
    part = values[..., entry["start"]:entry["stop"]] if entry.get("axis", 0) == 1 else \
        values[..., entry["start"]:entry["stop"], :]
    return np.swapaxes(part, -1, -2) if entry.get("axis", 0) == 1 else part


def residue_matrix(values: dict, entries) -> np.ndarray:
    """The per-residue vectors of a layout's ``residue_vectors`` entries side by side, (...,
    P, Σ d): embedding rows, or for a one-hot input the a and b rows of the first layer (their
    Fourier norms add in quadrature). ``values``: {parameter name: its values at one or more
    checkpoints}, numpy arrays or torch tensors (the result is of the same kind)."""
    parts = [residue_rows(values[r["param"]], r) for r in entries]
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=-1)
    import torch

    return torch.cat(parts, dim=-1)
