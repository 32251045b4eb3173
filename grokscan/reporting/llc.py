"""The report's section on the local learning coefficient (the optional llc family): λ̂
against step and the SGLD diagnostics, with captions computed from the stored chains."""

from __future__ import annotations

import numpy as np

from grokscan.figures.llc import llc_curve, llc_diagnostics
from grokscan.reporting.base import Item, Page, Section, finite_rows, moments

G = "metrics/llc"
# A chain has not converged when its last quarter's mean loss differs from its third
# quarter's by more than DRIFT of its own λ̂ / nβ (its mean excess loss) and by more than Z
# standard errors of that difference, each quarter's from the means of BATCHES consecutive
# stretches of it (batch means: the draws are autocorrelated).
DRIFT, Z, BATCHES = 0.1, 3.0, 5
N_SHOWN = 4  # checkpoints whose traces the diagnostics figure shows


def drift(trace, init_loss) -> tuple[np.ndarray, np.ndarray]:
    """Per chain, the difference of the mean sampled loss between the last and the third
    quarter of the draws: over the chain's mean excess loss above L(w*) (its λ̂ / nβ), and in
    standard errors of the difference (batch means). trace: (chains, draws), at least
    4 × BATCHES draws."""
    trace = np.asarray(trace, dtype=float)
    q = trace.shape[-1] // 4
    b = q // BATCHES * BATCHES  # each quarter's last b draws, in BATCHES stretches
    last, third = trace[..., -q:], trace[..., -2 * q: -q]
    diff = np.abs(last.mean(-1) - third.mean(-1))
    excess = np.abs(trace.mean(-1) - float(init_loss))

    def var_of_mean(x):
        means = x[..., -b:].reshape(*x.shape[:-1], BATCHES, -1).mean(-1)
        return means.var(-1, ddof=1) / BATCHES

    se = np.sqrt(var_of_mean(last) + var_of_mean(third))
    tiny = np.finfo(float).tiny
    return diff / np.maximum(excess, tiny), diff / np.maximum(se, tiny)


def unconverged(trace, init_loss) -> np.ndarray:
    """Per chain: True where it fails the convergence test (DRIFT and Z)."""
    rel, z = drift(trace, init_loss)
    return (rel > DRIFT) & (z > Z)


def llc_section(page: Page) -> Section:
    m, mk = page.m, page.markers
    sec = Section("llc", "Local learning coefficient")
    if not m.has(f"{G}/mean"):
        return sec
    mean, std = m.get(f"{G}/mean"), m.get(f"{G}/std")
    valid = finite_rows(mean)
    flag = m.get(f"{G}/diverged")
    diverged = [int(t) for t in m.steps[flag == 1]] if flag is not None else []
    bad = (f"the SGLD chains diverged (a NaN loss) at step{'s' if len(diverged) > 1 else ''} "
           f"{', '.join(map(str, diverged))}: the step ε = {_number(m, 'lr'):g} is "
           "too large for the loss's curvature there; a smaller --llc-lr would sample it"
           if diverged else "")
    if not valid.any():
        if bad:
            page.left_out.append(("Local learning coefficient", bad))
        return sec
    nbeta = _number(m, "nbeta")
    rows = np.flatnonzero(valid)
    sec.items.append(Item("llc", "Local learning coefficient against step",
                          _curve_caption(m, mk, mean, rows) + (f" No estimate where {bad}."
                                                               if bad else ""),
                          lambda: llc_curve(m.steps, mean, std, markers=mk)))
    if (m.has(f"{G}/trace") and m.has(f"{G}/init_loss") and nbeta > 0
           ):
        shown = moments(m.steps, mk, N_SHOWN, valid=valid)
        init = m.get(f"{G}/init_loss")
        traces = m.rows(f"{G}/trace", shown)
        accept = m.get(f"{G}/accept") if m.has(f"{G}/accept") else np.full((m.n, 1), np.nan)
        sec.items.append(Item(
            "llc_diagnostics", "SGLD chains of the LLC estimate",
            _diagnostics_caption(m, rows, init, accept),
            lambda: llc_diagnostics(m.steps[shown], traces, init[shown], nbeta, m.steps,
                                    accept, markers=mk)))
    return sec


def _number(m, name: str) -> float:
    """One number of the llc group's attributes (0 when absent)."""
    return float(m.numbers(G, name, [0.0])[0])


