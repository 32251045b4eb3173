"""grokscan: record dense checkpoints of small models learning modular arithmetic or Ising
lattices, and measure the hidden reorganisation that precedes grokking."""

__version__ = "0.1.0"
