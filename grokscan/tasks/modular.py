"""Modular arithmetic (Power et al. 2022, arXiv:2201.02177; the operations of Furuta et al.,
arXiv:2402.16726 §3): the operation registry, the examples, the split, and the task.

An example is a triple (a, op, b) with label q = op(a, b) mod P. Operation names use x for a and
y for b: ``x2+xy+y2`` is a² + ab + b². ``grokscan ops`` lists them all. Division and, on Z_P^*,
multiplication need P prime (a field; a cyclic group of order P − 1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.groups import is_prime
from grokscan.settings import Settings, setting
from grokscan.tasks.base import Residues, Split, read_array


def _pow(x: np.ndarray, n: int, p: int) -> np.ndarray:
    """x**n mod p elementwise, reducing after each product so that int64 never overflows."""
    out = np.ones_like(x)
    base = x % p
    while n:
        if n & 1:
            out = out * base % p
        base = base * base % p
        n >>= 1
    return out


@dataclass(frozen=True)
class Operation:
    name: str
    fn: Callable[[np.ndarray, np.ndarray, int], np.ndarray]  # (a, b, p) -> unreduced result
    category: str  # elementary, linear, univariate, cross, powers, factorisable
    group: str = "additive"  # the group whose Fourier basis suits it: additive, multiplicative
    needs_prime: bool = False  # defined only for prime P (division needs a field)
    b_nonzero: bool = False  # b = 0 is excluded (division)
    b_sign: int = 0  # ±1 when the label is a ∘ b^(±1) in ``group`` (add, sub, mul, div), else 0


OPS: dict[str, Operation] = {}


def _op(name, fn, category, **kw):
    OPS[name] = Operation(name, fn, category, **kw)


_op("add", lambda a, b, p: a + b, "elementary", b_sign=1)
_op("sub", lambda a, b, p: a - b, "elementary", b_sign=-1)
_op("mul", lambda a, b, p: a * b, "elementary", group="multiplicative", b_sign=1)
_op("div", lambda a, b, p: a * _pow(b, p - 2, p), "elementary", group="multiplicative",
    needs_prime=True, b_nonzero=True, b_sign=-1)
for _s, _sign in (("+", 1), ("-", -1)):
    _op(f"2x{_s}y", lambda a, b, p, s=_sign: 2 * a + s * b, "linear")
    _op(f"2x{_s}3y", lambda a, b, p, s=_sign: 2 * a + s * 3 * b, "linear")
    _op(f"xy{_s}y", lambda a, b, p, s=_sign: a * b + s * b, "linear")
    _op(f"x2{_s}y", lambda a, b, p, s=_sign: a * a + s * b, "univariate")
    _op(f"x3{_s}2y", lambda a, b, p, s=_sign: _pow(a, 3, p) + s * 2 * b, "univariate")
_op("xy+x+y", lambda a, b, p: a * b + a + b, "linear")
_op("x2+xy+y2", lambda a, b, p: a * a + a * b + b * b, "cross")
_op("x2+xy+y2+x", lambda a, b, p: a * a + a * b + b * b + a, "cross")
_op("x3+xy", lambda a, b, p: _pow(a, 3, p) + a * b, "cross")
_op("x3+xy2+y", lambda a, b, p: _pow(a, 3, p) + a * (b * b % p) + b, "cross")
for _n in range(2, 8):
    _op(f"x{_n}+y{_n}", lambda a, b, p, n=_n: _pow(a, n, p) + _pow(b, n, p), "powers")
    _op(f"(x+y){_n}", lambda a, b, p, n=_n: _pow(a + b, n, p), "factorisable")
    _op(f"(x-y){_n}", lambda a, b, p, n=_n: _pow(a - b, n, p), "factorisable")
_op("x2-y2", lambda a, b, p: a * a - b * b, "powers")
_op("(x+y)2+x+y", lambda a, b, p: _pow(a + b, 2, p) + a + b, "factorisable")


def apply(op: str, a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """The labels op(a, b) mod p for integer arrays a and b."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    return OPS[op].fn(a, b, p) % p


