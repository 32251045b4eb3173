"""Configuration: frozen dataclasses with a default and a help text per field.

A RunConfig is a task's settings (the task's own ``Config``, grokscan/tasks/), a ModelConfig and
a TrainConfig. It round-trips through JSON into the checkpoint file's root attributes, so every
file describes the task, the model and the optimizer that made it. Every field declared with
:func:`grokscan.settings.setting` is also a `grokscan train` option and a key of a ``--config``
TOML file (grokscan/settings.py gives the spelling rule).

Internal: not part of the public API, which ``grokscan`` exports (grokscan/__init__.py).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from grokscan import tasks
from grokscan.errors import GrokscanError
from grokscan.settings import Settings, build, coerce, key, options, setting
from grokscan.tasks.modular import ModularConfig


@dataclass(frozen=True)
class ModelConfig(Settings):
    section = "model"
    kind: str = setting("mlp", "mlp, or transformer (Nanda et al.: [a, b, =], no LayerNorm)",
                        flag="model", choices=("mlp", "transformer"))
    input: str = setting("concat", "MLP input: a shared embedding, concatenated or summed, or "
                         "one-hot (2P inputs)", choices=("concat", "sum", "onehot"))
    d_embed: int = setting(128, "embedding size; d_model of the transformer", range="[1, 16384]")
    width: int = setting(512, "hidden units per layer; d_mlp of the transformer",
                         range="[1, 65536]")
    depth: int = setting(1, "hidden layers; transformer blocks", range="[1, 64]")
    n_heads: int = setting(4, "transformer attention heads", range="[1, 256]")
    pos_embed: bool = setting(True, "transformer positional embedding (Furuta et al. drop it)")
    activation: str = setting("relu", "relu, gelu, square, quad (x + a·x²), abscube, cube, "
                              "signsquare, relu3 (ReLU + γ·a·|x|³, trainable)",
                              choices=("relu", "gelu", "square", "quad", "abscube", "cube",
                                       "signsquare", "relu3"))
    act_a: float = setting(0.1, "a of quad; γ of relu3")
    dropout: float = setting(0.0, "dropout after each hidden layer", range="[0, 1)")
    bias: bool = setting(True, "biases on the hidden layers")
    attn_bias: bool = setting(False, "transformer: the biases b_Q, b_K, b_V, b_O of attention "
                              "and b_U of the logits, as a TransformerLens HookedTransformer "
                              "has them (Nanda's model has none)")
    # bounded: far above any useful value, and below where torch's float32 initialisation
    # and update overflow (an error inside torch, not a diverged run)
    init_scale: float = setting(1.0, "multiply every initial weight (the Ising paper: 7)",
                                range="(0, 1000]")
    d_in: int = setting(0, "input size of a float input (from the data)", cli=False, range="[0, )")
    n_classes: int = setting(0, "output classes (from the task)", cli=False, range="[0, )")


@dataclass(frozen=True)
class TrainConfig(Settings):
    section = "train"
    optimizer: str = setting("adamw", "adamw (decoupled weight decay) or adam (weight decay "
                             "as an L2 term in the gradient, torch.optim.Adam)",
                             choices=("adamw", "adam"))
    lr: float = setting(1e-2, "learning rate", range="(0, 1000]")
    wd: float = setting(1.0, "weight decay", range="[0, )")
    beta1: float = setting(0.9, "Adam β1", range="[0, 1)")
    beta2: float = setting(0.98, "Adam β2", range="[0, 1)")
    warmup: int = setting(10, "linear learning-rate warm-up steps", range="[0, )")
    batch_size: int = setting(0, "examples per step; 0 = full batch", range="[0, )")
    beta: float = setting(1.0, "softmax inverse temperature: the loss sees β·logits", range="(0, )")
    loss: str = setting("cross_entropy", "cross_entropy of β·logits, or mse of the logits "
                        "against one-hot targets (Omnigrok's MNIST recipe)",
                        choices=("cross_entropy", "mse"))
    steps: int = setting(2000, "optimizer steps", range="[0, 1000000000]")
    every: int = setting(20, "a checkpoint every N steps", range="[1, )")
    dense_until: int = setting(0, "before this step, a checkpoint every --dense-every steps "
                               "(0: off)", range="[0, )")
    dense_every: int = setting(1, "the checkpoint interval before --dense-until and after "
                               "memorisation (--dense-memorised)", range="[1, )")
    dense_memorised: int = setting(0, "for this many steps after train accuracy first reaches "
                                   "0.99 (where grokking starts), a checkpoint every "
                                   "--dense-every steps (0: off)", range="[0, )")
    onset: bool = setting(True, "run the in-loop onset detector: training-side signals at "
                          "every step and its flag, written to the file (/onset)")
    seed: int = setting(0, "seed of the split, the initialisation and any sampling",
                        range="[0, 4294967295]")
    device: str = setting("cpu", "torch device (cpu, cuda, cuda:1, mps)")
    stop_when_grokked: int = setting(0, "stop N steps after test accuracy has stayed ≥ 0.99 "
                                     "(0: off)", range="[0, )")
    grads: bool = setting(True, "record the full-batch training gradient at each checkpoint")


# Keys of the task section in files written before each task had its own settings: every file
# then held every one of them. A task that does not have one ignores it when reading.
_LEGACY_TASK_KEYS = ("ops", "p", "frac", "exclude_zero", "data", "eval_inverted", "ising_test")


@dataclass(frozen=True)
class RunConfig:
    task: Settings = field(default_factory=ModularConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def flat(self) -> dict:
        """The flat keys of ``grokscan train`` that make this configuration again
        (``grokscan.config.from_flat`` of them equals it): the task's kind, the model's and every
        option's value."""
        kind = getattr(self.task, "kind", "modular")
        out = {"task": kind, "model": self.model.kind}
        for k, (section, f) in sections(kind).items():
            out[k] = getattr(getattr(self, section), f.name)
        return out

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            d = json.loads(text)
        except (TypeError, ValueError) as e:
            raise GrokscanError(f"the config is not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise GrokscanError(f"the config is not a JSON object: {text[:60]!r}")
        return cls.from_dict(d)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        sections = {k: d.get(k, {}) for k in ("task", "model", "train")}
        bad = [k for k, v in sections.items() if not isinstance(v, dict)]
        if bad:
            raise GrokscanError(f"config section {bad[0]!r} is not an object")
        task = dict(sections["task"])
        kind = task.get("kind", "modular")
        Config = tasks.get(kind).Config
        own = {f.name for f in dataclasses.fields(Config)}
        if task.get("ising_test", "random") != "random":  # grokscan 0.1.0, before Ising training
            raise GrokscanError(f"task.ising_test = {task['ising_test']!r} is not supported")
        task = {k: v for k, v in task.items() if k in own or k not in _LEGACY_TASK_KEYS}
        return cls(task=build(Config, task), model=build(ModelConfig, sections["model"]),
                   train=build(TrainConfig, sections["train"]))


def sections(kind: str) -> dict[str, tuple[str, dataclasses.Field]]:
    """{option key: (section, field)} of the options of a run of task ``kind``."""
    out = {}
    for section, cls in (("task", tasks.get(kind).Config), ("model", ModelConfig),
                         ("train", TrainConfig)):
        out.update({k: (section, f) for k, f in options(cls).items()})
    return out


def from_flat(values: dict, also: tuple[str, ...] = ()) -> RunConfig:
    """Build a RunConfig from flat keys as the CLI and TOML files name them (``task``: the task
    kind, ``model``: the model kind, ``op``: the operations, every other key an option; see
    grokscan/settings.py for the spelling). Unknown keys are a GrokscanError that lists the
    valid ones, with ``also``: keys that the caller takes out before (a command's own)."""
    values = {key(k): v for k, v in values.items()}
    kind = values.get("task", "modular")
    index = sections(kind)
    parts: dict[str, dict] = {"task": {}, "model": {}, "train": {}}
    unknown = sorted(set(values) - set(index))
    if unknown:
        valid = ", ".join(sorted(k.replace("_", "-") for k in (*index, *also)))
        raise GrokscanError(f"unknown key(s) {', '.join(u.replace('_', '-') for u in unknown)} "
                            f"for the {kind} task; expected one of {valid}")
    for k, value in values.items():
        section, f = index[k]
        parts[section][f.name] = value
    return RunConfig.from_dict(parts)


def resolve(values: dict, also: tuple[str, ...] = ()) -> RunConfig:
    """A RunConfig from flat keys (options, a TOML file's keys), over the defaults of the
    chosen task (its ``defaults``: the Ising paper's network, say), over the global ones."""
    values = {key(k): v for k, v in values.items()}
    kind = values.get("task", "modular")
    return from_flat({**tasks.get(kind).defaults, **values}, also)


RESUMABLE = ("steps", "stop_when_grokked")  # what a --resume may change: how long it goes on


def check_resume(saved: RunConfig, given: dict, path: str) -> None:
    """Refuse a setting in ``given`` (flat keys, as options and --config files name them) that
    contradicts the configuration ``saved`` of the run in ``path``: a resume continues that
    run, so only RESUMABLE may differ; a GrokscanError naming the key, both values. A key
    given twice (``d-embed`` in the file, ``--d-embed``) is checked as :func:`resolve` takes
    it: the last value."""
    index = sections(saved.task.kind)
    for k, value in {key(k): v for k, v in given.items()}.items():
        if k in RESUMABLE:
            continue
        name = k.replace("_", "-")
        if k not in index:
            raise GrokscanError(f"{path}: {name} is not a setting of its {saved.task.kind} run; "
                                "--resume continues the run as it was configured")
        section, f = index[k]
        stored = getattr(getattr(saved, section), f.name)
        new = coerce(f, value, name)
        if new != stored:
            raise GrokscanError(f"{path}: {name} is {_shown(stored)} in the run, {_shown(new)} "
                                "given; --resume continues the run as it was configured "
                                "(only --steps and --stop-when-grokked may change)")


def _shown(value) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)
