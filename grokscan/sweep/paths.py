"""The layout of a sweep folder, and its one way of writing a file.

    SWEEP/grid.toml            the grid file as given
    SWEEP/points.json          the resolved points (grokscan/sweep/grid.py)
    SWEEP/runs/<name>/run.h5   one checkpoint file per point
    SWEEP/runs/<name>/metrics.h5, metrics.csv   its analysis (`grokscan analyze` output)
    SWEEP/summary.csv          one row per point (and summary.parquet with pyarrow)
    SWEEP/report.html          `grokscan sweep report`, its figures in SWEEP/figures/

Workers read and write SWEEP/runs/ directly, so SWEEP/ must be on a file system that every
worker shares (NFS, Lustre, GPFS on a cluster); nothing but the summary rows travels back.
"""

from __future__ import annotations

import os


def run_dir(out_dir, name: str) -> str:
    return os.path.join(os.fspath(out_dir), "runs", name)


def run_file(out_dir, name: str) -> str:
    return os.path.join(run_dir(out_dir, name), "run.h5")
