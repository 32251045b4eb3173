"""Modular arithmetic tasks (REFERENCE.md §1): the operation registry, the examples, the split.

An example is a triple (a, op, b) with label q = op(a, b) mod P. Operation names use x for a and
y for b: ``x2+xy+y2`` is a² + ab + b². ``grokscan ops`` lists them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grokscan.config import TaskConfig
from grokscan.errors import GrokscanError
from grokscan.groups import is_prime


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
    family: str  # elementary, linear, univariate, cross, powers, factorisable
    group: str = "additive"  # the group whose Fourier basis suits it: additive, multiplicative
    needs_prime: bool = False  # defined only for prime P (division needs a field)
    b_nonzero: bool = False  # b = 0 is excluded (division)


OPS: dict[str, Operation] = {}


def _op(name, fn, family, **kw):
    OPS[name] = Operation(name, fn, family, **kw)


_op("add", lambda a, b, p: a + b, "elementary")
_op("sub", lambda a, b, p: a - b, "elementary")
_op("mul", lambda a, b, p: a * b, "elementary", group="multiplicative")
_op("div", lambda a, b, p: a * _pow(b, p - 2, p), "elementary", group="multiplicative",
    needs_prime=True, b_nonzero=True)
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


@dataclass(frozen=True)
class ModularData:
    """The full example table of a modular task and its split.

    examples: int64 array of shape (n, 3), rows (a, op_index, b); labels: shape (n,);
    train: bool mask of shape (n,). Token ids: residues 0..P-1, operation i is P + i,
    '=' is P + n_ops.
    """

    p: int
    ops: tuple[str, ...]
    examples: np.ndarray
    labels: np.ndarray
    train: np.ndarray

    @property
    def n_vocab(self) -> int:
        return self.p + len(self.ops) + 1

    @property
    def n_classes(self) -> int:
        return self.p


def validate(cfg: TaskConfig) -> None:
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
    if cfg.p < 2:
        raise GrokscanError(f"the modulus P must be at least 2, got P = {cfg.p}")
    if not 0 < cfg.frac < 1:
        raise GrokscanError(f"--frac must lie strictly between 0 and 1, got {cfg.frac}")
    for name in cfg.ops:
        op = OPS[name]
        if (op.needs_prime or (cfg.exclude_zero and op.group == "multiplicative")) and not (
            is_prime(cfg.p)
        ):
            why = "division needs a field" if op.needs_prime else "Z_P^* is a cyclic group"
            raise GrokscanError(
                f"operation {name!r} needs a prime modulus ({why}), got P = {cfg.p}"
            )


def make_data(cfg: TaskConfig, seed: int) -> ModularData:
    """All (a, op, b) examples and a split drawn from ``seed``, separately per operation so that
    every operation gets the fraction ``cfg.frac`` of its pairs for training."""
    validate(cfg)
    p = cfg.p
    rng = np.random.default_rng(seed)
    rows, labels, train = [], [], []
    for i, name in enumerate(cfg.ops):
        op = OPS[name]
        lo_a = 1 if cfg.exclude_zero else 0
        lo_b = 1 if (cfg.exclude_zero or op.b_nonzero) else 0
        a, b = np.meshgrid(np.arange(lo_a, p), np.arange(lo_b, p), indexing="ij")
        a, b = a.ravel(), b.ravel()
        n = a.size
        n_train = int(round(cfg.frac * n))
        if n_train < p:
            raise GrokscanError(
                f"the train split of {name!r} would hold {n_train} examples, fewer than the "
                f"{p} classes; raise --frac (got {cfg.frac}) or P"
            )
        if n_train >= n:
            raise GrokscanError(
                f"the test split of {name!r} would be empty ({n} pairs, --frac {cfg.frac})"
            )
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[:n_train]] = True
        rows.append(np.stack([a, np.full(n, i), b], axis=1))
        labels.append(apply(name, a, b, p))
        train.append(mask)
    return ModularData(p, tuple(cfg.ops), np.concatenate(rows), np.concatenate(labels),
                       np.concatenate(train))


def tokens(data: ModularData, *, with_op: bool | None = None, with_eq: bool = True) -> np.ndarray:
    """Token sequences (n, T): [a, b, =] for one operation, [a, op, b, =] for several."""
    a, o, b = data.examples.T
    with_op = len(data.ops) > 1 if with_op is None else with_op
    cols = [a] + ([data.p + o] if with_op else []) + [b]
    if with_eq:
        cols.append(np.full_like(a, data.p + len(data.ops)))
    return np.stack(cols, axis=1)
