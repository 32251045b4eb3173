"""The forecast of a run: the default detector (grokscan/onset/shipped.py) over its
checkpoints, with the signal computed from the weights exactly as ``grokscan analyze`` computes
it (``metrics/onset``), so that ``train`` as it goes, ``watch`` and ``info`` show the flag the
report shows.

A spectral signal is a measure (Gini, spectral entropy, FFD) of the per-residue vectors'
Fourier norms in one basis: ``fourier/<measure>_embed`` the basis of the task's group, as the
analysis chooses it (multiplicative when every operation's group is, else additive);
``<measure>_add`` and ``<measure>_mul`` the additive and the multiplicative basis (P prime);
``<measure>_best`` the one in which the vectors are sparsest at that checkpoint, among the
additive basis and the multiplicative one at every shift (the largest entropy deficit: the
group basis inferred from the weights, ``fourier.sparsest_basis``, as the onset corpus reads
it, grokscan/studies/corpus.py).
Other signals (``weight_norm``, ``train_loss``) are the run's scalars.
"""

from __future__ import annotations

import numpy as np

from grokscan.groups import is_prime
from grokscan.metrics import fourier as fm
from grokscan.onset.detector import OnsetResult, OnsetSettings, detect
from grokscan.store.layout import residue_matrix

MEASURES = {"gini": fm.gini, "entropy": fm.spectral_entropy, "ffd": fm.ffd}
BASES = ("task", "add", "mul", "best")


def spectral(name: str) -> tuple[str, str] | None:
    """(measure, basis) of a spectral signal's name, or None for any other signal."""
    if name.startswith("fourier/") and name.endswith("_embed"):
        measure, basis = name[len("fourier/"): -len("_embed")], "task"
    elif "_" in name:
        measure, basis = name.rsplit("_", 1)
    else:
        return None
    return (measure, basis) if measure in MEASURES and basis in BASES else None


class Spectrum:
    """The Fourier side of a task with residues: the basis of its group and the layout's
    per-residue vectors (store/SCHEMA.md ``residue_vectors``)."""

    def __init__(self, residues, residue_vectors: list[dict]):
        self.basis = residues.basis
        p = self.p = residues.p
        self.B = fm.multiplicative_basis(p) if self.basis == "multiplicative" \
            else fm.additive_basis(p)
        self.entries = list(residue_vectors)

    @classmethod
    def of(cls, task, residue_vectors) -> Spectrum | None:
        """The spectrum of a task's residue vectors, or None (no residues, or the layout
        names no per-residue vectors)."""
        res = getattr(task, "residues", None)
        return cls(res, residue_vectors) if res is not None and residue_vectors else None

    def vectors(self, params: dict[str, np.ndarray]) -> np.ndarray:
        """(k, P, d): the residue vectors (grokscan.store.layout ``residue_matrix``)."""
        return residue_matrix(params, self.entries)

    def norms(self, params: dict[str, np.ndarray]) -> np.ndarray:
        """(k, n): the Fourier norms of the residue vectors at k checkpoints, in the
        parameters' own precision, as the analysis computes them."""
        return fm.fourier_norms(self.vectors(params), self.B)

    def signal(self, name: str, params: dict[str, np.ndarray]) -> np.ndarray:
        """(k,): the spectral signal ``name`` (the module's docstring) at k checkpoints; NaN
        where its basis does not exist (multiplicative for a P that is not prime)."""
        measure, basis = spectral(name)
        fn = MEASURES[measure]
        if basis == "task":
            return fn(self.norms(params))
        V = self.vectors(params)
        add = fm.fourier_norms(V, fm.additive_basis(self.p))
        if basis == "add":
            return fn(add)
        if not is_prime(self.p):
            return fn(add) if basis == "best" else np.full(len(V), np.nan)
        if basis == "mul":
            return fn(fm.fourier_norms(V, fm.multiplicative_basis(self.p)))
        out = fn(add)
        shift = fm.sparsest_basis(V, self.p)  # NaN: additive, else the multiplicative shift
        for s in np.unique(shift[np.isfinite(shift)]):
            at = shift == s
            out[at] = fn(fm.fourier_norms(V[at], fm.multiplicative_basis(self.p,
                                                                         shift=int(s))))
        return out


