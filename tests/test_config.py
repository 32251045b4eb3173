"""grokscan.config and grokscan.settings: the JSON round trip, the flat (CLI / TOML) keys, the
task defaults, validation at construction, and files of an older layout."""

import dataclasses
import json

import pytest

from grokscan import tasks
from grokscan.config import ModelConfig, RunConfig, TrainConfig, from_flat, resolve, sections
from grokscan.errors import GrokscanError
from grokscan.tasks.ising.task import IsingConfig
from grokscan.tasks.modular import ModularConfig

# --- the JSON round trip -------------------------------------------------------------------------
CONFIGS = {
    "modular": RunConfig(
        ModularConfig(ops=("add", "x2+xy+y2"), p=31, frac=0.45, exclude_zero=True),
        ModelConfig(kind="mlp", input="sum", d_embed=24, width=96, depth=2, activation="gelu",
                    dropout=0.1, bias=False, init_scale=0.5, n_classes=31),
        TrainConfig(optimizer="adam", lr=3e-3, wd=0.25, beta1=0.8, beta2=0.95, warmup=5,
                    batch_size=64, beta=2.0, steps=777, every=7, dense_until=50,
                    dense_every=2, seed=12345, stop_when_grokked=30, grads=False),
    ),
    "ising": RunConfig(
        IsingConfig(data="somewhere/lattices.h5", eval_inverted=True),
        ModelConfig(depth=4, width=48, bias=False, init_scale=7.0, d_in=64, n_classes=5),
        TrainConfig(optimizer="adam", lr=5e-4, wd=5e-4, beta2=0.999, warmup=0, steps=200,
                    every=10, dense_until=100, dense_every=5),
    ),
}


def test_the_round_trip_cases_are_trainable_tasks():
    assert set(CONFIGS) <= set(tasks.TRAINABLE)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_json_round_trip(kind):
    cfg = CONFIGS[kind]
    text = cfg.to_json()
    d = json.loads(text)
    assert set(d) == {"task", "model", "train"}
    assert d["task"]["kind"] == kind
    back = RunConfig.from_json(text)
    assert back == cfg
    assert type(back.task) is type(cfg.task)
    assert back.to_json() == text


def test_json_round_trip_keeps_the_values():
    d = json.loads(CONFIGS["modular"].to_json())
    assert d["task"] == {"kind": "modular", "ops": ["add", "x2+xy+y2"], "p": 31, "frac": 0.45,
                         "exclude_zero": True}
    assert d["model"]["input"] == "sum" and d["model"]["init_scale"] == 0.5
    assert d["train"]["seed"] == 12345 and d["train"]["grads"] is False
    back = RunConfig.from_json(CONFIGS["modular"].to_json())
    assert back.task.ops == ("add", "x2+xy+y2")  # a tuple again, not a list
    assert json.loads(CONFIGS["ising"].to_json())["task"] == {
        "kind": "ising", "data": "somewhere/lattices.h5", "eval_inverted": True}


def test_default_config_round_trip():
    assert RunConfig.from_json(RunConfig().to_json()) == RunConfig()
    assert RunConfig.from_json("{}") == RunConfig()  # every section defaults


@pytest.mark.parametrize("text", ["", "not json", "{\"task\": ", "[1, 2]", "3", "null"])
def test_from_json_refuses_what_is_not_a_json_object(text):
    with pytest.raises(GrokscanError, match="config"):
        RunConfig.from_json(text)


def test_a_section_that_is_not_an_object_is_refused():
    with pytest.raises(GrokscanError, match="'model' is not an object"):
        RunConfig.from_dict({"model": [1, 2]})


# --- flat keys -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["d-embed", "d_embed", "--d-embed", "--d_embed"])
def test_from_flat_spellings_of_one_key(name):
    cfg = from_flat({name: 8})
    assert cfg.model.d_embed == 8
    assert cfg == dataclasses.replace(RunConfig(),
                                      model=dataclasses.replace(ModelConfig(), d_embed=8))


def test_from_flat_multiword_keys():
    cfg = from_flat({"init-scale": 3, "dense_until": 40, "stop-when-grokked": 5, "batch_size": 16,
                     "exclude-zero": True, "op": "mul"})
    assert cfg.model.init_scale == 3.0
    assert cfg.train.dense_until == 40 and cfg.train.stop_when_grokked == 5
    assert cfg.train.batch_size == 16
    assert cfg.task.exclude_zero is True and cfg.task.ops == ("mul",)


@pytest.mark.parametrize("op", ["add,sub", "add, sub", " add ,sub,", ["add", "sub"],
                                ("add", "sub")])
