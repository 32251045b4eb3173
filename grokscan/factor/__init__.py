"""Factoring P from a trained network's weights (Salah & Yevick, arXiv:2411.05353 §3.3–3.4):
read.py reads the factors off a last layer, search.py trains the paper's network until they
show (its recipe in recipe.py), text.py words the results. The names below are imported when
first used, so that importing the recipe alone stays cheap."""

NOT_FOUND = 3  # the exit status of `grokscan factor` when the weights show no factorisation

_LAZY = {"CheckpointReading": "read", "Evidence": "read", "FactorReport": "read",
         "last_layer_rows": "read", "read_checkpoint": "read", "read_factors": "read",
         "Recipe": "recipe", "Search": "search", "SeedRun": "search", "search": "search"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"grokscan.factor.{_LAZY[name]}")
        # each name of that module bound here once, ``search`` (the function) too: importing
        # the submodule search.py binds its own name here, which from-imports would give
        for other, where in _LAZY.items():
            if where == _LAZY[name]:
                globals()[other] = getattr(module, other)
        return globals()[name]
    raise AttributeError(f"module 'grokscan.factor' has no attribute {name!r}")


__all__ = ["NOT_FOUND", *_LAZY]
