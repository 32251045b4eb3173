"""The Ising classification data set of Hutchison & Yevick (arXiv:2510.25966 §2): 8 × 8
lattices annealed from random starts, binned by energy into four classes, with a random test
set and an n-inverted test set; and its file (ISING_DATA.md beside this module).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np

from grokscan._version import __version__
from grokscan.errors import FileFormatError, GrokscanError
from grokscan.hdf5.format import ISING_FORMAT, LIBVER, open_checked
from grokscan.tasks.ising.physics import (
    MAX_SPINS,
    _blocks_energy,
    _check_lattice,
    _from_blocks,
    _half_sweep,
    _progress,
    _thresholds,
    _to_blocks,
    energy,
    random_spins,
)

FORMAT_VERSION = 1
SPLITS = ("train", "test", "inverted")


@dataclass(frozen=True)
class IsingDataConfig:
    """How a data set is made (arXiv:2510.25966 §2); stored as JSON in the file's attributes."""

    L: int = 8  # lattice side; the paper uses 8 × 8
    n_train: int = 4000  # training lattices, split equally over the bins (paper: 1000 per bin)
    n_test: int = 1000  # "random spin" test lattices, made the same way, split equally
    bins: tuple[tuple[int, int], ...] = ((-120, -92), (-88, -60), (-56, -28), (-24, 4))
    # ^ inclusive energy ranges; label k is bins[k] (the paper numbers the classes 1–4)
    n_flip: int = 5  # spins flipped per training lattice for the n-inverted test set
    seed: int = 0  # the only source of randomness
    T_start: float = 8.0  # annealing: temperature of the first Metropolis sweep …
    T_end: float = 0.5  # … and of the last, geometric in between
    n_sweeps: int = 64  # sweeps in the annealing schedule; energies are read every half sweep

    def __post_init__(self):
        object.__setattr__(self, "bins", tuple((int(lo), int(hi)) for lo, hi in self.bins))

    def levels(self) -> list[np.ndarray]:
        """The attainable energies of each bin: multiples of 4, minus ±(2L² − 4), which no
        lattice on a torus has (the smallest excitation breaks 4 bonds)."""
        top = 2 * self.L**2
        out = []
        for lo, hi in self.bins:
            e = np.arange(math.ceil(lo / 4) * 4, hi + 1, 4)
            out.append(e[(np.abs(e) <= top) & (np.abs(e) != top - 4)])
        return out

    def validate(self) -> None:
        _check_lattice(self.L, self.T_start)
        _check_lattice(self.L, self.T_end)
        if self.T_end > self.T_start:
            raise GrokscanError(
                f"the schedule must cool: T_start {self.T_start} < T_end {self.T_end}"
            )
        k = len(self.bins)
        if k < 1:
            raise GrokscanError("bins: need at least one energy bin")
        for name in ("n_train", "n_test"):
            v = getattr(self, name)
            if v < k or v % k:
                raise GrokscanError(f"{name} = {v} must be a positive multiple of {k} bins")
        # a byte a spin for the lattices, and 16 more a training spin while the n-inverted
        # set is drawn (a float64 uniform and an int64 argsort per spin)
        need = self.L ** 2 * (17 * self.n_train + self.n_test)
        if need > MAX_SPINS:
            raise GrokscanError(f"n_train = {self.n_train} and n_test = {self.n_test} lattices "
                                f"of {self.L} × {self.L} spins would need {need / 2**30:.3g} "
                                f"GiB (17 bytes a training spin, 1 a test spin); at most "
                                f"{MAX_SPINS // 2**30} GiB: lower them or L")
        flat = [x for b in sorted(self.bins) for x in b]
        if any(lo > hi for lo, hi in self.bins) or flat != sorted(flat):
            raise GrokscanError(f"bins must be non-overlapping (lo, hi) with lo ≤ hi: {self.bins}")
        for (lo, hi), lev in zip(self.bins, self.levels()):
            if lev.size == 0:
                raise GrokscanError(
                    f"bin [{lo}, {hi}] holds no energy an {self.L}×{self.L} "
                    "lattice can have (E is a multiple of 4)"
                )
        if not 0 <= self.n_flip <= self.L**2:
            raise GrokscanError(f"n_flip must be in [0, L² = {self.L**2}], got {self.n_flip}")
        if self.n_sweeps < 1:
            raise GrokscanError(f"n_sweeps must be ≥ 1, got {self.n_sweeps}")

    def label(self, E: np.ndarray) -> np.ndarray:
        """Bin index of each energy, −1 where it is in no bin. E: int (n,). Returns int8 (n,)."""
        y = np.full(np.shape(E), -1, np.int8)
        for k, (lo, hi) in enumerate(self.bins):
            y[(E >= lo) & (E <= hi)] = k
        return y


