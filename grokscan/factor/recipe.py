"""The training recipe of ``grokscan factor --p`` (why these values: grokscan/factor/search.py).
Its own module, with nothing heavy imported, so that the command line can show its defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """How ``grokscan factor --p`` trains."""

    frac: float = 0.8  # train fraction of the P² pairs (the paper's 0.8)
    act_a: float = 0.1  # a of φ(x) = x + a·x² (the paper: a < 0.5)
    width: int = 256  # units of each of the two hidden layers
    lr: float = 1e-2  # AdamW learning rate
    wd: float = 2.0  # AdamW weight decay
    every: int = 10  # checkpoint interval; each checkpoint is read
    max_steps: int = 2000  # the most steps one seed trains
    patience: int = 300  # steps a seed goes on after test accuracy ≥ 0.99 without a pattern

    def config(self, p: int, seed: int):
        from grokscan.config import ModelConfig, RunConfig, TrainConfig
        from grokscan.tasks.modular import ModularConfig

        return RunConfig(
            ModularConfig(ops=("add",), p=p, frac=self.frac),
            ModelConfig(input="onehot", depth=2, width=self.width, activation="quad",
                        act_a=self.act_a),
            TrainConfig(lr=self.lr, wd=self.wd, steps=self.max_steps, every=self.every,
                        seed=seed, grads=False),
        )
