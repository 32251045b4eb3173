"""Sweeps: many runs from one grid file, on local worker processes or a Dask cluster.

grid.py reads and checks the grid and resolves its points; runner.py submits them to Dask
workers; worker.py trains, resumes or skips one point and analyses it; table.py writes and
reads SWEEP/summary.csv; phase.py labels each run with its learning phase; stats.py computes
the numbers of the sweep report (drawn by grokscan/figures/sweep.py, written by
grokscan/reporting/sweep.py); synthetic.py makes a constructed sweep folder, its phases chosen
and no run trained, for trying the sweep report (``synthetic.make``). The folder layout is in
paths.py.
"""

from grokscan.sweep import synthetic
from grokscan.sweep.grid import Grid, Point, load, points
from grokscan.sweep.phase import PHASES, PhaseRule, phase
from grokscan.sweep.runner import SweepOptions, run_sweep
from grokscan.sweep.table import status

__all__ = ["PHASES", "Grid", "PhaseRule", "Point", "SweepOptions", "load", "phase", "points",
           "run_sweep", "status", "synthetic"]
