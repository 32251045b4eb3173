"""grokscan watch: a live view of a run file while training writes it, in a terminal or from
Python. ``LiveRun(path)`` follows a checkpoint file as it grows (``poll()`` gives the rows new
since the last call), ``View`` keeps the view's numbers and draws it (rich), ``wait_for(path)``
waits for a training to create its file, ``watch(path, opts)`` is the whole command."""

_LAZY = {"LiveRun": "reader", "Rows": "reader", "wait_for": "reader", "View": "view",
         "WatchOptions": "live", "watch": "live"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"grokscan.watch.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'grokscan.watch' has no attribute {name!r}")


__all__ = list(_LAZY)
