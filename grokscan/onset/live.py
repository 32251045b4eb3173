"""The in-loop onset detector: training-side signals at every step, normalised against the
run's own memorisation plateau, combined by a frozen logistic model (the protocol:
grokscan/onset/__init__.py; the model: grokscan/onset/model.json, fitted by
scripts/fit_onset.py on the tuning sweeps only).

At every step the training loop (or a user's, through ``Recorder.observe``) gives the train
loss and accuracy of that step's batch and the model; :func:`signals` adds measures of the
weights and of the gradient: the weight norm, the Gini and spectral entropy of the Fourier
norms of the embedding (Nanda et al., arXiv:2301.05217 §4; Furuta et al., arXiv:2402.16726)
and of the neuron-logit map, and the Gini of the embedding gradient's Fourier norms. None of
them sees a test example.

:class:`Monitor` turns those values into a score, causally, one step at a time:

- memorisation is the first step whose train accuracy is ≥ 0.99; its step m sets the run's
  own time scale;
- the plateau: the ``window(m)`` steps from m on (a multiple of m, the model's ``window``)
  give each signal a level (mean) and a noise (standard deviation);
- from then on each signal's feature is its trailing mean over ``trail(m)`` steps, as a
  z-score against that plateau, compressed as sign(z)·log(1 + |z|);
- the score is the logistic model's probability on those features; it flags the onset at
  the first step where the score has stayed ≥ the model's threshold for ``trail(m)`` steps.

The same Monitor runs inside the loop and offline (:func:`replay`, over the series stored in
run.h5), so the flag read back equals the one that fired during training.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from importlib import resources

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.metrics import fourier as fm
from grokscan.onset.detector import check_training_side
from grokscan.store.layout import logit_map, residue_matrix
from grokscan.summary import MEMORISED

SIGNALS = ("train_loss", "train_acc", "weight_norm", "gini_embed", "entropy_embed",
           "gini_logit", "entropy_logit", "gini_grad")
MODEL_FORMAT = "grokscan-onset-model"
MODEL_VERSION = 1


def window(m: int, factor: float = 0.1) -> int:
    """Steps of the memorisation plateau that set the reference: ``factor`` (the model's
    ``window``) times the steps it took to memorise, at least 5."""
    return max(5, round(factor * m))


def trail(m: int, factor: float = 0.05) -> int:
    """Steps of the trailing mean of each signal, and of the hold: ``factor`` (the model's
    ``trail``) times the steps it took to memorise, at least 3."""
    return max(3, round(factor * m))


# --- the signals ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """Where the spectral signals are read: the residue vectors and neuron-logit map of a
    layout (grokscan/store/layout.py) and the Fourier basis (n, P) of the task's group, as
    float32 (the parameters' type), or None when no modulus is known."""

    residue_vectors: tuple
    neuron_logit_map: tuple
    basis: object  # torch.Tensor (n, P) or None
    n_classes: int

    @classmethod
    def of(cls, layout, p: int | None, multiplicative: bool, n_classes: int) -> Source:
        import torch

        if not p or not layout.residue_vectors:
            return cls((), (), None, n_classes)
        basis = fm.multiplicative_basis(p) if multiplicative else fm.additive_basis(p)
        return cls(tuple(layout.residue_vectors), tuple(layout.neuron_logit_map),
                   torch.as_tensor(basis, dtype=torch.float32), n_classes)


SPECTRAL = ("gini_embed", "entropy_embed", "gini_logit", "entropy_logit", "gini_grad")


def signals(params: dict, grads: dict | None, src: Source, **train_side: float) -> dict:
    """The signals of one step: ``train_side`` (train_loss, train_acc: refused if a name is
    a test-set quantity), the weight norm and, where ``src`` has a basis, the spectral
    measures of ``params`` and ``grads`` ({name: tensor or array}, as the model has them).
    A quantity that cannot be had is NaN. In torch, under the training's thread count, and
    lean (it runs at every step): the three sets of per-residue vectors (embedding, logit map,
    embedding gradient) share one product with the basis; Gini and entropy are those of
    grokscan.metrics.fourier (``gini``, ``spectral_entropy``), in float32."""
    import torch

    from grokscan.models import weight_norm

    _check_names(tuple(train_side))
    out = {k: float(train_side.get(k, math.nan)) for k in ("train_loss", "train_acc")}
    out.update(dict.fromkeys(SPECTRAL, math.nan))
    with torch.no_grad():
        params = {k: torch.as_tensor(v) for k, v in params.items()}
        out["weight_norm"] = weight_norm(params.values())
        if src.basis is None:
            return out
        W = _logit_map(params, src)  # (d, P): its columns are the residues' vectors
        parts = {"embed": residue_matrix(params, src.residue_vectors),
                 "logit": None if W is None else W.T}
        if grads is not None and all(r["param"] in grads for r in src.residue_vectors):
            parts["grad"] = residue_matrix({k: torch.as_tensor(v) for k, v in grads.items()},
                                           src.residue_vectors)
        parts = {k: v.float() for k, v in parts.items() if v is not None}
        X = torch.cat(list(parts.values()), dim=1)
        C = src.basis.to(X.device) @ X  # (n, Σ d), on the parameters' device
        sq = C * C
        widths = [v.shape[1] for v in parts.values()]
        norms = torch.stack([c.sum(1) for c in torch.split(sq, widths, dim=1)]).sqrt()
        gini, entropy = _gini_entropy(norms)
        for k, g, e in zip(parts, gini.tolist(), entropy.tolist()):
            out[f"gini_{k}"] = g
            if k != "grad":
                out[f"entropy_{k}"] = e
    return out


_CHECKED: set = set()


def _check_names(names: tuple) -> None:
    if names not in _CHECKED:  # once per set of names, not at every step
        check_training_side(names)
        _CHECKED.add(names)


def _gini_entropy(norms):
    """Gini and spectral entropy of each row of Fourier norms (k, n) in basis order, the
    constant dropped: grokscan.metrics.fourier.gini and spectral_entropy, in torch."""
    import torch

    x = torch.sort(norms[:, 1:], dim=1).values
    m = x.shape[1]
    weight = 2 * torch.arange(m, dtype=x.dtype, device=x.device) - m + 1
    total = x.sum(1)
    gini = torch.where(total > 0, (weight * x).sum(1) / (m * total), torch.zeros_like(total))
    x2 = x * x
    q = x2 / x2.sum(1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    entropy = -(q * torch.log(torch.where(q > 0, q, torch.ones_like(q)))).sum(1)
    return gini, entropy


def _logit_map(params: dict, src: Source):
    """W_L (d, C) over the classes, or None when the map is missing or not one logit per
    residue."""
    if not src.neuron_logit_map:
        return None
    W = logit_map(params, src.neuron_logit_map)
    W = W[:, :src.n_classes] if src.n_classes else W
    return W if W.shape[1] == src.basis.shape[1] else None


# --- the frozen model ----------------------------------------------------------------------

@dataclass(frozen=True)
class OnsetModel:
    """A logistic model over the plateau-normalised signals, frozen as JSON."""

    signals: tuple[str, ...]
    coef: tuple[float, ...]  # one per signal, on the standardised features
    intercept: float
    mean: tuple[float, ...]  # the standardisation of the features (from the tuning rows)
    scale: tuple[float, ...]
    threshold: float
    fitted_on: str  # which sweeps, how many runs and rows
    window: float = 0.1  # the plateau: this many times the steps to memorisation (window())
    trail: float = 0.05  # the trailing mean and the hold, likewise (trail())
    # what it did on held-out runs (grokscan/onset/shipped.py HeldOut), None: never judged
    held_out: dict | None = None

    def __post_init__(self):
        n = len(self.signals)
        if not (len(self.coef) == len(self.mean) == len(self.scale) == n) or n == 0:
            raise GrokscanError(f"onset model: expected one coefficient, mean and scale per "
                                f"signal ({n}), got {len(self.coef)}, {len(self.mean)}, "
                                f"{len(self.scale)}")
        unknown = sorted(set(self.signals) - set(SIGNALS))
        if unknown:
            raise GrokscanError(f"onset model: unknown signal(s) {', '.join(unknown)}; "
                                f"expected some of {', '.join(SIGNALS)}")
        values = (*self.coef, self.intercept, *self.mean, *self.scale, self.threshold,
                  self.window, self.trail)
        if not all(math.isfinite(v) for v in values) or min(self.scale) <= 0 or \
                min(self.window, self.trail) <= 0:
            raise GrokscanError("onset model: expected finite coefficients and positive "
                                "scales")
        if not 0 < self.threshold < 1:
            raise GrokscanError(f"onset model: threshold: expected a probability in (0, 1), "
                                f"got {self.threshold}")

    def probability(self, features: np.ndarray) -> np.ndarray:
        """σ(coef · (features − mean) / scale + intercept), features (..., n_signals)."""
        z = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.coef) + self.intercept)))

    def to_json(self) -> str:
        d = {"format": MODEL_FORMAT, "version": MODEL_VERSION, **self.__dict__}
        if d["held_out"] is None:
            del d["held_out"]
        return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in d.items()},
                          indent=1)

    @classmethod
    def from_json(cls, text: str, where: str = "onset model") -> OnsetModel:
        try:
            d = json.loads(text)
        except ValueError as e:
            raise GrokscanError(f"{where}: not JSON ({e})") from None
        if not isinstance(d, dict) or d.get("format") != MODEL_FORMAT:
            raise GrokscanError(f"{where}: expected a {MODEL_FORMAT} file")
        if d.get("version") != MODEL_VERSION:
            raise GrokscanError(f"{where}: onset model version {d.get('version')!r}; this "
                                f"grokscan reads version {MODEL_VERSION}")
        try:
            return cls(tuple(d["signals"]), tuple(map(float, d["coef"])),
                       float(d["intercept"]), tuple(map(float, d["mean"])),
                       tuple(map(float, d["scale"])), float(d["threshold"]),
                       str(d["fitted_on"]), float(d["window"]), float(d["trail"]),
                       _held_out(d.get("held_out"), where))
        except (KeyError, TypeError, ValueError) as e:
            raise GrokscanError(f"{where}: malformed onset model ({e!r})") from None


