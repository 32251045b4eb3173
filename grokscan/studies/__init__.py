"""Work over many runs, above the sweeps and the analysis: the onset detectors judged on a
sweep's runs (onset.py).

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py)."""
