"""`grokscan ising …`: equilibrium samples and the Ising classification data set."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from grokscan.errors import GrokscanError
from grokscan.tasks import ising as lib


@click.group()
def ising():
    """2-D Ising lattices: equilibrium samples checked against Onsager, and the data set of
    Hutchison & Yevick (arXiv:2510.25966) for `grokscan train --task ising`."""


@ising.command()
@click.option(
    "--L",
    "L",
    type=click.IntRange(min=2),
    default=32,
    show_default=True,
    help="Lattice side (even).",
)
@click.option(
    "--T",
    "T",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help=f"Temperature in units of J/k_B (T_c = {lib.T_C:.4f}).",
)
@click.option(
    "--n",
    type=click.IntRange(min=2),
    default=200,
    show_default=True,
    help="Independent lattices, each from its own random start.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--rounds",
    type=click.IntRange(min=0),
    default=None,
    help="Equilibration rounds (Metropolis sweeps + one Swendsen–Wang update) "
    "[default: grows like log L, enough from a random start at any T].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the lattices, int8 ±1 of shape (n, L, L), to this .npy file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sample(L, T, n, seed, rounds, output, as_json, quiet):
    """Sample equilibrium lattices; print mean |m| and energy per spin with standard errors
    (over the independent lattices) beside Onsager's infinite-lattice values.

    Example: grokscan ising sample --L 32 --T 2.0 --n 200 --seed 0 --json
    """
    try:
        spins = lib.sample(L, T, n, seed=seed, rounds=rounds, progress=not (quiet or as_json))
    except GrokscanError as err:
        raise click.ClickException(str(err)) from None
    if output is not None:
        try:
            np.save(output, spins)  # numpy adds ".npy" to a name without it
        except OSError as err:
            raise click.ClickException(f"{output}: cannot write ({err.strerror or err})") from None
    out = {
        "L": L,
        "T": T,
        "seed": seed,
        "rounds": lib.default_rounds(L) if rounds is None else rounds,
        **lib.summarize(spins),
        "onsager_abs_m": float(lib.onsager_magnetization(T)),
        "onsager_energy": float(lib.onsager_energy(T)),
    }
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"L = {L}, T = {T:g}, n = {n} independent lattices, {out['rounds']} rounds")
    click.echo(
        f"  |m| per spin    {out['abs_m']:.5f} ± {out['abs_m_se']:.5f}"
        f"   (Onsager, L = ∞: {out['onsager_abs_m']:.5f})"
    )
    click.echo(
        f"  energy per spin {out['energy']:.5f} ± {out['energy_se']:.5f}"
        f"   (Onsager, L = ∞: {out['onsager_energy']:.5f})"
    )
    if output is not None:
        click.echo(f"  lattices written to {output}")


_DEFAULT = lib.IsingDataConfig()


@ising.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The HDF5 file to write (format: grokscan/tasks/ISING_DATA.md).",
)
@click.option(
    "--L",
    "L",
    type=click.IntRange(min=2),
    default=_DEFAULT.L,
    show_default=True,
    help="Lattice side (even).",
)
@click.option(
    "--n-train",
    type=click.IntRange(min=1),
    default=_DEFAULT.n_train,
    show_default=True,
    help="Training lattices, split equally over the bins.",
)
@click.option(
    "--n-test",
    type=click.IntRange(min=1),
    default=_DEFAULT.n_test,
    show_default=True,
    help="Random test lattices, made the same way.",
)
@click.option(
    "--bins",
    default=",".join(f"{lo}:{hi}" for lo, hi in _DEFAULT.bins),
    show_default=True,
    help="Inclusive energy bins lo:hi, comma-separated; "
    "the k-th is label k (the paper numbers them from 1).",
)
@click.option(
    "--n-flip",
    type=click.IntRange(min=0),
    default=_DEFAULT.n_flip,
    show_default=True,
    help="Spins flipped per lattice for the n-inverted test set.",
)
@click.option("--seed", type=int, default=_DEFAULT.seed, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def generate(output, L, n_train, n_test, bins, n_flip, seed, force, quiet):
    """Generate the Ising classification data set: lattices annealed from random starts,
    binned by energy, with a random test set and an n-inverted test set.

    Example: grokscan ising generate -o data/ising8.h5 --seed 0
    """
    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    if not output.parent.is_dir():
        raise click.ClickException(f"{output.parent}: no such directory")
    try:
        cfg = lib.IsingDataConfig(
            L=L, n_train=n_train, n_test=n_test, bins=lib.parse_bins(bins), n_flip=n_flip, seed=seed
        )
        data = lib.generate(cfg, progress=not quiet)
        lib.save_ising(output, data)
    except GrokscanError as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"{output}: cannot write ({err.strerror or err})") from None
    if not quiet:
        counts = np.bincount(data.inverted_y, minlength=len(cfg.bins)).tolist()
        click.echo(
            f"{output}: {len(data.train_x)} train, {len(data.test_x)} test, "
            f"{len(data.inverted_x)} {n_flip}-inverted (per bin {counts}; "
            f"{data.n_dropped} left every bin and were dropped)"
        )