def _held_out(d, where: str) -> dict | None:
    if d is not None and not isinstance(d, dict):
        raise GrokscanError(f"{where}: held_out: expected an object, got {type(d).__name__}")
    return d


def shipped() -> OnsetModel:
    """The model shipped with grokscan (grokscan/onset/model.json)."""
    text = resources.files("grokscan.onset").joinpath("model.json").read_text()
    return OnsetModel.from_json(text, "grokscan/onset/model.json")


# --- the streaming detector ----------------------------------------------------------------

class Monitor:
    """Feed it every step's signals in order (:meth:`update`); it keeps the memorisation step,
    the plateau, the trailing means and the flag. Causal by construction: the score of a step
    depends on that step and the ones before."""

    def __init__(self, model: OnsetModel):
        self.model = model
        self.idx = [SIGNALS.index(s) for s in model.signals]
        self.memorised: int | None = None
        self.missing: tuple[str, ...] | None = None  # signals NaN at the first step seen
        self.flag: int | None = None
        self.reason = f"train accuracy never reached {MEMORISED:g}"
        self._plateau: list[np.ndarray] = []
        self._level = self._noise = None
        self._recent: deque = deque()
        self._held = 0
        self.features: np.ndarray | None = None  # those of the last step scored

    def update(self, step: int, values: dict | np.ndarray) -> float:
        """The score at ``step`` (NaN before the plateau is known) given the signals {name:
        value} or a row in SIGNALS order."""
        row = values if isinstance(values, np.ndarray) else np.array(
            [values.get(k, math.nan) for k in SIGNALS], np.float64)
        x = row[self.idx]
        if self.missing is None:
            self.missing = tuple(s for s, v in zip(self.model.signals, x) if not np.isfinite(v))
        if self.memorised is None:
            if not row[SIGNALS.index("train_acc")] >= MEMORISED:
                return math.nan
            self.memorised = int(step)
            self.reason = "the memorisation plateau is not yet known"
        m = max(self.memorised, 1)
        if self._level is None:
            self._plateau.append(x)
            if len(self._plateau) < window(m, self.model.window):
                return math.nan
            ref = np.array(self._plateau)
            self._level = ref.mean(0)
            self._noise = ref.std(0) + 1e-6 * np.abs(self._level) + 1e-12
            self._recent = deque(maxlen=trail(m, self.model.trail))
            self.reason = "no flag yet: the score stayed below the threshold"
            return math.nan
        self._recent.append(x)
        z = (np.mean(self._recent, axis=0) - self._level) / self._noise
        feats = self.features = np.sign(z) * np.log1p(np.abs(z))
        if not np.isfinite(feats).all():
            self.reason = missing_reason(self.missing) or \
                f"no flag: a signal is not finite at step {step}"
            return math.nan
        score = float(self.model.probability(feats))
        self._held = self._held + 1 if score >= self.model.threshold else 0
        hold = trail(m, self.model.trail)
        if self.flag is None and self._held >= hold:
            self.flag = int(step)
            self.reason = (f"score ≥ {self.model.threshold:.3g} for {hold} steps, "
                           f"memorised at step {self.memorised}")
        return score


