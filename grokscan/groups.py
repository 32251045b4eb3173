"""Number theory the tasks and the Fourier bases share: primality, primitive roots and the
discrete logarithm that indexes Z_P^* as a cyclic group of order P - 1, the group whose Fourier
basis suits a·b and a/b."""

from __future__ import annotations

import numpy as np

from grokscan.errors import GrokscanError


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def prime_factors(n: int) -> list[int]:
    """The distinct prime factors of n, ascending."""
    out, f = [], 2
    while f * f <= n:
        if n % f == 0:
            out.append(f)
            while n % f == 0:
                n //= f
        f += 1
    if n > 1:
        out.append(n)
    return out


def primitive_root(p: int) -> int:
    """The smallest generator g of the multiplicative group Z_p^* (p prime)."""
    if not is_prime(p):
        raise GrokscanError(f"a primitive root needs a prime modulus, got P = {p}")
    if p == 2:
        return 1
    order = p - 1
    for g in range(2, p):
        if all(pow(g, order // q, p) != 1 for q in prime_factors(order)):
            return g
    raise AssertionError("unreachable: every prime has a primitive root")


def discrete_log_table(p: int) -> tuple[int, np.ndarray]:
    """The primitive root g and ``log`` with g**log[t] = t mod p for t = 1..p-1.

    Returns (g, log) where log is an int array of length p; log[0] = -1 (0 has no logarithm).
    """
    g = primitive_root(p)
    log = np.full(p, -1, dtype=np.int64)
    t = 1
    for i in range(p - 1):
        log[t] = i
        t = (t * g) % p
    return g, log


def discrete_log_order(p: int) -> np.ndarray:
    """The residues of Z_p^* in discrete-log order, g^0, g^1, ..., g^(p-2) mod p (the inverse
    of :func:`discrete_log_table`): in this order a·b is a cyclic shift, as a+b is in 0..p-1."""
    _, log = discrete_log_table(p)
    order = np.empty(p - 1, dtype=np.int64)
    order[log[1:]] = np.arange(1, p)
    return order
