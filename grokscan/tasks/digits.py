"""Handwritten digits: scikit-learn's bundled 8 × 8 images (1797 of them, the UCI optical
digits test set; :func:`sklearn.datasets.load_digits`, no download), pixels 0..16 scaled to
[0, 1], ten classes. A seeded subset of ``n_train`` images is the training set, the rest the
test set; the model is an MLP on the 64 pixels.

Grokking on images (Liu et al., Omnigrok, arXiv:2210.01117 §4): MNIST groks when the initial
weights are scaled up (×8), the loss is MSE on one-hot targets and AdamW's weight decay shrinks
the weights back to the norm where the network generalises (the "LU mechanism"). The defaults
transplant that recipe to the 8 × 8 digits: 200 training images as one batch, a 64-200-200-10
ReLU MLP, every initial weight × 8 (``--init-scale``), MSE (``--loss mse``), AdamW lr 1e-3
(betas 0.9, 0.98), weight decay 0.3, 5000 steps. Measured with ``grokscan train --task
digits`` on one CPU thread of a loaded 2-core machine, seed 0, a checkpoint every 50 steps:
train accuracy ≥ 0.99 at step 450 (test accuracy 0.17 there), test accuracy 0.5 at step 2000,
0.9 at 3500, 0.947 at the end; 25 s in all. The rise is gradual, not a cliff. With weight
decay 0.1 (the same probe without grokscan's recording) test accuracy reaches 0.5 at ~5.7 k
steps and 0.9 at ~10 k; with lr 3e-3 and weight decay 0.3 the delay all but vanishes (test 0.9
at 1150). With the standard initialisation (``--init-scale 1``) the same network generalises
as it fits (test accuracy 0.9 by step 50), and so it does at × 8 with cross-entropy
(``--loss cross_entropy``: test 0.77 at step 50, before train accuracy reaches 1 at step 100):
the delay needs both the large initialisation and MSE, as in Omnigrok. The images, the
labels and the split are stored in the ``/task`` group, so the file alone rebuilds the run
(scikit-learn is needed only to make a new one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.settings import Settings, setting
from grokscan.tasks.base import Split, read_array

N_IMAGES, N_PIXELS, N_CLASSES = 1797, 64, 10
MAX_PIXEL = 16  # the images' grey levels are 0..16 (4 × 4 blocks of a 32 × 32 bitmap)


@dataclass(frozen=True)
class DigitsConfig(Settings):
    section = "task"
    kind: str = setting("digits", "the task", flag="task")
    n_train: int = setting(200, "digits: training images, drawn from the seed; the other of "
                           "the 1797 are the test set", range=f"[10, {N_IMAGES - 1}]")


@dataclass(frozen=True)
class DigitsData:
    """x uint8 (1797, 64) grey levels 0..16, y int64 (1797,) digits 0..9, train bool (1797,)."""

    x: np.ndarray
    y: np.ndarray
    train: np.ndarray

    kind = "digits"
    class_label = "digit"
    class_names = [str(d) for d in range(N_CLASSES)]
    residues = None

    def split(self, model: str) -> Split:
        if model == "transformer":
            raise GrokscanError("the digits task takes pixel inputs; use --model mlp")
        x, tr = self.x.astype(np.float32) / MAX_PIXEL, self.train
        return Split(x[tr], self.y[tr], x[~tr], self.y[~tr], 0, 0, N_CLASSES)

    def write(self, g) -> None:
        g.attrs.update(kind="digits", n_train=int(self.train.sum()))
        g.create_dataset("x", data=self.x.astype(np.uint8))
        g.create_dataset("y", data=self.y.astype(np.int8))
        g.create_dataset("train", data=self.train)

    def summary(self) -> dict:
        return {"kind": "digits", "n_train": int(self.train.sum()),
                "n_test": int((~self.train).sum()), "n_pixels": N_PIXELS}

    def describe(self) -> str:
        return (f"8 × 8 digits (scikit-learn), {int(self.train.sum())} train, "
                f"{int((~self.train).sum())} test images")


def load() -> tuple[np.ndarray, np.ndarray]:
    """The bundled images (1797, 64) uint8 and labels (1797,) int64, in scikit-learn's order."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.uint8), d.target.astype(np.int64)


def make(cfg: DigitsConfig, seed: int) -> DigitsData:
    if not 10 <= cfg.n_train < N_IMAGES:  # also when the config was built without the CLI
        raise GrokscanError(f"--n-train {cfg.n_train}: expected 10 to {N_IMAGES - 1} of the "
                            f"{N_IMAGES} images, so that some are left to test on")
    x, y = load()
    train = np.zeros(N_IMAGES, bool)
    train[np.random.default_rng(seed).permutation(N_IMAGES)[: cfg.n_train]] = True
    return DigitsData(x, y, train)


def read(g, cfg: DigitsConfig | None, where: str) -> DigitsData:
    """The digits task of a checkpoint file, checked: 1797 images of 64 grey levels 0..16,
    labels 0..9, and the config's training-set size."""
    x = read_array(g, "x", where, shape=(N_IMAGES, N_PIXELS))
    y = read_array(g, "y", where, shape=(N_IMAGES,)).astype(np.int64)
    train = read_array(g, "train", where, shape=(N_IMAGES,)).astype(bool)
    if x.min() < 0 or x.max() > MAX_PIXEL or y.min() < 0 or y.max() >= N_CLASSES:
        raise FileFormatError(f"{where}: grey levels outside 0..{MAX_PIXEL} or labels outside "
                              f"0..{N_CLASSES - 1}")
    if cfg is not None and cfg.n_train != int(train.sum()):
        raise FileFormatError(f"{where}/train: {int(train.sum())} training images; the run's "
                              f"config says {cfg.n_train}")
    return DigitsData(x.astype(np.uint8), y, train)


class _Digits:
    kind = "digits"
    Config = DigitsConfig
    models = ("mlp",)  # its inputs are not tokens
    # Omnigrok's MNIST recipe on the 8 × 8 digits (the module docstring).
    defaults = {"width": 200, "depth": 2, "init_scale": 8.0, "loss": "mse", "lr": 1e-3,
                "wd": 0.3, "steps": 5000, "every": 50}
    make = staticmethod(make)
    read = staticmethod(read)


TASK = _Digits()
