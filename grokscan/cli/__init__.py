"""The command line (``grokscan``): main.py is the group; one module per group of commands."""

from grokscan.cli.main import main

__all__ = ["main"]
