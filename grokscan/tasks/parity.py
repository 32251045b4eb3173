"""k-sparse parity (Barak et al. 2022, arXiv:2207.08799): inputs x ∈ {±1}^n, uniformly drawn;
the label is the parity of k hidden relevant bits, y = 1 when ∏_{i∈S} x_i = −1, else 0.

A fixed training set of ``n_train`` examples makes networks memorise first and generalise
later (Merrill et al. 2023, arXiv:2303.11873, on (n, k) = (40, 3)). The defaults, (30, 3) with
1500 training examples and one hidden layer of 256 ReLU units under full-batch AdamW (lr 1e-2,
weight decay 1), measured on one CPU thread, seeds 0-2: the training set is fitted by step
40-60, test accuracy reaches 0.9 at steps 1180, 1400 and 200 (3000 steps, about 25 s). With
1000 training examples 2 of 4 seeds had not reached 0.9 in 6000 steps; at 40 bits, none in
3000. The relevant bits S and both sets are drawn from the seed; the ``/task`` group stores
them, so the file alone rebuilds the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.settings import Settings, setting
from grokscan.tasks.base import MAX_ELEMENTS, Split, read_array


@dataclass(frozen=True)
class ParityConfig(Settings):
    section = "task"
    kind: str = setting("parity", "the task", flag="task")
    n_bits: int = setting(30, "parity: bits per input", range="[2, 4096]")
    k: int = setting(3, "parity: relevant bits", range="[1, 4096]")
    n_train: int = setting(1500, "parity: training examples", range="[2, 4194304]")
    n_test: int = setting(1000, "parity: test examples", range="[1, 4194304]")


def _labels(x: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1 where the product of the relevant bits (±1) is −1: an odd count of −1 among them."""
    return (np.sum(x[:, relevant] < 0, axis=1) % 2).astype(np.int64)


@dataclass(frozen=True)
class ParityData:
    """x int8 (n, n_bits) of ±1, y int64 (n,), train bool (n,), relevant int64 (k,)."""

    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    relevant: np.ndarray

    kind = "parity"
    class_label = "parity"
    class_names = ["even", "odd"]
    residues = None

    def split(self, model: str) -> Split:
        if model == "transformer":
            raise GrokscanError("the parity task takes ±1 inputs; use --model mlp")
        x, tr = self.x, self.train
        return Split(x[tr].astype(np.float32), self.y[tr], x[~tr].astype(np.float32),
                     self.y[~tr], 0, 0, 2)

    def write(self, g) -> None:
        g.attrs.update(kind="parity", n_bits=self.x.shape[1], k=len(self.relevant))
        g.create_dataset("x", data=self.x.astype(np.int8))
        g.create_dataset("y", data=self.y.astype(np.int8))
        g.create_dataset("train", data=self.train)
        g.create_dataset("relevant", data=self.relevant.astype(np.int32))

    def summary(self) -> dict:
        return {"kind": "parity", "n_bits": int(self.x.shape[1]), "k": len(self.relevant),
                "relevant": self.relevant.tolist(), "n_train": int(self.train.sum()),
                "n_test": int((~self.train).sum())}

    def describe(self) -> str:
        return (f"{len(self.relevant)}-sparse parity of {self.x.shape[1]} bits (relevant "
                f"{', '.join(map(str, self.relevant))}), {int(self.train.sum())} train, "
                f"{int((~self.train).sum())} test examples")


def _signs(rng, rows: int, n: int) -> np.ndarray:
    """Uniform ±1 of shape (rows, n), int8: the same draws as one rng.random((rows, n)) < 0.5,
    made a few MiB of float64 at a time."""
    out = np.empty((rows, n), np.int8)
    step = max(1, (1 << 22) // n)
    for i in range(0, rows, step):
        out[i : i + step] = np.where(rng.random((min(step, rows - i), n)) < 0.5, -1, 1)
    return out


def check(cfg: ParityConfig) -> None:
    """Raise GrokscanError for a task that cannot be built, before any data are made."""
    n, k, total = cfg.n_bits, cfg.k, cfg.n_train + cfg.n_test
    if k > n:
        raise GrokscanError(f"--k {k}: expected at most --n-bits ({n}) relevant bits")
    if n < 62 and total > 2**n:
        raise GrokscanError(f"--n-train + --n-test = {total} examples, more than the 2^{n} "
                            "distinct inputs")
    if total * n > MAX_ELEMENTS:  # x is stored as one array of the task
        raise GrokscanError(f"--n-train + --n-test = {total} examples of --n-bits {n} would be "
                            f"{total * n} input bits; at most {MAX_ELEMENTS} (2^28), what a "
                            "run file's task holds")


def make(cfg: ParityConfig, seed: int) -> ParityData:
    check(cfg)
    n, k, total = cfg.n_bits, cfg.k, cfg.n_train + cfg.n_test
    rng = np.random.default_rng(seed)
    relevant = np.sort(rng.choice(n, k, replace=False))
    x = np.empty((0, n), np.int8)
    while len(x) < total:  # distinct inputs, so that no test input is seen in training
        x = np.unique(np.concatenate([x, _signs(rng, total - len(x), n)]), axis=0)
    x = x[rng.permutation(len(x))[:total]]
    train = np.zeros(total, bool)
    train[: cfg.n_train] = True
    return ParityData(x, _labels(x, relevant), train, relevant)


def read(g, cfg: ParityConfig | None, where: str) -> ParityData:
    """The parity task of a checkpoint file, checked: ±1 inputs, labels that are the parity of
    the relevant bits, and the sizes of the config."""
    try:
        n, k = int(g.attrs["n_bits"]), int(g.attrs["k"])
    except (KeyError, TypeError, ValueError) as e:
        raise FileFormatError(f"{where}: the parity task's attributes n_bits and k are missing "
                              f"or unreadable ({e})") from None
    if cfg is not None and (cfg.n_bits, cfg.k) != (n, k):
        raise FileFormatError(f"{where}: the data have {n} bits, {k} relevant; the run's "
                              f"config says {cfg.n_bits} and {cfg.k}")
    x = read_array(g, "x", where, shape=(None, n))
    y = read_array(g, "y", where, shape=(len(x),)).astype(np.int64)
    train = read_array(g, "train", where, shape=(len(x),)).astype(bool)
    relevant = read_array(g, "relevant", where, shape=(k,)).astype(np.int64)
    if not np.all(np.abs(x) == 1) or (k and (relevant.min() < 0 or relevant.max() >= n)):
        raise FileFormatError(f"{where}: inputs other than ±1 or relevant bits outside 0..{n - 1}")
    if not np.array_equal(y, _labels(x, relevant)):
        raise FileFormatError(f"{where}/y: labels that are not the parity of the relevant bits")
    return ParityData(x, y, train, relevant)


class _Parity:
    kind = "parity"
    Config = ParityConfig
    models = ("mlp",)  # its inputs are not tokens
    # One hidden layer of 256 ReLU units on the ±1 inputs, AdamW (the module docstring).
    defaults = {"width": 256, "lr": 1e-2, "wd": 1.0, "steps": 3000, "every": 20}
    make = staticmethod(make)
    check = staticmethod(check)
    read = staticmethod(read)


TASK = _Parity()
