"""grokscan: record dense checkpoints of small models learning modular arithmetic or Ising
lattices, and measure the hidden reorganisation that precedes grokking."""

__version__ = "0.1.0"

from grokscan.store.reader import Run  # noqa: E402
from grokscan.store.writer import Recorder, Schedule  # noqa: E402

__all__ = ["Recorder", "Run", "Schedule", "__version__"]