ENCODINGS = ("tokens", "tokens+eq", "onehot")  # how a model takes (a, b): ModularData.inputs


@dataclass(frozen=True)
class ModularConfig(Settings):
    section = "task"
    kind: str = setting("modular", "the task", flag="task")
    ops: tuple = setting(("add",), "an operation, or several comma-separated for one "
                         "multi-task model (grokscan ops lists them)", flag="op")
    p: int = setting(97, "the modulus P", range="[2, 4096]")
    frac: float = setting(0.3, "train fraction of the (a, b) pairs of each operation",
                          range="(0, 1)")
    exclude_zero: bool = setting(False, "operands from Z_P^* = 1..P-1 (for mul and div; "
                                 "needs P prime)")


def validate(cfg: ModularConfig) -> None:
    """Raise GrokscanError for a task that cannot be built, with what was expected."""
    unknown = [o for o in cfg.ops if o not in OPS]
    if unknown:
        raise GrokscanError(
            f"unknown operation {unknown[0]!r}; expected one of: {', '.join(OPS)}"
        )
    if not cfg.ops:
        raise GrokscanError("expected at least one operation, got none")
    if len(set(cfg.ops)) != len(cfg.ops):
        raise GrokscanError(f"operations repeat in {','.join(cfg.ops)}")
    for name in cfg.ops:
        op = OPS[name]
        if (op.needs_prime or (cfg.exclude_zero and op.group == "multiplicative")) and not (
            is_prime(cfg.p)
        ):
            why = "division needs a field" if op.needs_prime else "Z_P^* is a cyclic group"
            raise GrokscanError(
                f"operation {name!r} needs a prime modulus ({why}), got P = {cfg.p}"
            )


def _lowest(cfg: ModularConfig, op: str) -> tuple[int, int]:
    """The smallest a and b of operation ``op``'s pairs (1 where 0 is left out)."""
    lo_a = 1 if cfg.exclude_zero else 0
    return lo_a, 1 if (cfg.exclude_zero or OPS[op].b_nonzero) else 0


def operands(cfg: ModularConfig, op: str) -> tuple[np.ndarray, np.ndarray]:
    """Every (a, b) pair of operation ``op``, a-major: a and b of shape (n,)."""
    lo_a, lo_b = _lowest(cfg, op)
    a, b = np.meshgrid(np.arange(lo_a, cfg.p), np.arange(lo_b, cfg.p), indexing="ij")
    return a.ravel(), b.ravel()


def check(cfg: ModularConfig) -> None:
    """Raise GrokscanError for a task that cannot be built (``validate``, and a split
    that leaves fewer train examples than classes, or no test example), before any data are
    made: a sweep checks every point so."""
    validate(cfg)
    for name in cfg.ops:
        lo_a, lo_b = _lowest(cfg, name)
        n = (cfg.p - lo_a) * (cfg.p - lo_b)
        n_train = int(round(cfg.frac * n))
        if n_train < cfg.p:
            raise GrokscanError(
                f"the train split of {name!r} would hold {n_train} examples, fewer than the "
                f"{cfg.p} classes; raise --frac (got {cfg.frac}) or P"
            )
        if n_train >= n:
            raise GrokscanError(
                f"the test split of {name!r} would be empty ({n} pairs, --frac {cfg.frac})"
            )


def make_data(cfg: ModularConfig, seed: int) -> ModularData:
    """All (a, op, b) examples and a split drawn from ``seed``, separately per operation so that
    every operation gets the fraction ``cfg.frac`` of its pairs for training."""
    check(cfg)
    p = cfg.p
    rng = np.random.default_rng(seed)
    rows, labels, train = [], [], []
    for i, name in enumerate(cfg.ops):
        a, b = operands(cfg, name)
        n = a.size
        n_train = int(round(cfg.frac * n))
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[:n_train]] = True
        rows.append(np.stack([a, np.full(n, i), b], axis=1))
        labels.append(apply(name, a, b, p))
        train.append(mask)
    return ModularData(p, tuple(cfg.ops), np.concatenate(rows), np.concatenate(labels),
                       np.concatenate(train), cfg.frac)


