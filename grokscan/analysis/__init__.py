"""Analysis of a checkpoint file: rebuild the model (replay.py), the metric families
(families/), their setup for one run (setup.py) and the streaming driver (driver.py); the
last two are imported when first named (they import torch).

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py)."""

from grokscan.analysis.families import FAMILIES, FamilySettings

_LATER = {"analyze": "driver", "parse_families": "driver", "parse_ints": "driver",
          "parse_steps": "driver", "Options": "setup", "expensive_subset": "setup"}


def __getattr__(name: str):
    """The driver and the setup import torch: imported when first named, so that the family
    table (``grokscan metrics``) is listed without it."""
    if name not in _LATER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"grokscan.analysis.{_LATER[name]}"), name)

__all__ = ["FAMILIES", "Options", "FamilySettings", "analyze", "expensive_subset", "parse_families",
           "parse_ints", "parse_steps"]