def test_from_flat_op_as_a_string_or_a_list(op):
    assert from_flat({"op": op}).task.ops == ("add", "sub")


def test_from_flat_sends_each_key_to_its_section():
    cfg = from_flat({"p": 13, "frac": 0.4, "width": 64, "depth": 3, "lr": 0.5, "seed": 9,
                     "grads": False})
    assert (cfg.task.p, cfg.task.frac) == (13, 0.4)
    assert (cfg.model.width, cfg.model.depth) == (64, 3)
    assert (cfg.train.lr, cfg.train.seed, cfg.train.grads) == (0.5, 9, False)


def test_from_flat_task_and_model_kinds():
    cfg = from_flat({"task": "ising", "model": "mlp", "eval-inverted": True, "data": "x.h5"})
    assert isinstance(cfg.task, IsingConfig)
    assert cfg.task == IsingConfig(data="x.h5", eval_inverted=True)
    assert cfg.model.kind == "mlp"
    cfg = from_flat({"task": "modular", "model": "transformer", "n-heads": 2})
    assert isinstance(cfg.task, ModularConfig)
    assert cfg.model.kind == "transformer" and cfg.model.n_heads == 2
    assert from_flat({}).task == ModularConfig()


def test_from_flat_unknown_key_lists_the_valid_ones():
    with pytest.raises(GrokscanError) as e:
        from_flat({"d-embedding": 8, "lr": 0.1})
    msg = str(e.value)
    assert "d-embedding" in msg and "modular" in msg  # spelled as in a TOML file
    listed = msg.split("expected one of ", 1)[1].split(", ")
    for k in ("d-embed", "width", "lr", "wd", "op", "p", "frac", "task", "model", "seed",
              "init-scale", "stop-when-grokked", "grads"):
        assert k in listed, k
    # the fields grokscan fills in are not options
    assert "n-classes" not in listed and "d-in" not in listed and "ops" not in listed
    assert listed == sorted(listed)


def test_from_flat_keys_of_the_other_task_are_unknown():
    with pytest.raises(GrokscanError) as e:
        from_flat({"task": "ising", "op": "add"})
    msg = str(e.value)
    assert "op" in msg and "ising" in msg
    listed = msg.split("expected one of ", 1)[1].split(", ")
    assert "eval-inverted" in listed and "data" in listed and "p" not in listed
    with pytest.raises(GrokscanError, match="eval-inverted"):
        from_flat({"eval-inverted": True})  # a modular task by default


@pytest.mark.parametrize("name", ["n_classes", "d_in", "ops", "kind"])
def test_fields_that_are_not_options_are_refused_as_flat_keys(name):
    with pytest.raises(GrokscanError, match="unknown key"):
        from_flat({name: 3})


def test_an_unknown_task_kind_is_refused():
    with pytest.raises(GrokscanError, match="unknown task 'no-such-task'") as e:
        from_flat({"task": "no-such-task"})
    assert "modular" in str(e.value) and "ising" in str(e.value)


def test_sections_of_each_task():
    mod, ising = sections("modular"), sections("ising")
    assert mod["op"][0] == "task" and mod["op"][1].name == "ops"
    assert mod["d_embed"][0] == "model" and mod["lr"][0] == "train"
    assert mod["model"][1].name == "kind" and mod["task"][1].name == "kind"
    assert ising["eval_inverted"][0] == "task" and "op" not in ising and "p" not in ising


# --- resolve: the task's defaults under explicit values ----------------------------------------
# The Ising paper's network and recipe, as grokscan/tasks/ising/task.py states them.
ISING_DEFAULTS = {"depth": 4, "width": 48, "bias": False, "init_scale": 7.0, "optimizer": "adam",
                  "lr": 5e-4, "wd": 5e-4, "beta2": 0.999, "warmup": 0, "steps": 20000,
                  "every": 100, "dense_until": 1000, "dense_every": 20}


def _flat_value(cfg: RunConfig, key: str):
    section, f = sections(cfg.task.kind)[key]
    return getattr(getattr(cfg, section), f.name)


def test_the_ising_defaults_are_the_documented_ones():
    assert dict(tasks.get("ising").defaults) == ISING_DEFAULTS
    assert dict(tasks.get("modular").defaults) == {}


def test_resolve_applies_the_ising_defaults():
    cfg = resolve({"task": "ising"})
    assert isinstance(cfg.task, IsingConfig)
    for k, v in ISING_DEFAULTS.items():
        assert _flat_value(cfg, k) == v, k
    # what the task does not set keeps the global default
    assert cfg.train.beta1 == 0.9 and cfg.train.seed == 0 and cfg.model.activation == "relu"
    assert cfg.train.batch_size == 0


