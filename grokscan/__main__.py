"""``python -m grokscan``: the command line."""

from grokscan.cli import main

main()
