"""The llc family (grokscan/analysis/families/llc.py): the estimator pipeline against a closed
form, its determinism, and ``grokscan analyze --families llc`` with and without devinterp."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F


def _regular_model(d=8, n=500):
    """A linear regression at its least-squares minimum: the MSE loss is exactly quadratic,
    L(w) = L(w*) + δᵀAδ with A = XᵀX / n, a regular model whose LLC is d/2."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = X @ torch.randn(d, 1, generator=g, dtype=torch.float64) + 0.3 * torch.randn(
        n, 1, generator=g, dtype=torch.float64)
    w = torch.linalg.lstsq(X, y).solution
    model = torch.nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w.T)
    return model, X, y, (X.T @ X / n).numpy()


def _expected(A, nbeta, gamma, eps):
    """E[nβ (L(w) − L(w*))] = Σ nβ a_i σ_i² under the localized tempered posterior
    exp(−nβ δᵀAδ − γ/2 |δ|²) as SGLD samples it: with curvature p = 2nβa + γ, the chain
    δ ← (1 − εp/2) δ + √ε ξ has stationary variance σ² = 1 / (p (1 − εp/4)) (→ 1/p, and the
    sum → d/2, as ε → 0 and γ → 0)."""
    a = np.linalg.eigvalsh(A)
    p = 2 * nbeta * a + gamma
    return float(np.sum(nbeta * a / (p * (1 - eps * p / 4))))


def test_the_llc_of_a_regular_model_is_half_its_dimension():
    pytest.importorskip("devinterp")
    from grokscan.analysis.families.llc import LLCSettings, estimate

    model, X, y, A = _regular_model()
    s = LLCSettings(num_chains=4, num_draws=1500, num_burnin_steps=100, lr=2e-3,
                    localization=1.0, batch_size=0, seed=3)
    before = model.weight.detach().clone()
    out = estimate(model, X, y, F.mse_loss, s)
    nbeta = s.nbeta_for(len(X))
    assert nbeta == pytest.approx(len(X) / math.log(len(X)))
    d = X.shape[1]
    # the posterior's own value (ε → 0) is d/2 up to the localization, γ = 1 against 2nβa ≈ 160
    assert _expected(A, nbeta, s.localization, 0.0) == pytest.approx(d / 2, rel=0.01)
    # the chains' value: 8 % above d/2 at this step (1 / (1 − εp/4)); their mean over 4 × 1500
    # draws has a spread of about 2 % (seeds 3, 4, 5: +4 %, −2 %, +1.6 %)
    want = _expected(A, nbeta, s.localization, s.lr)
    assert out["mean"] == pytest.approx(want, rel=0.08)
    assert out["chain"].shape == (4,) and out["trace"].shape == (4, 1500)
    assert out["std"] == pytest.approx(np.std(out["chain"], ddof=1))
    # full batch, a Gaussian target, εp ≈ 0.32: MALA would accept nearly every step
    assert out["accept_trace"].shape == (4, 1498)
    assert 0.9 < out["accept"].min() <= 1.0
    assert torch.equal(model.weight, before)  # the model is left at w*


def test_the_estimate_is_deterministic_given_the_seed():
    pytest.importorskip("devinterp")
    from grokscan.analysis.families.llc import LLCSettings, estimate

    model, X, y, _ = _regular_model(d=4, n=300)
    s = LLCSettings(num_chains=2, num_draws=30, num_burnin_steps=5, batch_size=64, seed=1)
    torch.manual_seed(123)
    first = estimate(model, X, y, F.mse_loss, s)
    after = torch.rand(1)  # the global RNG is left as it was
    torch.manual_seed(123)
    again = estimate(model, X, y, F.mse_loss, s)
    assert torch.equal(torch.rand(1), after)
    np.testing.assert_array_equal(first["trace"], again["trace"])
    other = estimate(model, X, y, F.mse_loss, LLCSettings(**{**s.__dict__, "seed": 2}))
    assert not np.array_equal(first["trace"], other["trace"])


SMALL = ["--llc-checkpoints", "3", "--llc-chains", "2", "--llc-draws", "20", "--llc-burnin",
         "4", "--llc-seed", "5"]


