"""`grokscan ising …`: equilibrium samples and the Ising classification data set."""

from __future__ import annotations

import json
from pathlib import Path

import click

from grokscan.cli._click import FiniteRange, Group, LazyOptions


@click.group(cls=Group)
def ising():
    """2-D Ising lattices: equilibrium samples checked against Onsager, and the data set of
    Hutchison & Yevick (arXiv:2510.25966) for `grokscan train --task ising`."""


@ising.command()
@click.option("--L", "L", type=click.IntRange(min=2), default=32, show_default=True,
              help="Lattice side (even, at most 4096).")
@click.option("--T", "T", type=FiniteRange(min=0, min_open=True), required=True,
              help="Temperature in units of J/k_B (T_c = 2/ln(1 + √2) ≈ 2.2692).")
@click.option("--n", type=click.IntRange(min=2), default=200, show_default=True,
              help="Independent lattices, each from its own random start; n × L² at most "
              "2^30 spins (1 GiB).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--rounds", type=click.IntRange(min=0), default=None,
              help="Equilibration rounds (Metropolis sweeps + one Swendsen–Wang update) "
              "[default: grows like log L, enough from a random start at any T].")
@click.option("-o", "--out", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the lattices, int8 ±1 of shape (n, L, L), to this .npy file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def sample(L, T, n, seed, rounds, output, as_json, quiet):
    """Sample equilibrium lattices; print mean |m| and energy per spin with standard errors
    (over the independent lattices) beside Onsager's infinite-lattice values.

    \b
    grokscan ising sample --L 32 --T 2.0 --n 200 --seed 0 --json
    """
    import numpy as np

    from grokscan.errors import GrokscanError
    from grokscan.tasks import ising as lib

    if output is not None and not output.parent.is_dir():
        raise GrokscanError(f"{output.parent}: no such directory")
    spins = lib.sample(L, T, n, seed=seed, rounds=rounds, progress=not (quiet or as_json))
    if output is not None:
        np.save(output, spins)  # numpy adds ".npy" to a name without it
    out = {"L": L, "T": T, "seed": seed,
           "rounds": lib.default_rounds(L) if rounds is None else rounds, **lib.summarize(spins),
           "onsager_abs_m": float(lib.onsager_magnetization(T)),
           "onsager_energy": float(lib.onsager_energy(T))}
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"L = {L}, T = {T:g}, n = {n} independent lattices, {out['rounds']} rounds")
    click.echo(f"  |m| per spin    {out['abs_m']:.5f} ± {out['abs_m_se']:.5f}"
               f"   (Onsager, L = ∞: {out['onsager_abs_m']:.5f})")
    click.echo(f"  energy per spin {out['energy']:.5f} ± {out['energy_se']:.5f}"
               f"   (Onsager, L = ∞: {out['onsager_energy']:.5f})")
    if output is not None:
        click.echo(f"  lattices written to {output}")


def _data_options() -> list[click.Option]:
    """The options of `ising generate`, with the defaults of IsingDataConfig."""
    from grokscan.tasks.ising import IsingDataConfig

    d = IsingDataConfig()
    bins = ",".join(f"{lo}:{hi}" for lo, hi in d.bins)
    return [
        click.Option(["--L", "L"], type=click.IntRange(min=2), default=d.L, show_default=True,
                     help="Lattice side (even)."),
        click.Option(["--n-train"], type=click.IntRange(min=1), default=d.n_train,
                     show_default=True, help="Training lattices, split equally over the bins."),
        click.Option(["--n-test"], type=click.IntRange(min=1), default=d.n_test,
                     show_default=True, help="Random test lattices, made the same way."),
        click.Option(["--bins"], default=bins, show_default=True,
                     help="Inclusive energy bins lo:hi, comma-separated; the k-th is label k "
                     "(the paper numbers them from 1)."),
        click.Option(["--n-flip"], type=click.IntRange(min=0), default=d.n_flip,
                     show_default=True, help="Spins flipped per lattice for the n-inverted "
                     "test set."),
        click.Option(["--seed"], type=click.IntRange(min=0), default=d.seed, show_default=True),
    ]


@ising.command(cls=LazyOptions, options=_data_options, at=1)
@click.option("-o", "--out", "output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The HDF5 file to write (format: "
              "grokscan/tasks/ising/ISING_DATA.md).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
def generate(output, force, quiet, L, n_train, n_test, bins, n_flip, seed):
    """Generate the Ising classification data set: lattices annealed from random starts,
    binned by energy, with a random test set and an n-inverted test set.

    \b
    grokscan ising generate -o data/ising8.h5 --seed 0
    """
    import numpy as np

    from grokscan.errors import GrokscanError
    from grokscan.tasks import ising as lib

    if output.exists() and not force:
        raise GrokscanError(f"{output} exists; pass --force to overwrite it")
    if not output.parent.is_dir():
        raise GrokscanError(f"{output.parent}: no such directory")
    cfg = lib.IsingDataConfig(L=L, n_train=n_train, n_test=n_test, bins=lib.parse_bins(bins),
                              n_flip=n_flip, seed=seed)
    data = lib.generate(cfg, progress=not quiet)
    lib.save_ising(output, data)
    if not quiet:
        counts = np.bincount(data.inverted_y, minlength=len(cfg.bins)).tolist()
        click.echo(f"{output}: {len(data.train_x)} train, {len(data.test_x)} test, "
                   f"{len(data.inverted_x)} {n_flip}-inverted (per bin {counts}; "
                   f"{data.n_dropped} left every bin and were dropped)")


COMMANDS = (ising,)
