"""Analysis of a checkpoint file: rebuild the model (replay.py), the metric families
(families/), their setup for one run (setup.py) and the streaming driver (driver.py).

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py)."""

from grokscan.analysis.driver import analyze, parse_families, parse_ints, parse_steps
from grokscan.analysis.families import FAMILIES, FamilySettings
from grokscan.analysis.setup import Options, expensive_subset

__all__ = ["FAMILIES", "Options", "FamilySettings", "analyze", "expensive_subset", "parse_families",
           "parse_ints", "parse_steps"]
