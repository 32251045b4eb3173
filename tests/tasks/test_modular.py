import numpy as np
import pytest

from grokscan.errors import GrokscanError
from grokscan.tasks.modular import OPS, ModularConfig, apply, make_data

# An independent reference: each operation written out with Python integers.
REFERENCE = {
    "add": lambda a, b, p: a + b, "sub": lambda a, b, p: a - b, "mul": lambda a, b, p: a * b,
    "div": lambda a, b, p: a * pow(b, -1, p),
    "2x+y": lambda a, b, p: 2 * a + b, "2x-y": lambda a, b, p: 2 * a - b,
    "2x+3y": lambda a, b, p: 2 * a + 3 * b, "2x-3y": lambda a, b, p: 2 * a - 3 * b,
    "xy+y": lambda a, b, p: a * b + b, "xy-y": lambda a, b, p: a * b - b,
    "xy+x+y": lambda a, b, p: a * b + a + b,
    "x2+y": lambda a, b, p: a**2 + b, "x2-y": lambda a, b, p: a**2 - b,
    "x3+2y": lambda a, b, p: a**3 + 2 * b, "x3-2y": lambda a, b, p: a**3 - 2 * b,
    "x2+xy+y2": lambda a, b, p: a**2 + a * b + b**2,
    "x2+xy+y2+x": lambda a, b, p: a**2 + a * b + b**2 + a,
    "x3+xy": lambda a, b, p: a**3 + a * b, "x3+xy2+y": lambda a, b, p: a**3 + a * b**2 + b,
    "x2-y2": lambda a, b, p: a**2 - b**2, "(x+y)2+x+y": lambda a, b, p: (a + b) ** 2 + a + b,
    **{f"x{n}+y{n}": (lambda a, b, p, n=n: a**n + b**n) for n in range(2, 8)},
    **{f"(x+y){n}": (lambda a, b, p, n=n: (a + b) ** n) for n in range(2, 8)},
    **{f"(x-y){n}": (lambda a, b, p, n=n: (a - b) ** n) for n in range(2, 8)},
}


def test_every_reference_operation_is_registered():
    assert set(REFERENCE) == set(OPS)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("p", [11, 113, 1009])
def test_operation_matches_python_integers(name, p):
    rng = np.random.default_rng(p)
    a = rng.integers(0, p, 200)
    b = rng.integers(1 if OPS[name].b_nonzero else 0, p, 200)
    want = [REFERENCE[name](int(x), int(y), p) % p for x, y in zip(a, b)]
    np.testing.assert_array_equal(apply(name, a, b, p), want)


def test_split_is_per_operation_seeded_and_complete():
    cfg = ModularConfig(ops=("add", "div"), p=13, frac=0.4)
    d1, d2, d3 = make_data(cfg, 0), make_data(cfg, 0), make_data(cfg, 1)
    np.testing.assert_array_equal(d1.train, d2.train)
    assert not np.array_equal(d1.train, d3.train)
    add, div = d1.examples[:, 1] == 0, d1.examples[:, 1] == 1
    assert add.sum() == 13 * 13 and div.sum() == 13 * 12  # b = 0 excluded for division
    assert d1.train[add].sum() == round(0.4 * 169) and d1.train[div].sum() == round(0.4 * 156)
    assert d1.tokens().shape == (len(d1.labels), 4)  # [a, op, b, =]
    assert set(d1.tokens()[:, 1]) == {13, 14} and set(d1.tokens()[:, 3]) == {15}


def test_exclude_zero_puts_mul_on_the_multiplicative_group():
    d = make_data(ModularConfig(ops=("mul",), p=11, frac=0.5, exclude_zero=True), 0)
    assert d.examples[:, [0, 2]].min() == 1 and len(d.labels) == 100
    assert d.labels.min() == 1  # Z_P^* is closed under multiplication


@pytest.mark.parametrize("kw, match", [
    (dict(ops=("pow",)), "unknown operation 'pow'"),
    (dict(ops=("div",), p=20), "needs a prime modulus"),
    (dict(ops=("mul",), p=20, exclude_zero=True), "needs a prime modulus"),
    (dict(p=1), r"task.p: expected an integer in \[2, 4096\], got 1"),
    (dict(frac=1.0), r"task.frac: expected a number in \(0, 1\), got 1.0"),
    (dict(frac=0.0), r"task.frac: expected a number in \(0, 1\), got 0.0"),
    (dict(p="7"), "task.p: expected an integer, got '7'"),
    (dict(p=11, frac=0.05), "fewer than the 11 classes"),
])
def test_bad_tasks_are_refused(kw, match):
    with pytest.raises(GrokscanError, match=match):
        make_data(ModularConfig(**kw), 0)


def test_discrete_log_order_inverts_the_log_table():
    from grokscan.groups import discrete_log_order, discrete_log_table

    for p in (3, 7, 13, 97):
        g, log = discrete_log_table(p)
        order = discrete_log_order(p)
        np.testing.assert_array_equal(order, [pow(g, i, p) for i in range(p - 1)])
        np.testing.assert_array_equal(log[order], np.arange(p - 1))
