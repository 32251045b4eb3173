"""The report's llc section (grokscan/reporting/llc.py) on a constructed metrics file: the
convergence test against chains built to pass or fail it, the captions' numbers, and the
figure checks. No devinterp needed: the file is written by the analysis's own writer."""

import json
import os

import figcheck
import numpy as np
import pytest

from grokscan import reporting as R
from grokscan.reporting.base import Page
from grokscan.reporting.llc import DRIFT, drift, llc_section, unconverged
from grokscan.store.metrics import MetricsFile, MetricsWriter

N, CHAINS, DRAWS = 12, 3, 80
STEPS = np.arange(N) * 10
ROWS = [0, 5, 11]  # where the llc was "computed"
NBETA = 50.0


def _stationary(rng, level, init):
    return init + level + 0.01 * level * rng.standard_normal((CHAINS, DRAWS))


def test_the_convergence_test_flags_a_drifting_chain_only():
    rng = np.random.default_rng(0)
    flat = _stationary(rng, 0.1, 1.0)
    assert not unconverged(flat, 1.0).any()
    ramp = flat.copy()
    ramp[1] += np.linspace(0, 0.1, DRAWS)  # chain 1 still rising: its level again over the run
    assert unconverged(ramp, 1.0).tolist() == [False, True, False]
    rel, _ = drift(ramp, 1.0)
    q = DRAWS // 4  # the quarters' means differ by the slope times a quarter
    assert rel[1] == pytest.approx(0.1 / (DRAWS - 1) * q / (ramp[1].mean() - 1.0), rel=0.05)
    # noise alone, even large, is not drift: a 60 % spread around a level of 0.1 moves the
    # quarters' means by more than DRIFT, but not by 3 standard errors
    noisy = 1.0 + 0.1 + 0.06 * rng.standard_normal((CHAINS, DRAWS))
    assert drift(noisy, 1.0)[0].max() > DRIFT and not unconverged(noisy, 1.0).any()


def _write(out):
    rng = np.random.default_rng(1)
    nan = np.full(N, np.nan)
    mean, std, init, accept_mean = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    trace = np.full((N, CHAINS, DRAWS), np.nan)
    accept = np.full((N, CHAINS), np.nan)
    for j, (row, level) in enumerate(zip(ROWS, (0.4, 0.8, 0.1))):
        init[row] = 2.0 - j
        trace[row] = _stationary(rng, level, init[row])
        if j == 1:
            trace[row, 2] += np.linspace(0, 0.6, DRAWS)  # chain 2 at step 50 still rising
        chain = NBETA * (trace[row].mean(1) - init[row])
        mean[row], std[row] = chain.mean(), chain.std(ddof=1)
        accept[row] = [0.5 + 0.1 * j, 0.6, 0.7]
        accept_mean[row] = accept[row].mean()
    block = {"llc/mean": mean, "llc/std": std, "llc/trace": trace, "llc/init_loss": init,
             "llc/accept": accept, "llc/accept_mean": accept_mean}
    attrs = {"num_chains": CHAINS, "num_draws": DRAWS, "num_burnin_steps": 20, "lr": 1e-4,
             "localization": 100.0, "nbeta": NBETA, "batch_size": 64, "n_train": 500,
             "computed_steps": STEPS[ROWS]}
    scalars = {"train_acc": np.r_[0.5, np.ones(N - 1)],
               "test_acc": np.r_[np.zeros(6), np.linspace(0.3, 1, N - 6)],
               "train_loss": np.linspace(2, 0.01, N), "test_loss": np.linspace(3, 0.1, N)}
    meta = {"source": "/nonexistent/run.h5", "config": json.dumps({}), "families": ["llc"],
            "basis": "additive", "op_basis": {}, "p": 0, "ops": [], "key_freqs": {},
            "left_out": {}, "task": {"kind": "ising", "line": "constructed"}}
    os.makedirs(out, exist_ok=True)
    with MetricsWriter(os.path.join(out, "metrics.h5"), attrs=meta, steps=STEPS,
                       scalars=scalars, run_steps=STEPS, run_scalars=scalars, samples={},
                       groups={"llc": attrs}) as w:
        w.write(block, N)
    return out, mean


def test_the_llc_section_states_this_runs_numbers(tmp_path):
    out, mean = _write(tmp_path / "m")
    with MetricsFile(out) as m:
        page = Page(m, R.event_markers(m))
        items = {it.name: it for it in llc_section(page).items}
        assert list(items) == ["llc", "llc_diagnostics"]
        for it in items.values():
            assert figcheck.check_all(it.draw()) == [], it.name
        curve = items["llc"].caption
        assert "computed at 3 checkpoints" in curve
        big = int(np.nanargmax(mean))
        assert f"largest {mean[big]:.3g} (step {STEPS[big]})" in curve
        assert "nβ = 50.0, minibatches of 64 of the 500 train examples" in curve
        # grokking (test accuracy 0.99) at step 110, the last checkpoint: no checkpoint after
        assert "nearest grokking" not in curve
        # memorisation (train accuracy 1) at step 10: the computed steps 0 and 50 on its sides
        assert (f"nearest memorisation (step 10) on either side, steps 0 and 50, have λ̂ = "
                f"{mean[0]:.3g} and {mean[5]:.3g}.") in curve
        diag = items["llc_diagnostics"].caption
        assert "has not converged at 1 of 3 checkpoints: step 50 (1 chain," in diag
        assert "ranges 0.50–0.70" in diag
        # the traces are drawn as nβ (L − L(w*)): the first panel's mean line is λ̂ there
        fig = items["llc_diagnostics"].draw()
        level = [ln for ln in fig.axes[0].lines if len(set(ln.get_ydata())) == 1]
        assert level and level[0].get_ydata()[0] == pytest.approx(mean[0])
    rendered = R.render(out, quiet=True, dpi=30)
    assert "llc" in rendered["sections"]
    assert {"llc.png", "llc_diagnostics.png"} <= set(os.listdir(out / "figures"))
