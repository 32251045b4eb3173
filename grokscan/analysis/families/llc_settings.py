"""The settings of the llc family (``grokscan analyze --llc-*``) and what listing the family
needs, without torch: ``grokscan metrics`` and the family table import this, not llc.py."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import asdict, dataclass

import numpy as np

from grokscan.errors import GrokscanError

EXTRA = "llc"  # pip install grokscan[llc]
MODULE = "devinterp"
SEED_MAX = 2**63 - 1  # torch seeds are below 2^64; devinterp adds the chain's index


@dataclass(frozen=True)
class LLCSettings:
    """The SGLD chains of the llc family (``grokscan analyze --llc-*``), stored as the
    attributes of ``/metrics/llc`` in metrics.h5."""

    checkpoints: int = 10  # checkpoints estimated on (the expensive-subset rule); 0 = all
    num_chains: int = 4
    num_draws: int = 200
    num_burnin_steps: int = 100
    num_steps_bw_draws: int = 1
    lr: float = 3e-4  # the SGLD step ε
    localization: float = 100.0  # γ
    nbeta: float = 0.0  # nβ; 0: n / log n, n the train-set size (arXiv:2308.12108 §4, β* = 1/log n)
    batch_size: int = 128  # minibatch m; 0 or at least n: the full train set
    seed: int = 0

    def check(self) -> None:
        for name in ("num_chains", "num_draws", "num_steps_bw_draws"):
            if getattr(self, name) < 1:
                raise GrokscanError(f"--llc-{_opt(name)}: expected at least 1, got "
                                    f"{getattr(self, name)}")
        if self.num_draws < 20:  # the report's convergence test: quarters of 5 stretches
            raise GrokscanError(f"--llc-draws: expected at least 20, got {self.num_draws}")
        for name in ("checkpoints", "num_burnin_steps", "batch_size", "localization", "nbeta"):
            value = getattr(self, name)
            if not 0 <= value < math.inf:  # NaN fails both
                raise GrokscanError(f"--llc-{_opt(name)}: expected a finite number ≥ 0, got "
                                    f"{value}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise GrokscanError(f"--llc-lr: expected a positive step, got {self.lr}")
        if not 0 <= self.seed <= SEED_MAX:
            raise GrokscanError(f"--llc-seed: expected an integer in [0, 2^63 - 1] (a torch "
                                f"seed), got {self.seed}")

    def attrs(self, n_train: int) -> dict:
        """The settings as group attributes, with the nβ and batch size actually used."""
        return {**asdict(self), "nbeta": self.nbeta_for(n_train),
                "batch_size": self.batch_for(n_train), "n_train": n_train,
                "estimator": "devinterp.slt.sampler.estimate_learning_coeff_with_summary, "
                             "optimizer devinterp.optim.sgld.SGLD"}

    def nbeta_for(self, n: int) -> float:
        return float(self.nbeta) if self.nbeta > 0 else float(n / math.log(max(n, 2)))

    def batch_for(self, n: int) -> int:
        return n if self.batch_size <= 0 or self.batch_size >= n else int(self.batch_size)


_OPTS = {"num_chains": "chains", "num_draws": "draws", "num_burnin_steps": "burnin",
         "num_steps_bw_draws": "thin", "batch_size": "batch", "localization": "gamma"}


def _opt(name: str) -> str:
    return _OPTS.get(name, name)


def unavailable() -> str | None:
    """Why the family cannot run here (devinterp not installed), in one line; None if it can."""
    if importlib.util.find_spec(MODULE) is None:
        return f"needs devinterp: pip install 'grokscan[{EXTRA}]'"
    return None


def group_attrs(setup) -> dict:
    """The chain settings, as the attributes of ``/metrics/llc``."""
    return setup.settings.llc.attrs(int(np.sum(setup.data_train)))


def subset_size(settings) -> int:
    return settings.llc.checkpoints
