"""The train/test split of an imported run, as a mask over the (a, b) grid (row a·P + b): from
what the source holds, from a file of train pairs, or rebuilt with the source's own rule."""

from __future__ import annotations

import os
import random

import numpy as np

from grokscan.errors import GrokscanError

RULES = ("nanda", "randperm")


def nanda_rule(p: int, frac: float, seed: int) -> np.ndarray:
    """Nanda's ``gen_train_test`` (progress-measures-paper, transformers.py): the pairs
    (i, j) a-major, ``random.seed(seed); random.shuffle(pairs)``, the first
    ``int(frac · P²)`` for training. Python's Mersenne Twister, so the same on any machine."""
    pairs = [(i, j) for i in range(p) for j in range(p)]
    random.Random(seed).shuffle(pairs)
    train = np.zeros(p * p, bool)
    idx = np.array(pairs[: int(frac * len(pairs))], dtype=np.int64).reshape(-1, 2)
    train[idx[:, 0] * p + idx[:, 1]] = True
    return train


def randperm_rule(p: int, frac: float, seed: int) -> np.ndarray:
    """TransformerLens's grokking demo (demos/Grokking_Demo.ipynb): ``torch.manual_seed(seed);
    indices = torch.randperm(p*p)``; the first ``int(p*p*frac)`` indices of the a-major grid
    train. (torch's CPU generator; the demo's seed is 598.)"""
    import torch

    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(p * p, generator=g)[: int(p * p * frac)].numpy()
    train = np.zeros(p * p, bool)
    train[idx] = True
    return train


def from_pairs(pairs: np.ndarray, p: int, where: str) -> np.ndarray:
    """The mask of (n, 2) train pairs (a, b), each in 0..P−1, no pair twice."""
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not len(pairs):
        raise GrokscanError(f"{where}: expected train pairs (a, b), found shape {pairs.shape}")
    if pairs.min() < 0 or pairs.max() >= p:
        raise GrokscanError(f"{where}: train pairs outside 0..{p - 1} (P = {p}); found "
                            f"{pairs.min()}..{pairs.max()}")
    return from_index(pairs[:, 0] * p + pairs[:, 1], p, where)


def from_index(index: np.ndarray, p: int, where: str) -> np.ndarray:
    index = np.asarray(index, dtype=np.int64).ravel()
    if index.size and (index.min() < 0 or index.max() >= p * p):
        raise GrokscanError(f"{where}: train indices outside the {p}² = {p * p} (a, b) pairs")
    if len(np.unique(index)) != len(index):
        raise GrokscanError(f"{where}: a train pair appears twice")
    train = np.zeros(p * p, bool)
    train[index] = True
    return train


def read_train_pairs(path: str, p: int) -> np.ndarray:
    """The mask of a --train-pairs file: ``.npy`` of (n, 2) pairs or (n,) indices a·P + b,
    or text with one pair "a b" or "a,b" per line (a third column, '=', is ignored)."""
    path = os.fspath(path)
    try:
        if path.endswith(".npy"):
            arr = np.load(path, allow_pickle=False)
        else:
            arr = np.loadtxt(path, delimiter=None if _spaces(path) else ",", dtype=np.int64,
                             ndmin=2)[:, :2]
    except (OSError, ValueError) as e:
        raise GrokscanError(f"{path}: cannot read train pairs ({e})") from None
    if arr.dtype.kind not in "iu":  # floats (even 1.0) and booleans, as the text form refuses
        raise GrokscanError(f"{path}: expected integer train pairs, got {arr.dtype} values")
    if arr.ndim == 1:
        return from_index(arr, p, path)
    return from_pairs(arr[:, :2] if arr.ndim == 2 else arr, p, path)


def _spaces(path: str) -> bool:
    with open(path) as fh:
        line = fh.readline()
    return "," not in line
