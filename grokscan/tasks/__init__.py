"""Tasks: the registry. Each entry satisfies :class:`grokscan.tasks.base.Task`; a new task is
one module here and one line below (see base.py for what a task provides)."""

from __future__ import annotations

import importlib

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.tasks.base import Residues, Split, Task, TaskData

# The task modules (grokscan/tasks/<name>.py or <name>/), each with a module-level TASK.
MODULES = ("modular", "ising", "parity", "digits", "custom")
TASKS: dict[str, Task] = {m: importlib.import_module(f"grokscan.tasks.{m}").TASK for m in MODULES}
TRAINABLE = tuple(k for k, t in TASKS.items() if t.Config is not None)


def get(kind: str) -> Task:
    """The task of that kind; a GrokscanError listing the kinds otherwise."""
    if kind not in TASKS or TASKS[kind].Config is None:
        raise GrokscanError(f"unknown task {kind!r}; expected one of: {', '.join(TRAINABLE)}")
    return TASKS[kind]


def check(cfg, model: str | None = None) -> None:
    """Raise GrokscanError for a task config that cannot be built, where its task can tell
    before making any data (its optional ``check``), or that does not fit a model of kind
    ``model`` (its optional ``models``): a sweep checks every point so."""
    task = get(cfg.kind)
    own = getattr(task, "check", None)
    if own is not None:
        own(cfg)
    kinds = getattr(task, "models", None)
    if model is not None and kinds is not None and model not in kinds:
        raise GrokscanError(f"the {cfg.kind} task takes {' or '.join(kinds)} models, not a "
                            f"{model}; use --model {kinds[0]}")


def read(group, cfg, where: str) -> TaskData:
    """The task in the ``/task`` group of a checkpoint file, read and checked by its kind."""
    kind = group.attrs.get("kind")
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "none":
        kind = "custom"
    if kind not in TASKS:
        raise FileFormatError(f"{where}: unknown task kind {kind!r}; this grokscan reads "
                              f"{', '.join(TASKS)}")
    if cfg is not None and getattr(cfg, "kind", kind) != kind and kind != "custom":
        raise FileFormatError(f"{where} holds a {kind} task, but the run's config says "
                              f"{cfg.kind}")
    return TASKS[kind].read(group, cfg if kind != "custom" else None, where)


__all__ = ["TASKS", "TRAINABLE", "Residues", "Split", "Task", "TaskData", "check", "get",
           "read"]