def test_an_explicit_value_wins_over_a_task_default():
    cfg = resolve({"task": "ising", "width": 32, "lr": 1e-3, "bias": True, "init-scale": 2,
                   "--steps": 50, "seed": 4})
    assert cfg.model.width == 32 and cfg.train.lr == 1e-3 and cfg.model.bias is True
    assert cfg.model.init_scale == 2.0 and cfg.train.steps == 50 and cfg.train.seed == 4
    # the rest of the task's defaults still apply
    assert cfg.model.depth == 4 and cfg.train.optimizer == "adam" and cfg.train.beta2 == 0.999
    assert cfg.train.every == 100 and cfg.train.warmup == 0


def test_resolve_of_the_modular_task_is_the_global_defaults():
    assert resolve({}) == RunConfig()
    assert resolve({"task": "modular"}) == RunConfig()
    assert resolve({"width": 7}).model.width == 7
    assert resolve({"width": 7}).model.depth == 1  # not the Ising depth


# --- validation at construction ------------------------------------------------------------------
@pytest.mark.parametrize("cls,name,value,where,range_text", [
    (TrainConfig, "lr", 0, "train.lr", "a number in (0, 1000]"),
    (TrainConfig, "lr", -1e-3, "train.lr", "a number in (0, 1000]"),
    (ModelConfig, "dropout", 1.0, "model.dropout", "a number in [0, 1)"),
    (ModelConfig, "dropout", -0.1, "model.dropout", "a number in [0, 1)"),
    (TrainConfig, "beta1", 1.0, "train.beta1", "a number in [0, 1)"),
    (TrainConfig, "beta2", 1.5, "train.beta2", "a number in [0, 1)"),
    (TrainConfig, "steps", -1, "train.steps", "an integer in [0, "),
    (TrainConfig, "every", 0, "train.every", "an integer ≥ 1"),
    (TrainConfig, "wd", -0.5, "train.wd", "a number ≥ 0"),
    (TrainConfig, "beta", 0.0, "train.beta", "a number > 0"),
    (ModularConfig, "p", 1, "task.p", "an integer in [2, 4096]"),
    (ModularConfig, "p", 4097, "task.p", "an integer in [2, 4096]"),
    (ModularConfig, "frac", 1.0, "task.frac", "a number in (0, 1)"),
    (ModularConfig, "frac", 0.0, "task.frac", "a number in (0, 1)"),
    (ModelConfig, "init_scale", 0.0, "model.init_scale", "a number in (0, 1000]"),
    (ModelConfig, "width", 0, "model.width", "an integer in [1, 65536]"),
    (ModelConfig, "depth", 65, "model.depth", "an integer in [1, 64]"),
])
def test_out_of_range_values_are_refused(cls, name, value, where, range_text):
    with pytest.raises(GrokscanError) as e:
        cls(**{name: value})
    msg = str(e.value)
    assert msg.startswith(where + ":"), msg
    assert range_text in msg, msg


@pytest.mark.parametrize("cls,kw", [
    (TrainConfig, {"lr": 1e-12}), (TrainConfig, {"wd": 0}), (TrainConfig, {"beta1": 0.0}),
    (TrainConfig, {"beta2": 0.999999}), (TrainConfig, {"steps": 0}),
    (TrainConfig, {"steps": 10**9}), (TrainConfig, {"every": 1}),
    (ModelConfig, {"dropout": 0.0}), (ModelConfig, {"dropout": 0.999}),
    (ModularConfig, {"p": 2}), (ModularConfig, {"p": 4096}), (ModularConfig, {"frac": 1e-9}),
])
def test_values_at_the_edges_of_a_range(cls, kw):
    obj = cls(**kw)
    for k, v in kw.items():
        assert getattr(obj, k) == v


def test_a_value_outside_the_choices_lists_them():
    with pytest.raises(GrokscanError) as e:
        ModelConfig(activation="tanh")
    msg = str(e.value)
    assert msg.startswith("model.activation:") and "'tanh'" in msg
    assert "relu" in msg and "gelu" in msg
    with pytest.raises(GrokscanError, match="train.optimizer: expected one of adamw, adam"):
        TrainConfig(optimizer="sgd")