@dataclass(frozen=True)
class ModularData:
    """The full example table of a modular task and its split (a :class:`~grokscan.tasks.TaskData`).

    examples: int64 array of shape (n, 3), rows (a, op_index, b); labels: shape (n,);
    train: bool mask of shape (n,). Token ids: residues 0..P-1, operation i is P + i,
    '=' is P + n_ops.
    """

    p: int
    ops: tuple[str, ...]
    examples: np.ndarray
    labels: np.ndarray
    train: np.ndarray
    frac: float | None = None  # the train fraction asked for (None: not known)

    kind = "modular"
    class_label = "answer c"
    class_names = None

    @property
    def n_vocab(self) -> int:
        return self.p + len(self.ops) + 1

    @property
    def n_classes(self) -> int:
        return self.p

    def inputs(self, rows: np.ndarray | None = None, *, encoding: str = "tokens") -> np.ndarray:
        """The model inputs of the examples (or of ``rows``, (n, 3) triples (a, op, b)) in one
        of ENCODINGS: ``"tokens"``, int64 (n, 2) [a, b] ((n, 3) [a, op, b] for several
        operations, the operation's token P + i); ``"tokens+eq"``, with the '=' token P + n_ops
        last; ``"onehot"``, float32 (n, 2P) one-hot a then b (with the operation's one-hot of
        n_ops between them for several operations)."""
        if encoding not in ENCODINGS:
            raise GrokscanError(f"inputs: expected an encoding of {', '.join(ENCODINGS)}, got "
                                f"{encoding!r}")
        if encoding == "onehot":
            t = self.tokens(rows, with_eq=False)
            sizes = [self.p] + ([len(self.ops)] if len(self.ops) > 1 else []) + [self.p]
            offsets = np.array([0] + ([self.p] if len(self.ops) > 1 else []) + [0])
            out = np.zeros((len(t), sum(sizes)), np.float32)
            start = np.cumsum([0] + sizes[:-1])
            for j in range(t.shape[1]):
                out[np.arange(len(t)), start[j] + t[:, j] - offsets[j]] = 1.0
            return out
        return self.tokens(rows, with_eq=encoding == "tokens+eq")

    def tokens(self, rows: np.ndarray | None = None, *, with_eq: bool = True) -> np.ndarray:
        """Token sequences (n, T) of the examples (or of ``rows``, (n, 3) triples): [a, b, =]
        for one operation, [a, op, b, =] for several; without '=' for the MLP."""
        a, o, b = (self.examples if rows is None else rows).T
        cols = [a] + ([self.p + o] if len(self.ops) > 1 else []) + [b]
        if with_eq:
            cols.append(np.full_like(a, self.p + len(self.ops)))
        return np.stack(cols, axis=1).astype(np.int64)

    def split(self, model: str) -> Split:
        """The train and test sets for a model of kind ``model`` ("mlp": tokens without '=';
        "transformer": with it) or with the inputs of an encoding of ENCODINGS."""
        x = self.inputs(encoding=_encoding(model))
        y = self.labels.astype(np.int64)
        tr = self.train
        n_vocab = 0 if x.dtype == np.float32 else self.n_vocab
        return Split(x[tr], y[tr], x[~tr], y[~tr], n_vocab, self.p, self.n_classes)

    @property
    def residues(self) -> Residues:
        p = self.p
        groups = {op: group_of(op, p) for op in self.ops}
        phase = {op: (OPS[op].group, OPS[op].b_sign) for op in self.ops if OPS[op].b_sign}
        return Residues(p, self.ops, groups, phase, self._grid_rows(), self._grid_inputs)

    def _grid_rows(self) -> dict:
        p, ex = self.p, self.examples
        out = {}
        for i, op in enumerate(self.ops):
            rows = ex[:, 1] == i
            idx = ex[rows, 0] * p + ex[rows, 2]
            tr, te = np.zeros(p * p, bool), np.zeros(p * p, bool)
            lab = np.zeros(p * p, np.int64)
            tr[idx[self.train[rows]]] = True
            te[idx[~self.train[rows]]] = True
            lab[idx] = self.labels[rows]
            out[op] = (tr, te, lab)
        return out

    def _grid_inputs(self, op: str, model: str) -> np.ndarray:
        a, b = np.divmod(np.arange(self.p * self.p), self.p)
        rows = np.stack([a, np.full_like(a, self.ops.index(op)), b], axis=1)
        return self.inputs(rows, encoding=_encoding(model))

    def write(self, g) -> None:
        g.attrs["kind"] = "modular"
        g.attrs["p"] = self.p
        g.attrs["ops"] = json.dumps(list(self.ops))
        g.create_dataset("examples", data=self.examples.astype(np.int32))
        g.create_dataset("labels", data=self.labels.astype(np.int32))
        g.create_dataset("train", data=self.train)

    def summary(self) -> dict:
        return {"kind": "modular", "p": self.p, "ops": list(self.ops),
                "n_examples": int(len(self.labels)), "n_train": int(self.train.sum())}

    def describe(self) -> str:
        ops = self.ops[0] if len(self.ops) == 1 else f"{', '.join(self.ops)} (one multi-task model)"
        frac = f"train fraction {self.frac:g}" if self.frac else \
            f"{int(self.train.sum())} of {len(self.train)} examples for training"
        return f"{ops} mod {self.p}, {frac}"


