import os

import pytest
import torch
from threadpoolctl import threadpool_info

from grokscan import threads


@pytest.mark.parametrize("n_cores, load, expected", [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 6.5, 1), (16, 3.2, 13), (8, 0.0, 8),
])
def test_the_idle_cores_are_the_cores_less_the_load(monkeypatch, n_cores, load, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n_cores)))
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert threads.idle_cores() == expected
    assert threads.choose(0) == threads.choose(None) == expected
    assert threads.choose(3) == 3  # a number given is used as it is


def test_no_load_average_takes_every_core(monkeypatch):
    def unavailable():
        raise OSError("no load average")

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert threads.idle_cores() == 3


def test_use_sets_torch_and_blas(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert threads.use(2) == 2 and torch.get_num_threads() == 2
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(n == 2 for n in blas)
    assert threads.use(1) == 1 and torch.get_num_threads() == 1
