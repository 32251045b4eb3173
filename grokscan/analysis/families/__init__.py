"""The metric families of ``grokscan analyze``: what each computes, and what it needs.

Two kinds: weight-only families (weights.py) take the parameters of a block of checkpoints and
compute every measure batched over the block; replayed families (replayed.py) take one
:class:`~grokscan.analysis.families.replayed.Checkpoint`, the model rebuilt with that
checkpoint's weights. Each family declares what it needs of the run (``Family.needs``, the
names in base.py); the driver runs the ones the run allows and says why it left out the others.
A family with SUBSET in its needs (per-sample gradients, Monte-Carlo dropout) runs only on
the checkpoints in ``Setup.subset`` (or its own, ``Setup.subsets``); its rows are NaN
elsewhere. A family with MOMENTS in its needs (moments.py) runs once, on the checkpoints
of ``Setup.moments`` (memorisation and the end), and is stored in ``/moments`` rather than
one row per checkpoint. FAMILIES are the default ones; OPTIONAL ones run only when asked
for.
The replayed families' functions (torch) are imported on their first call: listing the
families (``grokscan metrics``) imports no torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from grokscan.analysis.families import llc_settings as llc
from grokscan.analysis.families import weights as w
from grokscan.analysis.families.base import (
    ATTENTION,
    DRC_RATES,
    FIRST_LAYER,
    LOGIT_MAP,
    MOMENTS,
    REPLAY,
    RESIDUE_VECTORS,
    RESIDUES,
    SUBSET,
    Family,
    FamilySettings,
    Setup,
    basis_matrix,
    neuron_logit_matrix,
    residue_matrix,
)


@dataclass(frozen=True)
class _Later:
    """A family function of a torch-importing module, imported when first called."""

    module: str  # under grokscan.analysis.families
    name: str

    def __call__(self, *args, **kwargs):
        mod = importlib.import_module(f"grokscan.analysis.families.{self.module}")
        return getattr(mod, self.name)(*args, **kwargs)


def _family(fn, *needs: str, doc: str, **more) -> Family:
    return Family(fn, frozenset(needs), doc, **more)


def _dropout_attrs(setup: Setup) -> dict:
    """What the binomial ceiling of dropout's variance needs: the examples and passes behind
    it."""
    s = setup.settings
    return {"examples": 0 if setup.mc_pick is None else len(setup.mc_pick),
            "passes": s.dropout_passes, "rate": s.dropout_rate}


r = {name: _Later("replayed", f"{name}_family") for name in (
    "neurons", "freqloss", "activations", "gradients", "sparsity", "class_accuracy",
    "dropout_variance", "drc")}
mo = {name: _Later("moments", f"{name}_family") for name in ("neuron_maps", "attention_maps")}


EMBEDDING = (RESIDUES, RESIDUE_VECTORS)

FAMILIES: dict[str, Family] = {
    "fourier": _family(w.fourier_family, *EMBEDDING, LOGIT_MAP,
                       doc="Fourier norms, FFD, FCR, Gini, entropy"),
    "neurons": _family(r["neurons"], RESIDUES, REPLAY,
                       doc="per-neuron 2-D spectrum (Nanda)"),
    "freqloss": _family(r["freqloss"], RESIDUES, REPLAY,
                        doc="restricted and excluded loss (Nanda)"),
    "norms": _family(w.norms_family, doc="weight norm per layer and total"),
    "pca/activations": _family(r["activations"], REPLAY,
                               doc="hidden activations on their top principal components"),
    "pca/gradients": _family(r["gradients"], REPLAY, SUBSET,
                             doc="per-sample gradients: PCA and 90 % dimension, train/test"),
    "pca/last_layer": _family(w.last_layer_family, RESIDUES, LOGIT_MAP,
                              doc="last-layer rows on PC pairs and key-frequency planes"),
    "entropy/weights": _family(w.weight_entropy_family,
                               doc="weight entropy per matrix, last-layer autocorrelation"),
    "embedding/cosine": _family(w.cosine_family, *EMBEDDING,
                                doc="cosine-similarity matrix, circulant share, band contrast"),
    "features/cosine": _family(w.feature_cosine_family, FIRST_LAYER,
                               doc="first-layer features: mean |cosine| between units, histogram"),
    "embedding/bimodality": _family(w.bimodality_family, *EMBEDDING,
                                    doc="embedding entries: bimodality coefficient, two modes"),
    "embedding/constellation": _family(w.constellation_family, *EMBEDDING,
                                       doc="residue vectors on their PCs and frequency planes"),
    "sparsity": _family(r["sparsity"], REPLAY,
                        doc="inactive units, small weights, softmax gap"),
    "accuracy/class": _family(r["class_accuracy"], REPLAY,
                              doc="accuracy per true class, train and test"),
    "dropout/variance": _family(r["dropout_variance"], REPLAY, SUBSET,
                                doc="test-accuracy variance over Monte-Carlo dropout passes, "
                                    "and its binomial ceiling p(1 - p)/n", attrs=_dropout_attrs),
    "dropout/drc": _family(r["drc"], REPLAY, SUBSET,
                           doc="Dropout Robustness Curve, rates 0.0-0.9, and its area"),
    "neurons/maps": _family(mo["neuron_maps"], RESIDUES, REPLAY, MOMENTS,
                            doc="activations over (a, b) of neurons per key frequency, at "
                                "memorisation and the end"),
    "attention/maps": _family(mo["attention_maps"], RESIDUES, REPLAY, MOMENTS, ATTENTION,
                              doc="attention from '=' to a and b over (a, b) per head, at "
                                  "memorisation and the end"),
}

# Optional families: never in the default list, only asked for with --families; each needs an
# optional extra (Family.unavailable says which when it is not installed).
OPTIONAL: dict[str, Family] = {
    "llc": Family(_Later("llc", "llc_family"), frozenset((REPLAY, SUBSET)),
                  "local learning coefficient, SGLD (devinterp; pip install 'grokscan[llc]')",
                  unavailable=llc.unavailable, attrs=llc.group_attrs,
                  subset_size=llc.subset_size),
}
ALL: dict[str, Family] = {**FAMILIES, **OPTIONAL}

GROUP_ATTRS = {"dropout/drc": {"rates": list(DRC_RATES)},
               "features/cosine": {"edges": w.COSINE_EDGES.tolist()}}

__all__ = ["ATTENTION", "FAMILIES", "FIRST_LAYER",
           "GROUP_ATTRS", "LOGIT_MAP", "MOMENTS", "REPLAY", "RESIDUES",
           "RESIDUE_VECTORS", "SUBSET", "Family", "FamilySettings", "Setup", "basis_matrix",
           "neuron_logit_matrix", "residue_matrix"]
__all__ += ["ALL", "OPTIONAL"]
