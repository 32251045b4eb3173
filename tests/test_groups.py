"""grokscan.groups against independent references: a sieve of Eratosthenes, trial division
with multiplicities, multiplicative orders counted by brute force, and Python's pow."""

import numpy as np
import pytest

from grokscan.errors import GrokscanError
from grokscan.groups import (
    discrete_log_order,
    discrete_log_table,
    is_prime,
    prime_factors,
    primitive_root,
)

N = 5000


def _sieve(n: int) -> list[bool]:
    """is_prime for 0..n-1 by the sieve of Eratosthenes."""
    flags = [True] * n
    flags[0] = flags[1] = False
    for i in range(2, int(n**0.5) + 1):
        if flags[i]:
            for j in range(i * i, n, i):
                flags[j] = False
    return flags


SIEVE = _sieve(N)
PRIMES = [n for n in range(N) if SIEVE[n]]


def _order(g: int, p: int) -> int:
    """The multiplicative order of g mod p, by repeated multiplication."""
    t, k = g % p, 1
    while t != 1:
        t = t * g % p
        k += 1
        assert k < p, "g is not a unit mod p"
    return k


def test_the_sieve_itself_is_right():
    # a sanity check of the reference: the first primes and the count below 5000 (669)
    assert PRIMES[:10] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    assert len(PRIMES) == 669


def test_is_prime_agrees_with_a_sieve():
    wrong = [n for n in range(N) if is_prime(n) != SIEVE[n]]
    assert wrong == []


@pytest.mark.parametrize("n", [-7, -2, -1, 0, 1])
def test_numbers_below_two_are_not_prime(n):
    assert is_prime(n) is False


@pytest.mark.parametrize("n,expected", [(7919, True), (7921, False), (104729, True),
                                        (104730, False), (999983, True), (561, False),
                                        (1000001, False)])
def test_is_prime_on_larger_numbers(n, expected):
    # 7919 and 104729 are the 1000th and 10000th primes, 7921 = 89², 561 a Carmichael number,
    # 999983 the largest prime below 10⁶, 1000001 = 101 · 9901
    assert is_prime(n) is expected


def _multiplicity(n: int, p: int) -> int:
    e = 0
    while n % p == 0:
        n //= p
        e += 1
    return e


def test_prime_factors_reconstruct_n():
    for n in range(2, 3001):
        factors = prime_factors(n)
        assert factors == sorted(set(factors)), n  # distinct and ascending
        assert all(SIEVE[f] for f in factors), (n, factors)
        product = 1
        for f in factors:
            e = _multiplicity(n, f)
            assert e >= 1, (n, f)
            product *= f**e
        assert product == n, (n, factors)
        # and no prime divisor is missing
        assert factors == [q for q in PRIMES if q <= n and n % q == 0], n


@pytest.mark.parametrize("n,expected", [
    (1, []), (2, [2]), (64, [2]), (360, [2, 3, 5]), (9991, [97, 103]),
    (2 * 3 * 5 * 7 * 11 * 13, [2, 3, 5, 7, 11, 13]), (4096 - 1, [3, 5, 7, 13]),
    (2**31 - 1, [2**31 - 1]),
])
def test_prime_factors_by_hand(n, expected):
    assert prime_factors(n) == expected


def test_primitive_root_generates_the_group_and_is_the_smallest():
    for p in PRIMES:
        if p > 600:
            break
        g = primitive_root(p)
        assert 1 <= g < max(p, 2)
        assert _order(g, p) == p - 1, (p, g)
        # every smaller candidate has a smaller order
        assert all(_order(h, p) < p - 1 for h in range(2, g)), (p, g)


@pytest.mark.parametrize("p,g", [(2, 1), (3, 2), (5, 2), (7, 3), (11, 2), (23, 5), (41, 6),
                                 (71, 7), (97, 5), (191, 19), (409, 21)])
def test_known_smallest_primitive_roots(p, g):
    assert primitive_root(p) == g


@pytest.mark.parametrize("p", [0, 1, 4, 9, 15, 91, 561, 4096])
def test_primitive_root_of_a_composite_raises(p):
    with pytest.raises(GrokscanError, match=f"P = {p}"):
        primitive_root(p)


@pytest.mark.parametrize("p", [2, 3, 5, 7, 11, 13, 41, 97, 101, 257, 1009])
def test_discrete_log_table_inverts_pow(p):
    g, log = discrete_log_table(p)
    assert g == primitive_root(p)
    assert isinstance(log, np.ndarray) and np.issubdtype(log.dtype, np.integer)
    assert log.shape == (p,)
    assert log[0] == -1
    for t in range(1, p):
        assert 0 <= log[t] < p - 1
        assert pow(g, int(log[t]), p) == t, (p, t)
    # the logarithms of 1..p-1 are each of 0..p-2 once
    assert sorted(log[1:].tolist()) == list(range(p - 1))
    assert log[1] == 0 and (p == 2 or log[g] == 1)


@pytest.mark.parametrize("p", [2, 3, 5, 7, 11, 13, 41, 97, 101, 257, 1009])
def test_discrete_log_order_lists_the_powers_of_g(p):
    g = primitive_root(p)
    _, log = discrete_log_table(p)
    order = discrete_log_order(p)
    assert order.shape == (p - 1,)
    assert order.tolist() == [pow(g, i, p) for i in range(p - 1)]
    assert sorted(order.tolist()) == list(range(1, p))  # a permutation of 1..p-1
    for t in range(1, p):
        assert order[log[t]] == t


def test_discrete_log_order_by_hand():
    # 3 generates Z_7^*: 3^0..3^5 = 1, 3, 2, 6, 4, 5
    assert discrete_log_order(7).tolist() == [1, 3, 2, 6, 4, 5]
    g, log = discrete_log_table(7)
    assert g == 3 and log.tolist() == [-1, 0, 2, 1, 4, 5, 3]


@pytest.mark.parametrize("p", [1, 4, 12, 91])
def test_discrete_logs_of_a_composite_raise(p):
    with pytest.raises(GrokscanError):
        discrete_log_table(p)
    with pytest.raises(GrokscanError):
        discrete_log_order(p)
