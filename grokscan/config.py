"""Configuration: frozen dataclasses with defaults, one comment per field (STYLE.md 3).

A RunConfig round-trips through JSON into the checkpoint file's root attributes, so every file
describes the task, the model and the optimizer that made it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from grokscan.errors import GrokscanError


@dataclass(frozen=True)
class TaskConfig:
    kind: str = "modular"  # "modular" (a op b mod p) or "ising" (energy class of a lattice)
    ops: tuple[str, ...] = ("add",)  # operation names (grokscan ops); several = multi-task
    p: int = 97  # the modulus P
    frac: float = 0.3  # fraction of all (a, b) pairs (per operation) used for training
    exclude_zero: bool = False  # operands from Z_P^* = {1..P-1}, for mul and div
    data: str | None = None  # ising: the data-set file (None: data/ising8.h5, see training_data)
    eval_inverted: bool = False  # ising: also evaluate the n-inverted test set ("inverted_*")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "mlp"  # "mlp" or "transformer"
    input: str = "concat"  # mlp input: shared embedding "concat" or "sum", or "onehot" (2P inputs)
    d_embed: int = 128  # mlp: embedding size; transformer: d_model
    width: int = 512  # mlp: hidden units per layer; transformer: d_mlp
    depth: int = 1  # mlp: number of hidden layers; transformer: number of blocks
    n_heads: int = 4  # transformer: attention heads
    pos_embed: bool = True  # transformer: learned positional embedding (Furuta et al. drop it)
    activation: str = "relu"  # see grokscan.models.activations.ACTIVATIONS
    act_a: float = 0.1  # "quad": a in x + a*x^2; "relu3": the global strength gamma
    dropout: float = 0.0  # dropout after each hidden activation (0 = none)
    bias: bool = True  # biases on hidden layers
    init_scale: float = 1.0  # every initial weight is multiplied by this (Ising paper: c = 7)
    d_in: int = 0  # ising: input size L*L (filled in from the data); 0 for modular tasks
    n_classes: int = 0  # output classes (filled in from the task)


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adamw"  # "adamw" (decoupled weight decay) or "adam" (L2: wd·θ added to
    # the gradient before the moments, torch.optim.Adam's weight_decay)
    lr: float = 1e-2  # learning rate
    wd: float = 1.0  # weight decay
    beta1: float = 0.9  # Adam beta1
    beta2: float = 0.98  # Adam beta2
    warmup: int = 10  # linear learning-rate warm-up, in steps
    batch_size: int = 0  # examples per step; 0 = full batch (one step per epoch)
    beta: float = 1.0  # softmax inverse temperature: the loss sees beta * logits
    steps: int = 2000  # optimizer steps
    every: int = 20  # checkpoint interval in steps
    dense_until: int = 0  # before this step, checkpoint every `dense_every` steps instead
    dense_every: int = 1  # the interval used before `dense_until`
    seed: int = 0  # seeds the split, the initialisation and any sampling
    device: str = "cpu"  # torch device
    stop_when_grokked: int = 0  # stop this many steps after test accuracy stays >= 0.99 (0: off)
    grads: bool = True  # record the full-batch training gradient at each checkpoint


@dataclass(frozen=True)
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        task = dict(d.get("task", {}))
        # Files of grokscan 0.1.0 before Ising training store task.ising_test = "random"
        # (what every run then used): the same as leaving out eval_inverted now.
        if task.get("ising_test", "random") == "random":
            task.pop("ising_test", None)
        return cls(
            task=_build(TaskConfig, task, "task"),
            model=_build(ModelConfig, d.get("model", {}), "model"),
            train=_build(TrainConfig, d.get("train", {}), "train"),
        )


def _build(cls, values: dict, section: str):
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise GrokscanError(
            f"unknown {section} setting(s) {', '.join(unknown)}; expected one of "
            f"{', '.join(sorted(names))}"
        )
    values = dict(values)
    if "ops" in values and not isinstance(values["ops"], str):
        values["ops"] = tuple(values["ops"])
    return cls(**values)


# Which section each flat key (a CLI option or a TOML key) belongs to.
SECTIONS = {
    **{f.name: "task" for f in dataclasses.fields(TaskConfig)},
    **{f.name: "model" for f in dataclasses.fields(ModelConfig) if f.name != "kind"},
    **{f.name: "train" for f in dataclasses.fields(TrainConfig)},
}


def from_flat(values: dict) -> RunConfig:
    """Build a RunConfig from flat keys as the CLI and TOML files name them.

    ``task`` is the task kind, ``model`` the model kind, ``op`` a comma-separated string or a
    list of operation names; every other key is a field name of one of the sections.
    """
    parts: dict[str, dict] = {"task": {}, "model": {}, "train": {}}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key == "task":
            parts["task"]["kind"] = value
        elif key == "model":
            parts["model"]["kind"] = value
        elif key in ("op", "ops"):
            ops = value.split(",") if isinstance(value, str) else list(value)
            parts["task"]["ops"] = tuple(o.strip() for o in ops if o.strip())
        elif key in SECTIONS:
            parts[SECTIONS[key]][key] = value
        else:
            raise GrokscanError(f"unknown setting {key!r}")
    return RunConfig.from_dict(parts)


# Defaults that differ by task (the paper's Ising network: Hutchison & Yevick, REFERENCE §5).
# The paper does not name its optimizer. torch.optim.Adam with its default betas and
# weight_decay = 5e-4 (an L2 term in the gradient) reproduces its numbers: test accuracy ≈ 0.83,
# generalisation between steps ~10 000 and 17 000, none without weight decay. AdamW's decoupled
# decay at these values (θ shrinks by lr·wd = 2.5e-7 a step) acts like none: the test accuracy
# stays near 0.58 (README, "Ising").
TASK_DEFAULTS = {
    "modular": {},
    "ising": {"depth": 4, "width": 48, "bias": False, "init_scale": 7.0, "optimizer": "adam",
              "lr": 5e-4, "wd": 5e-4, "beta2": 0.999, "warmup": 0, "steps": 20000,
              "every": 100, "dense_until": 1000, "dense_every": 20},
}
