"""Tasks: modular arithmetic (modular.py) and Ising lattices (ising.py)."""