def not_applicable(kind: str, *, residues: bool, vectors: bool = True) -> str | None:
    """Why the forecast (the default detector, grokscan/onset/shipped.py) cannot read a run of
    task ``kind``, in the one line that ``train``, ``watch``, ``info`` and the report say
    instead of a flag; None where it can. Every shipped detector that measured well reads the
    Fourier spectrum of the per-residue vectors, which a task without residues mod P (digits,
    parity, Ising) does not have: no detector is judged on such runs, so none is shown."""
    from grokscan.onset.shipped import FORECAST, default

    d = default()
    if d.settings is not None and not spectral(d.settings.signal):
        return None  # a scalar signal: any run has it
    if not residues:
        why = f"the {kind} task has no residues mod P"
    elif not vectors:
        why = "the file names no per-residue vectors"
    else:
        return None
    return (f"{FORECAST}: not applicable ({why}; the default detector, {d.name}, reads the "
            "Fourier spectrum of the per-residue vectors)")


def needs(settings: OnsetSettings) -> str:
    """Where a checkpoint detector's signal comes from: "norms" or "scalars"."""
    return "norms" if spectral(settings.signal) else "scalars"


class Forecast:
    """A checkpoint detector fed a run's checkpoints in order (:meth:`add`), as training
    writes them; ``result`` is what :func:`grokscan.onset.detect` gives over those seen
    (None before the first checkpoint, or where the run lacks the detector's inputs)."""

    def __init__(self, settings: OnsetSettings, spectrum: Spectrum | None):
        self.settings, self.spectrum = settings, spectrum
        self.steps = np.zeros(0, np.int64)
        self.train_acc = self.signal = np.zeros(0)
        self.result: OnsetResult | None = None

    @property
    def possible(self) -> bool:
        """Whether this run has the detector's signal."""
        return needs(self.settings) == "scalars" or self.spectrum is not None

    @property
    def params(self) -> list[str]:
        """The parameters its signal is computed from (none for a scalar)."""
        if needs(self.settings) != "norms" or self.spectrum is None:
            return []
        return sorted({r["param"] for r in self.spectrum.entries})

    def add(self, steps, scalars: dict, params: dict) -> bool:
        """Take k checkpoints in order: ``steps`` (k,), ``scalars`` {name: (k,)} and
        ``params`` {name: (k, ...)} of the parameters :attr:`params` names. True when the
        detector first flags among them."""
        if not self.possible or "train_acc" not in scalars:
            return False
        before = self.result.step if self.result else None
        self._extend(steps, scalars["train_acc"], self._signal(params, scalars))
        return before is None and self.result.step is not None

    def _signal(self, params: dict, scalars: dict) -> np.ndarray:
        """The detector's signal at k checkpoints from their parameters {name: (k, ...)} or
        scalars {name: (k,)}."""
        name = self.settings.signal
        if needs(self.settings) == "norms":
            return self.spectrum.signal(name, params)
        return np.atleast_1d(np.asarray(scalars.get(name, np.nan), float))

    def _extend(self, steps, train_acc, signal) -> None:
        self.steps = np.append(self.steps, np.asarray(steps, np.int64))
        self.train_acc = np.append(self.train_acc, np.asarray(train_acc, float))
        self.signal = np.append(self.signal, np.asarray(signal, float))
        s = self.settings
        self.result = detect(self.steps, {"train_acc": self.train_acc, s.signal: self.signal},
                             s)

    @classmethod
    def of_run(cls, run, settings: OnsetSettings) -> Forecast:
        """The detector over every committed checkpoint of a checkpoint file (a
        ``grokscan.store.reader.Run``); ``result`` stays None where the run lacks its inputs
        (no train accuracy; a spectral signal on a task without residues)."""
        f = cls(settings, Spectrum.of(run.task, run.residue_vectors))
        scalars = run.scalars
        if f.possible and "train_acc" in scalars and run.n:
            f._extend(run.steps, scalars["train_acc"],
                      f._signal({k: run.param(k) for k in f.params}, scalars))
        return f