def _settings_words(m) -> str:
    counts = ("num_chains", "num_draws", "num_burnin_steps", "batch_size", "n_train")
    a = {k: m.numbers(G, k, whole=k in counts) for k in (*counts, "lr", "localization",
                                                          "nbeta")}
    if any(v is None or v.size != 1 for v in a.values()):
        return ""
    a = {k: v[0] for k, v in a.items()}
    return (f" Here {a['num_chains']} chains of {a['num_burnin_steps']} burn-in steps and "
            f"{a['num_draws']} draws, step ε = {a['lr']:g}, localization γ = "
            f"{a['localization']:g}, nβ = {a['nbeta']:.1f}, minibatches of "
            f"{a['batch_size']} of the {a['n_train']} train examples.")


def _curve_caption(m, mk: dict, mean, rows) -> str:
    steps = m.steps
    hi, lo = rows[int(np.argmax(mean[rows]))], rows[int(np.argmin(mean[rows]))]
    words = [f"In this run λ̂ was computed at {len(rows)} checkpoints: "
             f"{mean[rows[0]]:.3g} at step {int(steps[rows[0]])}, "
             f"{mean[rows[-1]]:.3g} at step {int(steps[rows[-1]])}; largest "
             f"{mean[hi]:.3g} (step {int(steps[hi])}), smallest {mean[lo]:.3g} "
             f"(step {int(steps[lo])})."]
    for event in ("memorisation", "grokking"):
        s = mk.get(event)
        if s is None:
            continue
        before, after = rows[steps[rows] <= s], rows[steps[rows] >= s]
        if before.size and after.size and steps[before[-1]] != steps[after[0]]:
            b, a = before[-1], after[0]
            words.append(f"The computed checkpoints nearest {event} (step {s}) on either "
                         f"side, steps {int(steps[b])} and {int(steps[a])}, have λ̂ = "
                         f"{mean[b]:.3g} and {mean[a]:.3g}.")
    return ("The local learning coefficient λ̂ = nβ (E[L(w)] − L(w*)) of the checkpoint w*, "
            "the expectation over SGLD samples of the tempered posterior localized at w* "
            "(Lau et al., arXiv:2308.12108, Eq. 9; devinterp's estimator), on the train set "
            "with the run's loss; bars: ± one standard deviation over chains. It is half an "
            "effective number of parameters (d/2 for a regular minimum of d parameters) and "
            "depends on ε, γ and nβ, so values compare between checkpoints of one setting "
            "only." + _settings_words(m) + " " + " ".join(words))


def _diagnostics_caption(m, rows, init, accept) -> str:
    trace_path = f"{G}/trace"
    failed = []
    for i in rows:
        trace = m.rows(trace_path, np.array([i]))[0]
        bad = unconverged(trace, init[i])
        if bad.any():
            failed.append((int(m.steps[i]), int(bad.sum()), float(drift(trace, init[i])[0]
                                                                  [bad].max())))
    if failed:
        fails = "; ".join(f"step {s} ({k} chain{'s' if k > 1 else ''}, up to {x * 100:.0f} %)"
                          for s, k, x in failed)
        conv = (f"By that test a chain or more has not converged at {len(failed)} of "
                f"{len(rows)} checkpoints: {fails}; read λ̂ there with care (more burn-in "
                "or draws, or another step, would tell).")
    else:
        conv = f"By that test every chain has converged at all {len(rows)} checkpoints."
    acc = accept[rows]
    acc_words = (f" The MALA acceptance rate (devinterp's MalaAcceptanceRate: the probability "
                 f"that a Metropolis-adjusted step would accept the SGLD move; near 1 for a "
                 f"small step, low when the step is too large for the curvature) ranges "
                 f"{np.nanmin(acc):.2f}–{np.nanmax(acc):.2f} over chains and checkpoints."
                 if np.isfinite(acc).any() else "")
    return ("Top: each chain's sampled loss as nβ (L − L(w*)) against the draw (after the "
            "burn-in) at up to four checkpoints; the black line is their mean, the "
            "checkpoint's λ̂. A converged chain wanders about a level; one still rising or "
            "falling has not reached it. The test applied: a chain has not converged when "
            "the mean of its last quarter of draws differs from that of its third quarter by "
            f"more than {DRIFT * 100:g} % of its λ̂ and by more than {Z:g} standard errors of "
            f"the difference (from the means of {BATCHES} stretches of each quarter). "
            f"{conv} Bottom: the acceptance rate of each chain against step."
            + acc_words)