@dataclass(frozen=True)
class IsingData:
    """A data set: for each split ``x`` int8 (n, L, L) ±1, ``y`` int8 (n,) bin labels 0…k−1,
    ``energy`` int16 (n,); ``inverted_source`` int32 (n_inverted,) is the training lattice each
    inverted lattice was made from. ``n_dropped``: inverted lattices whose energy left every
    bin (not kept)."""

    config: IsingDataConfig
    train_x: np.ndarray
    train_y: np.ndarray
    train_energy: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    test_energy: np.ndarray
    inverted_x: np.ndarray
    inverted_y: np.ndarray
    inverted_energy: np.ndarray
    inverted_source: np.ndarray
    n_dropped: int = 0
    meta: dict = field(default_factory=dict)  # file attributes other than the above

    def xy(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Inputs for an MLP: (float32 (n, L²) of ±1, int64 (n,) labels) of one split."""
        if split not in SPLITS:
            raise GrokscanError(f"split must be one of {SPLITS}, got {split!r}")
        x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
        return x.reshape(len(x), -1).astype(np.float32), y.astype(np.int64)


def _quota(n_per_bin: int, levels: list[np.ndarray], rng) -> dict[int, int]:
    """Lattices wanted at each energy: n_per_bin per bin, spread evenly over its levels, the
    remainder given to randomly chosen levels."""
    want = {}
    for lev in levels:
        extra = set(rng.choice(lev.size, n_per_bin % lev.size, replace=False).tolist())
        for i, E in enumerate(lev):
            want[int(E)] = n_per_bin // lev.size + (i in extra)
    return want


def _anneal(cfg: IsingDataConfig, n_total: int, rng, progress: bool) -> np.ndarray:
    """n_total lattices, each from its own random start, with energies spread evenly over the
    levels of every bin (see :func:`generate`). Returns int8 (n_total, L, L), sorted by energy."""
    want = _quota(n_total // len(cfg.bins), cfg.levels(), rng)
    got: dict[int, list[np.ndarray]] = {E: [] for E in want}
    Ts = cfg.T_start * (cfg.T_end / cfg.T_start) ** np.linspace(0, 1, cfg.n_sweeps)
    bar = _progress(n_total, progress, "lattices")
    for _ in range(100):  # rounds of fresh chains for the levels still short
        short = {E: k - len(got[E]) for E, k in want.items() if len(got[E]) < k}
        if not short:
            break
        # two chains per missing lattice (at least 8): most levels are hit by over half
        target = np.repeat(list(short), [max(2 * d, 8) for d in short.values()])
        blocks = _to_blocks(random_spins(target.size, cfg.L, rng))
        caught = np.zeros(target.size, bool)
        for T in Ts:
            th = _thresholds(1.0 / T)
            for colour in (0, 1):
                _half_sweep(blocks, colour, th, rng)
                E = _blocks_energy(blocks)
                hit = (E == target) & ~caught
                for i in np.flatnonzero(hit):
                    if len(got[target[i]]) < want[target[i]]:
                        got[target[i]].append(_from_blocks(blocks[:, :, i : i + 1])[0])
                        bar.update()
                caught |= hit  # a chain gives at most one lattice
    bar.close()
    missing = {E: k - len(got[E]) for E, k in want.items() if len(got[E]) < k}
    if missing:
        raise GrokscanError(
            f"annealing never reached these energies (E: lattices short): "
            f"{missing}; try more n_sweeps or other bins"
        )
    return np.stack([x for E in sorted(got) for x in got[E]])


def generate(cfg: IsingDataConfig = IsingDataConfig(), *, progress: bool = False) -> IsingData:
    """Make the data set of Hutchison & Yevick (arXiv:2510.25966 §2).

    Training and test lattices are made the same way, from independent random streams: every
    lattice is the state of its own chain (random start, then checkerboard Metropolis with a
    geometric temperature schedule T_start → T_end over n_sweeps sweeps) at the first half
    sweep where the chain's energy equals the level it was assigned. Each bin gets an equal
    share, spread evenly over the energies a lattice can have in it (on 8 × 8 every bin holds
    8 levels, so 125 training lattices per level); chains that miss their level are discarded
    and fresh ones started. The n-inverted set flips n_flip distinct random spins of every
    training lattice and relabels it by its new energy; a lattice whose energy leaves every
    bin is dropped (n_dropped counts them; on the default set they come almost all from the
    top bin, whose upper edge E = 4 is near the energy of random spins).

    The lowest levels have few distinct lattices (E = −120 on 8 × 8: one flipped spin, 128
    lattices), so repeats within and across the splits are unavoidable there.
    """
    cfg.validate()
    train_ss, test_ss, inv_ss = np.random.SeedSequence(cfg.seed).spawn(3)
    x = {}
    for name, ss, n in (("train", train_ss, cfg.n_train), ("test", test_ss, cfg.n_test)):
        rng = np.random.default_rng(ss)
        x[name] = _anneal(cfg, n, rng, progress)
        x[name] = x[name][rng.permutation(n)]  # no order by energy or label
    rng = np.random.default_rng(inv_ss)
    n, L = cfg.n_train, cfg.L
    sites = np.argsort(rng.random((n, L * L)), axis=1)[:, : cfg.n_flip]  # n_flip distinct sites
    flipped = x["train"].reshape(n, L * L).copy()
    np.put_along_axis(flipped, sites, -np.take_along_axis(flipped, sites, 1), 1)
    flipped = flipped.reshape(n, L, L)
    E_inv = energy(flipped)
    keep = cfg.label(E_inv) >= 0
    E = {k: energy(v) for k, v in x.items()}
    return IsingData(
        config=cfg,
        train_x=x["train"],
        train_y=cfg.label(E["train"]),
        train_energy=E["train"].astype(np.int16),
        test_x=x["test"],
        test_y=cfg.label(E["test"]),
        test_energy=E["test"].astype(np.int16),
        inverted_x=flipped[keep],
        inverted_y=cfg.label(E_inv[keep]),
        inverted_energy=E_inv[keep].astype(np.int16),
        inverted_source=np.flatnonzero(keep).astype(np.int32),
        n_dropped=int((~keep).sum()),
    )


# ---------------------------------------------------------------- the file (ISING_DATA.md)


def save_ising(path: str | Path, data: IsingData) -> None:
    """Write a data set to an HDF5 file in the format of ISING_DATA.md (overwrites ``path``)."""
    with h5py.File(path, "w", libver=LIBVER) as f:
        f.attrs.update(
            format=ISING_FORMAT,
            format_version=FORMAT_VERSION,
            grokscan_version=__version__,
            config=json.dumps(asdict(data.config)),
            n_dropped=data.n_dropped,
        )
        for split in SPLITS:
            g = f.create_group(split)
            for key, ds in (("spins", "x"), ("label", "y"), ("energy", "energy")):
                a = getattr(data, f"{split}_{ds}")
                # ±1 int8 lattices compress ~5× with gzip after shuffle; labels and energies too
                g.create_dataset(key, data=a, compression="gzip", compression_opts=9, shuffle=True)
        f["inverted"].create_dataset("source", data=data.inverted_source, compression="gzip")


_DTYPES = {"spins": np.int8, "label": np.int8, "energy": np.int16, "source": np.int32}


def _config_from_json(text, where: str) -> IsingDataConfig:
    """The IsingDataConfig stored as JSON; FileFormatError starting with ``where`` if not."""
    try:
        cfg = json.loads(text)
        return IsingDataConfig(**{**cfg, "bins": tuple(map(tuple, cfg["bins"]))})
    except (KeyError, TypeError, ValueError) as err:
        raise FileFormatError(f"{where} ({err})") from None


def load_ising(path: str | Path) -> IsingData:
    """Read and check a data set written by :func:`save_ising`. Raises FileFormatError naming
    the file (and the HDF5 path) when it is missing, not HDF5, not a grokscan Ising file, of
    an unknown version, or inconsistent."""
    f, _ = open_checked(path, ISING_FORMAT, (FORMAT_VERSION,), "a grokscan Ising data set")
    with f:
        cfg = _config_from_json(f.attrs.get("config"), f"{path}: unreadable 'config' attribute")
        arrays = {}
        for split, key in _KEYS:
            name = f"/{split}/{key}"
            if not isinstance(f.get(name), h5py.Dataset):
                raise FileFormatError(f"{path}: missing dataset {name}")
            arrays[split, key] = f[name][()]
        meta = {k: v for k, v in f.attrs.items() if k not in ("config", "n_dropped")}
        n_dropped = int(f.attrs.get("n_dropped", 0))
    return _assemble(cfg, arrays, n_dropped, meta, where=str(path), name="/{}/{}")


_KEYS = [(s, k) for s in SPLITS for k in ("spins", "label", "energy")] + [("inverted", "source")]


def _assemble(cfg, arrays: dict, n_dropped: int, meta: dict, *, where: str,
              name: str) -> IsingData:
    """An IsingData from ``arrays[split, key]``, checked for dtypes, shapes and ±1 spins.
    ``where`` and ``name`` (a format string of split and key) locate a problem in the error."""
    for (split, key), a in arrays.items():
        if a.dtype != _DTYPES[key]:
            raise FileFormatError(f"{where}: {name.format(split, key)} has dtype {a.dtype}, "
                                  f"expected {np.dtype(_DTYPES[key])}")
    L = cfg.L
    for split in SPLITS:
        x, y, E = (arrays[split, k] for k in ("spins", "label", "energy"))
        if x.ndim != 3 or x.shape[1:] != (L, L) or y.shape != (len(x),) or E.shape != y.shape:
            raise FileFormatError(
                f"{where}: {name.format(split, '*')} shapes spins {x.shape}, label {y.shape}, "
                f"energy {E.shape}; expected (n, {L}, {L}), (n,), (n,)"
            )
        if not np.all(np.abs(x) == 1):
            raise FileFormatError(
                f"{where}: {name.format(split, 'spins')} holds values other than ±1")
    if arrays["inverted", "source"].shape != arrays["inverted", "label"].shape:
        raise FileFormatError(f"{where}: {name.format('inverted', 'source')} and "
                              f"{name.format('inverted', 'label')} differ in length")
    a = {f"{split}_{key}": v for (split, key), v in arrays.items()}
    return IsingData(
        config=cfg,
        train_x=a["train_spins"],
        train_y=a["train_label"],
        train_energy=a["train_energy"],
        test_x=a["test_spins"],
        test_y=a["test_label"],
        test_energy=a["test_energy"],
        inverted_x=a["inverted_spins"],
        inverted_y=a["inverted_label"],
        inverted_energy=a["inverted_energy"],
        inverted_source=a["inverted_source"],
        n_dropped=n_dropped,
        meta=meta,
    )


def parse_bins(text: str | Iterable[str]) -> tuple[tuple[int, int], ...]:
    """'-120:-92,-88:-60' → ((-120, -92), (-88, -60)); GrokscanError on anything else."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        bins = tuple(tuple(int(v) for v in p.split(":")) for p in parts if p.strip())
    except ValueError:
        bins = ()
    if not bins or any(len(b) != 2 for b in bins):
        raise GrokscanError(f"bins: expected 'lo:hi,lo:hi,…' with integers, got {text!r}")
    return bins


# ---------------------------------------------------------------- the data of a training run

# data/ising8.h5 beside the package: present in a source checkout and an editable install
SHIPPED = Path(__file__).resolve().parents[3] / "data" / "ising8.h5"
GENERATED = "generated: IsingDataConfig() defaults, seed 0"  # the source of the fallback


def training_data(path: str | Path | None = None) -> tuple[IsingData, str]:
    """The data set a run trains on, and where it came from (a path, or GENERATED).

    ``path`` if given. Without one, the shipped data/ising8.h5 when the package sits in a
    source checkout (or an editable install); otherwise, as from a wheel, the same data set
    generated on the spot from ``IsingDataConfig()`` (seed 0): generation is deterministic and
    takes about a second, and gives the shipped file's arrays exactly.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileFormatError(
                f"--data {path}: no such file (make one with `grokscan ising generate -o {path}`)"
            )
        return load_ising(path), str(path)
    if SHIPPED.is_file():
        return load_ising(SHIPPED), str(SHIPPED)
    return generate(IsingDataConfig()), GENERATED


