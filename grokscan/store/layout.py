"""Where analysis finds a model's per-residue vectors and its neuron-logit map
(store/SCHEMA.md, root attributes ``residue_vectors`` and ``neuron_logit_map``): the
:class:`Layout` a writer is given, its orientation resolved against the parameters' shapes and
the task's classes (:func:`resolve`, the Recorder's, before the first checkpoint), the one
check of it against the shapes (the reader's, at every open), and the selection of the vectors
and of the map from the parameters.

A matrix of the neuron-logit map is read either way round: ``"in,out"`` (x @ W, as grokscan's
own models and TransformerLens store their weights) or ``"out,in"`` (W @ x, as
``torch.nn.Linear.weight`` is stored). An entry names it as ``{"param": name, "axes": ...}``;
a bare name given to a Recorder has its axes inferred where the shapes allow one reading only,
and a file stores every entry with its axes (format version 4; a bare name in a file of an
earlier version is "in,out", what it always meant)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokscan.errors import GrokscanError

AXES = {0: "rows", 1: "columns"}
READINGS = ("in,out", "out,in")  # how a matrix of the neuron-logit map maps its input


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
    neuron_logit_map: tuple = ()  # names, or {"param": name, "axes": "in,out" | "out,in"}

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
    for e in logit_entries(neuron_logit_map, where, error):
        name = e["param"]
        if name not in shapes:
            raise error(f"{where}: neuron_logit_map names the parameter {name!r}, which "
                        f"{'is not one of ' + ', '.join(shapes) if shapes else 'does not exist'}")
        shape = _oriented(tuple(shapes[name]), e["axes"])
        if len(shape) != 2 or (prev is not None and prev[1] != shape[0]):
            raise error(f"{where}: neuron_logit_map multiplies {prev} by {name} of shape "
                        f"{tuple(shapes[name])} read {e['axes']}; the shapes do not compose")
        prev = shape


def logit_entries(entries, where: str = "layout", error=GrokscanError) -> tuple[dict, ...]:
    """The neuron-logit map's entries as ``{"param", "axes"}``: a bare name is "in,out" (what
    a file's bare name means; a Recorder infers it first, :func:`resolve`)."""
    out = []
    for e in entries:
        if isinstance(e, str):
            e = {"param": e, "axes": "in,out"}
        if not (isinstance(e, dict) and isinstance(e.get("param"), str)
                and e.get("axes", "in,out") in READINGS):
            raise error(f"{where}: neuron_logit_map entry {e!r}: expected a parameter name or "
                        f'{{"param": name, "axes": "in,out" or "out,in"}}')
        out.append({"param": e["param"], "axes": e.get("axes", "in,out")})
    return tuple(out)


def _oriented(shape: tuple, axes: str) -> tuple:
    """A matrix's shape as (in, out)."""
    return shape[::-1] if axes == "out,in" and len(shape) == 2 else shape


def resolve(layout: Layout, shapes: dict, *, n_classes: int | None,
            where: str = "layout") -> Layout:
    """The layout with the axes of every neuron-logit map entry stated: given, or inferred
    from the shapes ({name: shape}) where only one reading composes the map into one logit per
    class (``n_classes``; None: not known, a bare name is then "in,out"). The last matrix's
    output must be the classes; each earlier one's, the next one's input. Where both readings
    fit (a square matrix) or none does, a GrokscanError names the parameter, its shape and
    what was expected."""
    entries = list(layout.neuron_logit_map)
    if not entries:
        return layout
    need = n_classes
    done: list[dict] = []
    for e in reversed(entries):
        name = e if isinstance(e, str) else e.get("param") if isinstance(e, dict) else None
        if name not in shapes or len(shapes[name]) != 2:
            check_layout((), entries, shapes, where=where)  # its one-line error
        shape = tuple(shapes[name])
        stated = e.get("axes") if isinstance(e, dict) else None
        axes = stated or _infer(name, shape, need, where, last=not done)
        out = _oriented(shape, axes)[1]
        if need is not None and out != need:
            what = f"{need} classes" if not done else f"the {need} inputs of {done[0]['param']}"
            raise GrokscanError(f"{where}: neuron_logit_map: {name} has shape {shape}, read "
                                f"{axes}, its output is {out}; expected {what}")
        done.insert(0, {"param": name, "axes": axes})
        need = _oriented(shape, axes)[0]
    return Layout(layout.residue_vectors, tuple(done))


def _infer(name: str, shape: tuple, need: int | None, where: str, *, last: bool) -> str:
    what = f"{need} classes" if last else f"{need} outputs"
    if need is None:
        return "in,out"
    fits = [a for a in READINGS if _oriented(shape, a)[1] == need]
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise GrokscanError(f"{where}: neuron_logit_map: {name} has shape {shape}; expected "
                            f"one of its axes to be the {what}")
    raise GrokscanError(f"{where}: neuron_logit_map: {name} has shape {shape}, which maps to "
                        f"{what} either way round; say which: {{\"param\": \"{name}\", "
                        '"axes": "out,in"} (torch.nn.Linear.weight) or "in,out" (x @ W)')


def logit_map(values: dict, entries):
    """W_L, (..., d, C): the product of the neuron-logit map's matrices, each read (in, out),
    from ``values`` ({name: values at one or more checkpoints}, numpy arrays or torch
    tensors)."""
    W = None
    for e in logit_entries(entries):
        M = values[e["param"]]
        M = M.swapaxes(-1, -2) if e["axes"] == "out,in" else M
        W = M if W is None else W @ M
    return W


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