def _read(group, cfg: ModularConfig | None, where: str) -> ModularData:
    """The modular task of a checkpoint file (store/SCHEMA.md), checked against the config and
    against arithmetic: every label is op(a, b) mod P."""
    try:
        p = int(group.attrs["p"])
        ops = tuple(json.loads(group.attrs["ops"]))
    except (KeyError, ValueError, TypeError) as e:
        raise FileFormatError(f"{where}: the modular task's attributes p and ops are missing "
                              f"or unreadable ({e})") from None
    unknown = [o for o in ops if o not in OPS]
    if not ops or unknown or not 2 <= p <= 4096:
        raise FileFormatError(f"{where}: a modular task with P = {p} and operations {ops}; "
                              f"expected 2 ≤ P ≤ 4096 and operations of `grokscan ops`")
    if cfg is not None and (cfg.p, tuple(cfg.ops)) != (p, ops):
        raise FileFormatError(f"{where}: the data are {','.join(ops)} mod {p}, but the run's "
                              f"config says {','.join(cfg.ops)} mod {cfg.p}")
    # the rows the config implies (every operand pair of each operation), or at most P² each
    n_max = (sum(len(operands(cfg, op)[0]) for op in ops) if cfg is not None
             else len(ops) * p * p)
    ex = read_array(group, "examples", where, shape=(None, 3), limit=3 * n_max)
    labels = read_array(group, "labels", where, shape=(len(ex),), limit=n_max)
    train = read_array(group, "train", where, shape=(len(ex),), limit=n_max).astype(bool)
    ex = ex.astype(np.int64)
    a, o, b = ex.T
    if len(ex) and (a.min() < 0 or a.max() >= p or b.min() < 0 or b.max() >= p
                    or o.min() < 0 or o.max() >= len(ops)):
        raise FileFormatError(f"{where}/examples: operands outside 0..{p - 1} or operation "
                              f"indices outside 0..{len(ops) - 1}")
    want = np.empty(len(ex), np.int64)
    for i, op in enumerate(ops):
        want[o == i] = apply(op, a[o == i], b[o == i], p)
    if not np.array_equal(want, labels):
        bad = int(np.flatnonzero(want != labels)[0])
        raise FileFormatError(f"{where}/labels: row {bad} is {labels[bad]}, but "
                              f"{ops[o[bad]]}({a[bad]}, {b[bad]}) mod {p} = {want[bad]}")
    return ModularData(p, ops, ex, labels.astype(np.int64), train,
                       cfg.frac if cfg is not None else None)


