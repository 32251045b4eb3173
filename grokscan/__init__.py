"""grokscan: record dense checkpoints of small models learning modular arithmetic (or anything
else, from your own loop), measure the hidden reorganisation that precedes grokking, and
forecast it.

The public API is what this module exports (``dir(grokscan)`` lists it); every other module is
internal and may change between versions:

- train, analyse, draw: :func:`run_config`, :func:`train`, :func:`analyze` (its metric
  families: ``FAMILIES``), :func:`report`, :func:`sweep_report`;
- open what they write: :func:`open_run` (a checkpoint file, :class:`Run`) and
  :func:`open_metrics` (a metrics file or its folder, :class:`MetricsFile`, ``.table()`` as a
  pandas DataFrame);
- record from your own training loop: :class:`Recorder`, :class:`Schedule`, :class:`Layout`
  (:func:`layout_of` fills it in for common models), :func:`modular_task` (your data, with
  its residues), :class:`ModelSpec` (how analysis runs your model again);
- configure: :class:`RunConfig`, :class:`ModelConfig`, :class:`TrainConfig`;
- draw one figure yourself: the module :mod:`grokscan.figures` (each function takes ``ax=``);
- the measures themselves, numpy in, numpy out: the module :mod:`grokscan.metrics`;
- more, each a module with its own ``__all__``: :mod:`grokscan.onset` (onset detectors),
  :mod:`grokscan.tasks` (the Task protocol; :mod:`grokscan.tasks.modular`,
  :mod:`grokscan.tasks.ising`), :mod:`grokscan.factor`, :mod:`grokscan.sweep`,
  :mod:`grokscan.watch`, :mod:`grokscan.studies` (work over many runs: judging onset
  detectors, the onset corpus), :mod:`grokscan.cli` (``main``, the command line).

Each name is imported when first used, so ``import grokscan`` is cheap (no torch).
"""

from grokscan._version import __version__

# name -> the module that defines it (imported on first use)
_LAZY = {
    "run_config": "grokscan.api", "train": "grokscan.api", "analyze": "grokscan.api",
    "report": "grokscan.api", "sweep_report": "grokscan.api", "open_run": "grokscan.api",
    "open_metrics": "grokscan.api", "FAMILIES": "grokscan.analysis.families",
    "Recorder": "grokscan.recorder", "Schedule": "grokscan.recorder",
    "Layout": "grokscan.store.layout", "layout_of": "grokscan.adapters",
    "ModelSpec": "grokscan.store.spec", "modular_task": "grokscan.tasks.modular",
    "Run": "grokscan.store.reader",
    "MetricsFile": "grokscan.store.metrics", "RunConfig": "grokscan.config",
    "ModelConfig": "grokscan.config", "TrainConfig": "grokscan.config",
    "GrokscanError": "grokscan.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once: the next look-up is an attribute
        return value
    raise AttributeError(f"module 'grokscan' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (and the subpackages' modules loaded so far)."""
    return sorted(set(__all__) | {k for k in globals() if not k.startswith("_")})