@pytest.mark.parametrize("cls,kw,where,what", [
    (ModelConfig, {"d_embed": "8"}, "model.d_embed", "an integer"),
    (TrainConfig, {"steps": 2.5}, "train.steps", "an integer"),
    (TrainConfig, {"steps": True}, "train.steps", "an integer"),
    (TrainConfig, {"lr": "0.1"}, "train.lr", "a number"),
    (TrainConfig, {"lr": float("nan")}, "train.lr", "a finite number"),
    (TrainConfig, {"wd": float("inf")}, "train.wd", "a finite number"),
    (TrainConfig, {"lr": None}, "train.lr", "expected a value"),
    (ModelConfig, {"bias": "yes"}, "model.bias", "true or false"),
    (ModelConfig, {"bias": 1}, "model.bias", "true or false"),
    (TrainConfig, {"device": 0}, "train.device", "a string"),
    (ModularConfig, {"ops": 3}, "task.ops", "names separated by commas"),
    (ModularConfig, {"ops": ["add", 2]}, "task.ops", "names separated by commas"),
])
def test_a_wrong_type_is_refused(cls, kw, where, what):
    with pytest.raises(GrokscanError) as e:
        cls(**kw)
    msg = str(e.value)
    assert msg.startswith(where + ":") and what in msg, msg


def test_an_int_for_a_float_field_becomes_a_float():
    t = TrainConfig(lr=1, wd=0, beta=2)
    assert type(t.lr) is float and t.lr == 1.0
    assert type(t.wd) is float and type(t.beta) is float
    m = ModelConfig(dropout=0, init_scale=7)
    assert type(m.dropout) is float and type(m.init_scale) is float and m.init_scale == 7.0
    assert type(ModularConfig(frac=0.5).frac) is float


def test_a_float_for_an_int_field_is_refused_even_when_integral():
    # as on the command line (--steps 30.0 is not an integer): no value changes its type
    with pytest.raises(GrokscanError, match=r"^train\.steps: expected an integer, got 30\.0$"):
        TrainConfig(steps=30.0)
    assert type(TrainConfig(steps=30).steps) is int


def test_ops_given_as_a_string_or_a_list_become_a_tuple():
    assert ModularConfig(ops="add,mul").ops == ("add", "mul")
    assert ModularConfig(ops=["div"]).ops == ("div",)


def test_values_read_from_a_file_are_validated_too():
    with pytest.raises(GrokscanError, match=r"^train\.lr: expected a number in \(0, 1000\]"):
        RunConfig.from_dict({"train": {"lr": 0}})
    with pytest.raises(GrokscanError, match=r"^task\.p: "):
        RunConfig.from_json(json.dumps({"task": {"kind": "modular", "p": 1}}))
    with pytest.raises(GrokscanError, match=r"^model\.width: expected an integer"):
        from_flat({"width": "wide"})
    with pytest.raises(GrokscanError, match="unknown model setting"):
        RunConfig.from_dict({"model": {"widht": 3}})


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 0.5


# --- files of an older layout --------------------------------------------------------------------
def test_an_ising_config_with_the_modular_keys_loads():
    d = {"task": {"kind": "ising", "ops": ["add"], "p": 97, "frac": 0.3, "exclude_zero": False,
                  "data": "d.h5", "eval_inverted": True, "ising_test": "random"}}
    cfg = RunConfig.from_dict(d)
    assert cfg.task == IsingConfig(data="d.h5", eval_inverted=True)
    assert RunConfig.from_json(json.dumps(d)) == cfg


def test_a_modular_config_with_the_ising_keys_loads():
    d = {"task": {"kind": "modular", "ops": ["sub"], "p": 13, "frac": 0.6, "data": None,
                  "eval_inverted": False, "ising_test": "random"}}
    cfg = RunConfig.from_dict(d)
    assert cfg.task == ModularConfig(ops=("sub",), p=13, frac=0.6)


def test_a_task_section_without_a_kind_is_modular():
    cfg = RunConfig.from_dict({"task": {"p": 11, "ops": ["add"], "data": None}})
    assert cfg.task == ModularConfig(p=11)


def test_an_unsupported_legacy_ising_test_is_refused():
    with pytest.raises(GrokscanError, match="ising_test"):
        RunConfig.from_dict({"task": {"kind": "modular", "ising_test": "exhaustive"}})


@pytest.mark.parametrize("kind,valid", [("modular", "exclude_zero"), ("ising", "eval_inverted")])
def test_a_truly_unknown_task_key_is_refused(kind, valid):
    with pytest.raises(GrokscanError) as e:
        RunConfig.from_dict({"task": {"kind": kind, "temperature": 2.0}})
    msg = str(e.value)
    assert "temperature" in msg and valid in msg


def test_a_legacy_key_does_not_override_the_task_own_field():
    # a modular task keeps its own p and frac: only keys the task lacks are dropped
    with pytest.raises(GrokscanError, match=r"^task\.p: "):
        RunConfig.from_dict({"task": {"kind": "modular", "p": 1, "data": None}})
