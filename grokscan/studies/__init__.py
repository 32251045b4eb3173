"""Work over many runs, above the sweeps and the analysis: the onset detectors judged on a
sweep's runs (onset.py); the onset corpus, the runs of the corpus sweeps read into one table of
training-side signals per checkpoint (corpus.py); and the choice of a detector by how it
transfers across groups of runs (transfer.py)."""

_LAZY = {"evaluate": "onset", "sweep_runs": "onset", "gather": "corpus",
         "read_run": "corpus", "trained_with": "corpus", "SIGNALS": "corpus",
         "RUN_COLUMNS": "corpus",
         "Candidate": "transfer", "Logistic": "transfer", "Runs": "transfer",
         "candidates": "transfer", "threshold": "transfer", "judge": "transfer",
         "leave_one_group_out": "transfer",
         "bootstrap": "transfer", "op_family": "transfer", "GROUPINGS": "transfer",
         "judge_flags": "transfer", "scores": "transfer", "flag_step": "transfer",
         "to_dict": "transfer", "from_dict": "transfer", "choose": "transfer",
         "auc_matched": "transfer"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"grokscan.studies.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'grokscan.studies' has no attribute {name!r}")


__all__ = list(_LAZY)
