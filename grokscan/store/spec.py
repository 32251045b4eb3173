"""What analysis needs to run a model of your own again (store/SCHEMA.md, the root attribute
``model`` of format version 4): the callable that builds it, named by its module and name, its
keyword arguments, the modules whose outputs are the hidden activations, and how it takes the
task's examples.

A file only *names* the code. Analysis never imports a module because a file names it: it runs
the model only when the user names the same callable too (``grokscan analyze --model
module:name``, or ``grokscan.analyze(..., model=fn)`` from their own session), so a file from
someone else runs no code that its reader did not choose to trust.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.tasks.modular import ENCODINGS

REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")  # module.path:qualified.name


def reference(factory) -> str:
    """``module:qualified.name`` of a callable, or a reference given as such, checked."""
    if callable(factory):
        ref = f"{getattr(factory, '__module__', '')}:{getattr(factory, '__qualname__', '')}"
    else:
        ref = factory
    if not isinstance(ref, str) or not REFERENCE.fullmatch(ref) or "<" in ref:
        raise GrokscanError(f"model: expected a callable defined at a module's top level, or "
                            f"its 'module:name', got {ref!r}")
    return ref


@dataclass(frozen=True)
class ModelSpec:
    """How to build and run a model of your own again, for the analysis of its checkpoints.

    Parameters
    ----------
    factory : callable or str
        What builds the model, ``factory(**kwargs) -> torch.nn.Module`` with the recorded
        parameters' names and shapes: a function or class defined at a module's top level, or
        its ``"module:name"``.
    kwargs : dict, optional
        Its keyword arguments (JSON: numbers, strings, lists, dicts).
    hidden : sequence of str, optional
        The dotted names of the modules whose outputs are the hidden activations, first to
        last (``model.named_modules()``); ``"name:input"`` is the input of module ``name``
        instead. The last feeds the neuron-logit map. Empty: the input of the model's last
        ``torch.nn.Linear`` (the Recorder fills it in).
    inputs : {"tokens", "tokens+eq", "onehot"}, default "tokens"
        How the model takes an example (a, b): the token ids [a, b] (int64 (n, 2)), with the
        '=' token [a, b, =], or the one-hot of a and b side by side (float32 (n, 2P));
        ``grokscan.modular_task(...).inputs`` gives them.

    Examples
    --------
    >>> import grokscan
    >>> spec = grokscan.ModelSpec("mypackage.nets:make_net", kwargs={"p": 23}, hidden=["act"])
    >>> spec.factory
    'mypackage.nets:make_net'
    """

    factory: str
    kwargs: dict = field(default_factory=dict)
    hidden: tuple = ()
    inputs: str = "tokens"
    # the callable itself when it was given (not stored: a file keeps its reference only)
    builder: object = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if callable(self.factory) and self.builder is None:
            object.__setattr__(self, "builder", self.factory)
        object.__setattr__(self, "factory", reference(self.factory))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not isinstance(self.kwargs, dict):
            raise GrokscanError(f"model: kwargs: expected a dict, got {type(self.kwargs).__name__}")
        try:
            json.dumps(self.kwargs)
        except TypeError as e:
            raise GrokscanError(f"model: kwargs: expected JSON values ({e})") from None
        if not all(isinstance(h, str) and h for h in self.hidden):
            raise GrokscanError(f"model: hidden: expected module names, got {self.hidden!r}")
        if self.inputs not in ENCODINGS:
            raise GrokscanError(f"model: inputs: expected one of {', '.join(ENCODINGS)}, got "
                                f"{self.inputs!r}")

    def build(self):
        """The model, built by the callable given, or else by the one the reference names
        (imported: a reference the user gave, never one read from a file)."""
        return (self.builder or load(self.factory))(**self.kwargs)

    def to_json(self) -> str:
        return json.dumps({"factory": self.factory, "kwargs": self.kwargs,
                           "hidden": list(self.hidden), "inputs": self.inputs})

    @classmethod
    def from_json(cls, text: str, where: str) -> ModelSpec:
        try:
            d = json.loads(text)
            return cls(d["factory"], dict(d.get("kwargs", {})), tuple(d.get("hidden", ())),
                       d.get("inputs", "tokens"))
        except (ValueError, KeyError, TypeError, AttributeError, GrokscanError) as e:
            raise FileFormatError(f"{where}: the model attribute is malformed ({e})") from None


def load(ref: str):
    """The callable ``module:qualified.name`` names, imported (only ever for a reference the
    user gave: the module's docstring)."""
    import importlib

    module, name = ref.split(":")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise GrokscanError(f"model: cannot import {ref} ({e})") from None
    if not callable(obj):
        raise GrokscanError(f"model: {ref} is not callable")
    return obj