def _encoding(model: str) -> str:
    """The input encoding of a model kind ("mlp": tokens, "transformer": tokens and '='), or
    an encoding named as such."""
    return {"mlp": "tokens", "transformer": "tokens+eq"}.get(model, model)


def modular_task(op: str = "add", p: int = 97, *, frac: float = 0.3, seed: int = 0,
                 train_pairs=None, exclude_zero: bool = False) -> ModularData:
    """A modular-arithmetic task for a model of your own: every (a, b) pair of one operation
    (or several, comma-separated, for one multi-task model) mod ``p``, its label, and a split.

    Record it with ``grokscan.Recorder(..., task=data)`` and the analysis knows the residues:
    every Fourier, embedding and replayed family applies (in the multiplicative basis for mul
    and div with P prime).

    Parameters
    ----------
    op : str, default "add"
        An operation of ``grokscan ops`` ("add", "mul", "x2+y2", …), or several separated by
        commas.
    p : int, default 97
        The modulus P.
    frac : float, default 0.3
        The share of each operation's pairs drawn for training (from ``seed``), when
        ``train_pairs`` is not given.
    seed : int, default 0
        The seed of the drawn split.
    train_pairs : array-like of shape (n, 2), optional
        Your own split: the (a, b) pairs you train on (for several operations, on each); every
        other pair is the test set.
    exclude_zero : bool, default False
        Operands from Z_P^* = 1..P−1 (for mul and div; needs P prime).

    Returns
    -------
    ModularData
        ``inputs(encoding=...)`` (the model inputs of every example: "tokens" [a, b],
        "tokens+eq" [a, b, =] or "onehot"), ``labels`` (shape (n,)), ``train`` (a bool mask
        of shape (n,)), ``split(encoding)`` (x_train, y_train, x_test, y_test), ``p``,
        ``ops``, ``n_vocab``, ``n_classes``.

    Examples
    --------
    >>> import grokscan
    >>> data = grokscan.modular_task("add", 23, frac=0.5, seed=0)
    >>> s = data.split("tokens")
    >>> s.x_train.shape, s.y_train.shape, int(data.train.sum())
    ((264, 2), (264,), 264)
    """
    ops = tuple(o.strip() for o in op.split(",")) if isinstance(op, str) else tuple(op)
    cfg = ModularConfig(ops=ops, p=p, frac=frac, exclude_zero=exclude_zero)
    data = make_data(cfg, seed)
    if train_pairs is None:
        return data
    pairs = np.asarray(train_pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise GrokscanError(f"train_pairs: expected integer pairs (a, b) of shape (n, 2), got "
                            f"shape {pairs.shape} of {pairs.dtype}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= p):
        raise GrokscanError(f"train_pairs: expected residues in 0..{p - 1}")
    keys = set((pairs[:, 0] * p + pairs[:, 1]).tolist())
    a, b = data.examples[:, 0], data.examples[:, 2]
    train = np.fromiter(((x * p + y) in keys for x, y in zip(a, b)), bool, len(a))
    if not train.any() or train.all():
        raise GrokscanError(f"train_pairs: the split must leave examples on both sides; it "
                            f"trains on {int(train.sum())} of {len(train)}")
    return ModularData(p, ops, data.examples, data.labels, train, None)


class ModularTask:
    kind = "modular"
    Config = ModularConfig
    defaults: dict = {}

    @staticmethod
    def make(cfg: ModularConfig, seed: int) -> ModularData:
        return make_data(cfg, seed)

    check = staticmethod(check)
    read = staticmethod(_read)


TASK = ModularTask()


def group_of(op: str, p: int) -> str:
    """The group whose Fourier basis suits ``op`` mod ``p``: its own (OPS; multiplicative for
    mul and div) when that is additive or P is prime, else additive; additive for an operation
    grokscan does not know."""
    known = OPS.get(op)
    if known is not None and known.group == "multiplicative" and is_prime(p):
        return "multiplicative"
    return "additive"


__all__ = ["ENCODINGS", "OPS", "ModularConfig", "ModularData", "ModularTask", "Operation",
           "apply", "group_of", "make_data", "modular_task"]
