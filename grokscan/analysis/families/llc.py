"""The local learning coefficient (Lau et al., "The Local Learning Coefficient: A
Singularity-Aware Complexity Measure", arXiv:2308.12108) of a checkpoint, estimated with
devinterp's SGLD sampler (``pip install grokscan[llc]``; devinterp 1.x).

The estimator (arXiv:2308.12108 §4, Eq. 9 with the localizing term of §4.1):

    λ̂(w*) = nβ · (E_w[L_n(w)] − L_n(w*)),

the expectation over the tempered posterior localized at w*, ∝ exp(−nβ L_n(w) − γ/2 ‖w − w*‖²),
sampled by SGLD chains started at w* (step ε: Δw = −ε/2 (nβ ∇L_m(w) + γ (w − w*)) + N(0, ε) with
L_m the loss of a minibatch of m). For a regular minimum (a quadratic loss with Hessian H)
λ̂ → d/2 as γ → 0; for γ > 0 and a step ε → 0 it is Σ_i nβ h_i / (2 (nβ h_i + γ)) (h_i
the eigenvalues of H), and at a finite step the value SGLD samples has a factor
1 / (1 − ε p_i / 4) more per term, p_i = nβ h_i + γ (docs/howto/llc.md):
tests/analysis/test_llc.py checks the pipeline against that.

The loss is the run's: cross-entropy of softmax(β · logits) on the train split. The model is
kept in eval mode while sampling (devinterp switches models to train mode; dropout would make
the loss random). Every chain is seeded from ``LLCSettings.seed`` (numpy's SeedSequence, as
devinterp does), and the global torch RNG is restored afterwards: the same seed gives the same
numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from grokscan.analysis.families.llc_settings import (  # noqa: F401 (re-exported)
    EXTRA,
    MODULE,
    SEED_MAX,
    LLCSettings,
    group_attrs,
    subset_size,
    unavailable,
)
from grokscan.models.loss import loss as loss_of


class _Batches(torch.utils.data.DataLoader):
    """Minibatches of (x, y) drawn as tensor slices: a random permutation per pass (from the
    global torch RNG, which devinterp seeds per chain), the last partial batch dropped; the
    whole data in one batch when ``batch`` is n. A plain DataLoader over a TensorDataset
    gathers each batch example by example, several times slower on a small model (devinterp
    asks for a DataLoader: its batch_size)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch: int):
        super().__init__(torch.utils.data.TensorDataset(x, y), batch_size=batch, drop_last=True)
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __iter__(self):
        n = len(self.x)
        if self.batch_size >= n:
            yield self.x, self.y
            return
        order = torch.randperm(n)
        for i in range(len(self)):
            idx = order[i * self.batch_size: (i + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]


class _Frozen(torch.nn.Module):
    """The model in eval mode whatever ``train()`` is asked (devinterp asks for train mode):
    the sampled loss is the deterministic one, dropout off."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.inner = model

    def train(self, mode: bool = True):
        self.training = mode
        self.inner.eval()
        return self

    def forward(self, x):
        return self.inner(x)


def estimate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn,
             s: LLCSettings, *, seed: int | None = None) -> dict[str, np.ndarray]:
    """The LLC of ``model`` at its current weights on the data (x, y) with the mean loss
    ``loss_fn(outputs, y)``: {"mean", "std" (over chains), "chain" (num_chains,), "trace"
    (num_chains, num_draws) the sampled minibatch losses, "init_loss", "accept" (num_chains,)
    MALA acceptance rate per chain, "accept_trace" (num_chains, num_draws − 2)}. The model's
    parameters are left as they were."""
    from devinterp.optim.sgld import SGLD
    from devinterp.slt.mala import MalaAcceptanceRate
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary

    n = len(x)
    nbeta, batch = s.nbeta_for(n), s.batch_for(n)
    loader = _Batches(x, y, batch)
    mala = MalaAcceptanceRate(num_chains=s.num_chains, num_draws=s.num_draws,
                              learning_rate=s.lr, nbeta=nbeta)

    def evaluate(m, data):
        xb, yb = data
        return loss_fn(m(xb), yb), {}

    wrapped = _Frozen(model)
    # devinterp recomputes an init_loss of 0 from minibatches: the smallest float stands for it
    init = _init_loss(wrapped, x, y, loss_fn) or float(np.finfo(np.float64).tiny)
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # devinterp warns on every call (nbeta set, seeds)
        torch.manual_seed(s.seed if seed is None else seed)
        res = estimate_learning_coeff_with_summary(
            wrapped, loader, callbacks=[mala], evaluate=evaluate, sampling_method=SGLD,
            optimizer_kwargs={"lr": s.lr, "localization": s.localization, "nbeta": nbeta},
            num_draws=s.num_draws, num_chains=s.num_chains,
            num_burnin_steps=s.num_burnin_steps, num_steps_bw_draws=s.num_steps_bw_draws,
            init_loss=init, seed=s.seed if seed is None else seed, verbose=False)
    # MalaAcceptanceRate fills columns 1.. of its (chains, draws − 1) trace: column 0 stays 0
    accept = np.asarray(res["mala_accept/trace"], dtype=np.float64)[:, 1:]
    chain = np.array([res[f"llc-chain/{i}"] for i in range(s.num_chains)], dtype=np.float64)
    return {"mean": np.asarray(chain.mean()), "std": np.asarray(chain.std(ddof=1)
                                                              if len(chain) > 1 else 0.0),
            "chain": chain, "trace": np.asarray(res["loss/trace"], dtype=np.float64),
            "init_loss": np.asarray(init, dtype=np.float64),
            "accept": accept.mean(axis=1), "accept_trace": accept}


@torch.no_grad()
def _init_loss(model, x, y, loss_fn) -> float:
    """L_n(w*): the loss on the whole data at the checkpoint (devinterp would average a few
    minibatches)."""
    model.train()  # a no-op for the wrapper: eval mode stays
    return float(loss_fn(model(x), y))


def llc_family(setup, ck) -> dict[str, np.ndarray]:
    """The LLC at one checkpoint (this module's docstring), on the run's train split and loss;
    the chains are seeded with ``LLCSettings.seed``, the same at every checkpoint."""
    s = setup.settings.llc
    rp = ck.rp
    x, y = rp.inputs("train"), torch.from_numpy(np.asarray(rp.split.y_train)).long()
    beta, kind = setup.beta, setup.loss

    def loss(logits, target):
        return loss_of(logits, target, beta=beta, kind=kind)

    try:
        out = estimate(rp.model, x, y, loss, s)
    except RuntimeError as e:  # devinterp stops a chain whose loss is NaN: it diverged
        if "nan" not in str(e).lower():
            raise
        return _diverged(s)
    if not np.isfinite(out["chain"]).all():
        return _diverged(s)
    return {"mean": out["mean"], "std": out["std"], "chain": out["chain"],
            "trace": out["trace"].astype(np.float32), "init_loss": out["init_loss"],
            "accept": out["accept"], "accept_mean": np.asarray(out["accept"].mean()),
            "diverged": np.asarray(0.0)}


def _diverged(s: LLCSettings) -> dict[str, np.ndarray]:
    """The rows of a checkpoint whose chains diverged (a NaN or infinite loss: the step ε too
    large for its curvature): NaN everywhere, ``diverged`` 1, and the report says so."""
    c, d = s.num_chains, s.num_draws
    nan = np.asarray(np.nan)
    return {"mean": nan, "std": nan, "chain": np.full(c, np.nan),
            "trace": np.full((c, d), np.nan, np.float32), "init_loss": nan,
            "accept": np.full(c, np.nan), "accept_mean": nan, "diverged": np.asarray(1.0)}
