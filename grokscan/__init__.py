"""grokscan: record dense checkpoints of small models learning modular arithmetic or Ising
lattices, and measure the hidden reorganisation that precedes grokking.

``Recorder`` and ``Schedule`` (grokscan.recorder) need torch; ``Layout``
(grokscan.store.layout) and ``Run`` (grokscan.store.reader) do not. Each is imported when first
used, so ``import grokscan`` is cheap.
"""

from grokscan._version import __version__

_LAZY = {"Recorder": "grokscan.recorder", "Schedule": "grokscan.recorder",
         "Layout": "grokscan.store.layout", "Run": "grokscan.store.reader"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grokscan' has no attribute {name!r}")


__all__ = ["Layout", "Recorder", "Run", "Schedule", "__version__"]
