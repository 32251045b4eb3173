"""The 2-D Ising model (physics.py: the sampler and Onsager's exact values), the
energy-classification data set of Hutchison & Yevick, arXiv:2510.25966 (dataset.py; its file
format in ISING_DATA.md), and the training task on it (task.py)."""

from grokscan.tasks.ising.dataset import (
    FORMAT_VERSION,
    GENERATED,
    SHIPPED,
    SPLITS,
    IsingData,
    IsingDataConfig,
    generate,
    load_ising,
    parse_bins,
    save_ising,
    training_data,
)
from grokscan.tasks.ising.physics import (
    SWEEPS_PER_ROUND,
    T_C,
    default_rounds,
    energy,
    magnetization,
    metropolis,
    onsager_energy,
    onsager_magnetization,
    random_spins,
    sample,
    summarize,
    swendsen_wang,
)
from grokscan.tasks.ising.task import TASK, IsingConfig, IsingTask

__all__ = [
    "FORMAT_VERSION", "GENERATED", "SHIPPED", "SPLITS", "SWEEPS_PER_ROUND", "T_C", "TASK",
    "IsingConfig", "IsingData", "IsingDataConfig", "IsingTask", "default_rounds", "energy",
    "generate", "load_ising", "magnetization", "metropolis", "onsager_energy",
    "onsager_magnetization", "parse_bins", "random_spins", "sample", "save_ising", "summarize",
    "swendsen_wang", "training_data",
]