# what gives each signal: the layout entry or the observe() argument it is read from
GIVEN_BY = {"train_loss": "observe(train_loss=...)", "train_acc": "observe(train_acc=...)",
            "gini_embed": "the layout's residue_vectors (and a task with residues mod P)",
            "entropy_embed": "the layout's residue_vectors (and a task with residues mod P)",
            "gini_grad": "the layout's residue_vectors (and a task with residues mod P)",
            "gini_logit": "the layout's neuron_logit_map",
            "entropy_logit": "the layout's neuron_logit_map"}


def missing_reason(missing) -> str | None:
    """Why the detector cannot score: the signals missing from the first step, and what would
    give each; None when none was."""
    if not missing:
        return None
    by: dict[str, list[str]] = {}
    for s in missing:
        by.setdefault(GIVEN_BY.get(s, "?"), []).append(s)
    what = "; ".join(f"{', '.join(names)}: give {g}" for g, names in by.items())
    return f"no flag: signals missing from the first step ({what})"


def features(steps, rows: np.ndarray, signals_used: tuple[str, ...], window: float = 0.1,
             trail: float = 0.05) -> np.ndarray:
    """The features a Monitor scores at each step, (n, len(signals_used)), NaN where it has
    none: for fitting a model (scripts/fit_onset.py) on the numbers the Monitor sees, with
    its ``window`` and ``trail`` factors."""
    k = len(signals_used)
    mon = Monitor(OnsetModel(signals_used, (0.0,) * k, 0.0, (0.0,) * k, (1.0,) * k, 0.5, "",
                             window, trail))
    out = np.full((len(steps), k), np.nan)
    for i, (s, row) in enumerate(zip(steps, rows)):
        mon.features = None
        mon.update(int(s), row)
        if mon.features is not None:
            out[i] = mon.features
    return out


def replay(steps, rows: np.ndarray, model: OnsetModel) -> tuple[np.ndarray, Monitor]:
    """Run a fresh Monitor over stored rows (n, len(SIGNALS)) in order: (scores, monitor)."""
    mon = Monitor(model)
    scores = np.array([mon.update(int(s), r) for s, r in zip(steps, rows)])
    return scores, mon
