"""What every metric family shares: the :class:`Setup` of an analysis (computed once, sent to
worker processes), the knobs of the replayed families (:class:`FamilySettings`), the
description of a family (:class:`Family`), and the two matrices most families start from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from grokscan.analysis.families.llc_settings import LLCSettings
from grokscan.errors import GrokscanError
from grokscan.groups import discrete_log_order
from grokscan.metrics import fourier as fm
from grokscan.store import layout

# What a family can need of a run (Family.needs):
RESIDUES = "residues"  # a task whose inputs are residues mod P (grokscan.tasks.Residues)
RESIDUE_VECTORS = "residue_vectors"  # the file says where the per-residue vectors are
LOGIT_MAP = "logit_map"  # the file names the neuron-logit map W_L
REPLAY = "replay"  # the model rebuilt and run on the data (a config, a task grokscan rebuilds)
SUBSET = "subset"  # expensive: run on a subset of the checkpoints only
MOMENTS = "moments"  # run once, on the checkpoints of Setup.moments only (stored in /moments)
ATTENTION = "attention"  # a model with attention (the transformer)
FIRST_LAYER = "first_layer"  # an MLP's first hidden layer, hidden.0.W (its units' features)

DRC_RATES = tuple(round(0.1 * i, 1) for i in range(10))  # the Dropout Robustness Curve's rates


@dataclass(frozen=True)
class Family:
    """A metric family of ``grokscan analyze``: ``fn(setup, params_of_a_block)`` for a
    weight-only family, ``fn(setup, checkpoint)`` for a replayed one (REPLAY in ``needs``)."""

    fn: Callable
    needs: frozenset
    doc: str = ""
    # () -> why it cannot run here, in one line (a package of an optional extra missing), or None
    unavailable: Callable[[], str | None] | None = None
    attrs: Callable | None = None  # (setup) -> the attributes of its group in metrics.h5
    # (settings) -> the size of its own subset of checkpoints (SUBSET), instead of --subset
    subset_size: Callable | None = None

    @property
    def replay(self) -> bool:
        return REPLAY in self.needs

    @property
    def expensive(self) -> bool:
        return SUBSET in self.needs

    @property
    def at_moments(self) -> bool:
        """``fn(setup, checkpoints)`` with one Checkpoint per entry of ``Setup.moments``, the
        last one the end; its arrays have a leading moment axis."""
        return MOMENTS in self.needs


@dataclass
class FamilySettings:
    """The knobs of the replayed families (``grokscan analyze --help`` lists them)."""

    samples: int = 1024  # activation PCA: samples drawn once from the data
    grad_samples: int = 128  # per-sample gradients: samples per split (train and test)
    dropout_rate: float = 0.3  # dropout/variance (arXiv:2507.11645 §3.1)
    dropout_passes: int = 100
    dropout_samples: int = 1024  # test samples for the Monte-Carlo passes
    drc_passes: int = 1  # passes per rate of the Dropout Robustness Curve (full test set)
    llc: LLCSettings = field(default_factory=LLCSettings)  # the llc family's SGLD chains

    def check(self) -> None:
        for name in ("samples", "dropout_passes", "dropout_samples", "drc_passes"):
            if getattr(self, name) < 1:
                raise GrokscanError(f"--{name.replace('_', '-')}: expected at least 1, "
                                    f"got {getattr(self, name)}")
        if self.grad_samples < 2:
            raise GrokscanError(f"--grad-samples: expected at least 2, got {self.grad_samples}")
        if not 0 <= self.dropout_rate < 1:
            raise GrokscanError(f"--dropout-rate: expected 0 <= rate < 1, "
                                f"got {self.dropout_rate}")
        self.llc.check()


@dataclass
class Setup:
    """What every block of an analysis needs, computed once (grokscan/analysis/setup.py)."""

    path: str
    p: int  # residues; 0 for a task whose inputs are not residues
    ops: tuple[str, ...]
    basis: str  # the basis of the per-residue (embedding) measures
    op_basis: dict[str, str]  # the basis of each operation's replayed measures
    residue_vectors: list[dict]
    neuron_logit_map: list[dict]  # {"param", "axes"} (store/layout.py)
    n_classes: int = 0
    beta: float = 1.0
    loss: str = "cross_entropy"  # the run's training loss (grokscan/models/loss.py)
    key_freqs: dict[str, list[int]] = field(default_factory=dict)  # per op, final checkpoint
    grid_masks: dict[str, tuple] = field(default_factory=dict)  # per op: (train, test, labels)
    phase: dict[str, tuple[str, int]] = field(default_factory=dict)  # per op (Residues.phase)
    families: tuple[str, ...] = ()
    settings: FamilySettings = field(default_factory=FamilySettings)
    # The data (every example of the task) as rows 0..N-1: labels, train flags, and the fixed
    # sample picks of the activation PCA, the per-sample gradients and Monte-Carlo dropout.
    data_label: np.ndarray | None = None
    data_train: np.ndarray | None = None
    pick: np.ndarray | None = None
    grad_pick: np.ndarray | None = None
    mc_pick: np.ndarray | None = None
    subset: frozenset = frozenset()  # checkpoint indices of the expensive families
    subsets: dict[str, frozenset] = field(default_factory=dict)  # families with their own
    # The constellation: the strongest key frequencies of the final embedding (its planes),
    # and the plane of the first of them at the final checkpoint, fixed for every frame.
    plane_keys: list[int] = field(default_factory=list)
    fixed_axes: np.ndarray | None = None  # (d, 2)
    # The moments of the MOMENTS families: {"memorisation": i, "end": j}, checkpoint indices of
    # the run (memorisation left out when train accuracy never reaches 0.99, or is the end).
    moments: dict[str, int] = field(default_factory=dict)
    # the callable that rebuilds a model of the user's own, which the user named (Options.model)
    model: object = None

    def subset_of(self, family: str) -> frozenset:
        """The checkpoint indices an expensive family runs on."""
        return self.subsets.get(family, self.subset)

    def order(self, basis: str | None = None) -> np.ndarray | None:
        """Residues in discrete-log order when ``basis`` (default: the embedding's) is
        multiplicative, else None."""
        if (basis or self.basis) != "multiplicative":
            return None
        return discrete_log_order(self.p)

    def residues_shown(self) -> np.ndarray:
        """The residues of the embedding pictures, in their order: 0..P-1, or Z_P^* in
        discrete-log order for a multiplicative basis."""
        order = self.order()
        return np.arange(self.p) if order is None else order


def residue_matrix(setup: Setup, params: dict[str, np.ndarray]) -> np.ndarray:
    """The per-residue vectors (n, P, d) of the run's layout (grokscan.store.layout
    ``residue_matrix``)."""
    return layout.residue_matrix(params, setup.residue_vectors)


def neuron_logit_matrix(setup: Setup, params: dict[str, np.ndarray]) -> np.ndarray:
    """W_L transposed, (n, C, d): one row per output class, mapping the last hidden layer
    (the MLP's neurons) to that class's logit."""
    W = layout.logit_map(params, setup.neuron_logit_map)
    n_classes = setup.n_classes or setup.p  # 0: not known yet, every column is a class
    return np.swapaxes(W[..., :n_classes] if n_classes else W, -1, -2)


def basis_matrix(kind: str, p: int) -> np.ndarray:
    return fm.multiplicative_basis(p) if kind == "multiplicative" else fm.additive_basis(p)
