"""What grokscan needs of a task: the :class:`Task` protocol, and the data it hands over.

A task is one module in ``grokscan/tasks/`` with a module-level object that satisfies
:class:`Task`, registered in ``grokscan/tasks/__init__.py``. It makes its examples and split
from a config and a seed, writes them to the ``/task`` group of a checkpoint file and reads them
back from there (so that a file alone rebuilds the run), and says what its data look like to the
rest of grokscan: the model inputs (:class:`Split`), the classes, and, for tasks whose inputs are
residues mod P, the structure the Fourier measures need (:class:`Residues`). Nothing here
imports torch: inputs are numpy arrays, and training turns them into tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np


@dataclass(frozen=True)
class Split:
    """The model inputs and labels of a task's train and test sets (and any extra sets that
    are evaluated at every checkpoint, recorded as ``<name>_loss``, ``<name>_acc``).

    x_*: int64 token ids of shape (n, n_ctx) when ``n_vocab`` > 0, else float32 (n, d_in);
    y_*: int64 class labels of shape (n,).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_vocab: int  # token vocabulary; 0 for float inputs
    p: int  # the tokens 0..p-1 are residues (0: no residues)
    n_classes: int
    extra: dict = field(default_factory=dict)  # name -> (x, y)

    @property
    def d_in(self) -> int:
        """Input features of a float input (0 for tokens)."""
        return 0 if self.n_vocab else int(self.x_train.shape[1])

    @property
    def n_ctx(self) -> int:
        """Tokens per example (1 for a float input)."""
        return int(self.x_train.shape[1]) if self.n_vocab else 1


@dataclass(frozen=True)
class Residues:
    """The residue structure of a task whose inputs are a, b in Z_P (the Fourier measures,
    the embedding geometry and ``grokscan factor`` need it).

    ops: the operations, in token order; groups: the group whose Fourier basis suits each one
    ("additive" Z_P, or "multiplicative" Z_P^* for P prime); phase: for the operations whose
    label is a function of a ± b in their group, (group, sign of b), else absent; grid_rows:
    per operation, (train mask, test mask, labels) over the P² rows of the (a, b) grid, row
    a·P + b; grid_inputs(op, model): the model inputs (P², n_ctx) of those rows.
    """

    p: int
    ops: tuple[str, ...]
    groups: Mapping[str, str]
    phase: Mapping[str, tuple[str, int]]
    grid_rows: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    grid_inputs: Callable[[str, str], np.ndarray]

    @property
    def basis(self) -> str:
        """The basis of the per-residue vectors (``basis_of``)."""
        return basis_of(self.groups.values())


def basis_of(groups) -> str:
    """The Fourier basis of vectors shared by operations of these groups (one embedding for
    all of a multi-task model's): multiplicative when every one is, else additive."""
    groups = set(groups)
    return "multiplicative" if groups == {"multiplicative"} else "additive"


class TaskData(Protocol):
    """A task's examples and split, made from a config or read back from a file."""

    kind: str
    class_label: str  # what a class is, for figure legends ("energy class", "answer c")
    class_names: list[str] | None  # a name per class when there are few (a legend), else None
    residues: Residues | None  # None for a task whose inputs are not residues

    def write(self, group) -> None:
        """Write everything that rebuilds the data and the split to the h5py Group ``group``
        (``/task``), with ``group.attrs["kind"]`` = ``kind``."""

    def split(self, model: str) -> Split:
        """The inputs for a model of kind ``model`` ("mlp" or "transformer")."""

    def summary(self) -> dict:
        """Sizes, JSON-able, for ``grokscan info --json``."""

    def describe(self) -> str:
        """The task in one line, for ``grokscan info`` and the report's header."""


class Task(Protocol):
    """A kind of task: its settings and how to make or read its data."""

    kind: str
    Config: ClassVar[type]  # frozen dataclass of settings fields (grokscan.settings.setting)
    defaults: Mapping[str, Any]  # model and train settings (flat keys) that differ for it

    def make(self, cfg, seed: int) -> TaskData:
        """The examples and the split ``cfg`` describes, drawn from ``seed``."""

    # optional: check(cfg), a GrokscanError for a config that make() would refuse, raised
    # without making the data (grokscan.tasks.check); models, the model kinds its inputs fit
    # (absent: every kind)

    def read(self, group, cfg, where: str) -> TaskData:
        """Rebuild from the ``/task`` h5py Group of a checkpoint file, checked against the
        run's task config ``cfg`` (None when the file has none); FileFormatError naming
        ``where`` and what is wrong, before anything large is read."""


def check_shape(ds, shape: tuple, where: str) -> None:
    """A FileFormatError unless the h5py dataset ``ds`` has ``shape`` (None: any length)."""
    from grokscan.errors import FileFormatError

    if len(ds.shape) != len(shape) or any(s is not None and s != d
                                          for s, d in zip(shape, ds.shape)):
        want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise FileFormatError(f"{where}/{ds.name.rsplit('/', 1)[-1]}: expected shape {want}, "
                              f"found {ds.shape}")


MAX_ELEMENTS = 1 << 28  # the elements one array of a task may hold when read back


def read_array(group, name: str, where: str, *, shape: tuple, dtype_kind: str = "iub",
               limit: int = MAX_ELEMENTS) -> np.ndarray:
    """Dataset ``name`` of ``group`` after checking that it exists, has ``shape`` and an
    integer (or bool) dtype of kind in ``dtype_kind``, and holds at most ``limit`` elements."""
    from grokscan.errors import FileFormatError

    if name not in group:
        raise FileFormatError(f"{where}: missing dataset {name}")
    ds = group[name]
    if not hasattr(ds, "shape"):
        raise FileFormatError(f"{where}/{name}: expected a dataset, found a group")
    check_shape(ds, shape, where)
    if ds.dtype.kind not in dtype_kind:
        raise FileFormatError(f"{where}/{name}: expected dtype kind {dtype_kind!r}, "
                              f"found {ds.dtype}")
    if ds.size > limit:
        raise FileFormatError(f"{where}/{name}: {ds.size} elements, more than the {limit} "
                              "a task can hold")
    return ds[()]