def test_analyze_llc_on_the_fast_run(fast_run, tmp_path):
    pytest.importorskip("devinterp")
    import h5py
    from click.testing import CliRunner

    from grokscan.cli import main

    before = fast_run.read_bytes()
    runs = {}
    for jobs in ("1", "2"):  # worker processes give the same numbers: seeded per chain
        out = tmp_path / f"j{jobs}"
        r = CliRunner().invoke(main, ["analyze", str(fast_run), "-o", str(out), "--families",
                                      "llc", "--every", "5", "--jobs", jobs, "--threads", "1",
                                      "-q", *SMALL])
        assert r.exit_code == 0, r.output
        runs[jobs] = out
    assert fast_run.read_bytes() == before  # the checkpoint file is never modified
    with h5py.File(runs["1"] / "metrics.h5") as f, h5py.File(runs["2"] / "metrics.h5") as g:
        grp = f["metrics/llc"]
        steps = f["steps"][()]
        done = np.isfinite(grp["mean"][()])
        assert done.sum() == 3 and done[0] and done[-1]  # first and last always in
        np.testing.assert_array_equal(grp.attrs["computed_steps"], steps[done])
        assert json.loads(grp.attrs["num_chains"]) == 2 and json.loads(grp.attrs["seed"]) == 5
        n_train = json.loads(grp.attrs["n_train"])
        assert n_train == 840  # (a+b) mod 41, train fraction 0.5
        assert json.loads(grp.attrs["nbeta"]) == pytest.approx(n_train / math.log(n_train))
        assert grp["trace"].shape == (len(steps), 2, 20) and grp["accept"].shape[1:] == (2,)
        for k in grp:
            np.testing.assert_array_equal(grp[k][()], g[f"metrics/llc/{k}"][()], err_msg=k)
        # the first checkpoint's loss at w*: the recorded train loss of step 0 (β = 1)
        assert grp["init_loss"][0] == pytest.approx(f["scalars/train_loss"][0], rel=1e-5)
    assert (runs["1"] / "figures" / "llc_diagnostics.png").exists()


def test_llc_is_only_run_when_asked_and_needs_its_extra(fast_run, tmp_path, monkeypatch):
    import importlib.util

    from click.testing import CliRunner

    from grokscan.analysis import FAMILIES, Options
    from grokscan.cli import main

    assert "llc" not in Options().families and "llc" not in FAMILIES
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "devinterp" else real(name, *a))
    r = CliRunner().invoke(main, ["analyze", str(fast_run), "-o", str(tmp_path / "o"),
                                  "--families", "norms,llc"])
    assert r.exit_code != 0
    assert r.output.strip().splitlines() == [
        "Error: metric family llc needs devinterp: pip install 'grokscan[llc]'"]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("opt, value", [("--llc-draws", "19"), ("--llc-lr", "0"),
                                        ("--llc-chains", "0"), ("--llc-gamma", "-1")])
def test_bad_llc_settings_are_one_line_errors(fast_run, tmp_path, opt, value):
    from click.testing import CliRunner

    from grokscan.cli import main

    r = CliRunner().invoke(main, ["analyze", str(fast_run), "-o", str(tmp_path / "o"),
                                  "--families", "llc", opt, value])
    assert r.exit_code == 2 and opt in r.output and "Traceback" not in r.output


def test_llc_settings_check():
    from grokscan.analysis.families.llc import LLCSettings
    from grokscan.errors import GrokscanError

    LLCSettings().check()
    for bad in ({"num_draws": 19}, {"lr": 0.0}, {"lr": float("nan")}, {"localization": -1.0},
                {"batch_size": -1}, {"num_chains": 0}, {"localization": float("nan")},
                {"nbeta": float("inf")}, {"seed": -1}, {"seed": 2**63}):
        with pytest.raises(GrokscanError, match="--llc-"):
            LLCSettings(**bad).check()
    s = LLCSettings(batch_size=0)
    assert s.batch_for(840) == 840 and LLCSettings(batch_size=2000).batch_for(840) == 840


def test_diverging_chains_are_recorded_and_reported_not_a_crash(tmp_path):
    """The Ising network of the paper (data/ising8.h5; init × 7, logits near 10³): SGLD at
    the default step diverges there. The analysis finishes; the checkpoint's rows are NaN
    with diverged = 1, and the report says where and why."""
    pytest.importorskip("devinterp")
    from click.testing import CliRunner

    from grokscan.cli import main
    from grokscan.config import resolve
    from grokscan.store.metrics import MetricsFile
    from grokscan.training import train

    train(resolve({"task": "ising", "steps": 40, "every": 20}), tmp_path / "r.h5", quiet=True)
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "r.h5"), "-o", str(tmp_path / "o"),
                                    "--families", "llc", "--llc-draws", "20", "--llc-burnin", "5",
                                    "--llc-checkpoints", "0", "-q", "--threads", "1"])
    assert res.exit_code == 0, res.output
    with MetricsFile(tmp_path / "o") as m:
        flag, mean = m.get("metrics/llc/diverged"), m.get("metrics/llc/mean")
        diverged = m.steps[flag == 1]
        assert diverged.size and np.isnan(mean[flag == 1]).all()
        assert np.isfinite(mean[flag == 0]).all()
    page = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "chains diverged" in page and f"{int(diverged[0])}" in page
