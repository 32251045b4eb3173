"""The report's sections on any task: training curves, principal components of activations
and gradients, weight statistics and dropout, the softmax outputs."""

from __future__ import annotations

import re

import numpy as np

from grokscan import figures as F
from grokscan.errors import FileFormatError
from grokscan.figures import onset as fig_onset
from grokscan.figures._style import EVENTS
from grokscan.reporting.base import (
    Item,
    Page,
    Section,
    at_moments,
    finite_rows,
    forecasts,
    moments,
)


def training_section(page: Page) -> Section:
    m, mk = page.m, page.markers
    sec = Section("training", "Training curves")
    if any(k.endswith(("_loss", "_acc")) for k in m.scalars):
        sec.items.append(Item(
            "training_curves", "Loss and accuracy", _training_caption(m, mk),
            lambda: F.training_curves(m.steps, m.scalars, markers=mk)))
    fc = forecasts(m)
    if (fc["checkpoint"] or fc["live"]) and {"train_acc", "test_acc"} <= set(m.run_scalars):
        sec.items.append(Item(
            "forecast", "The forecast (experimental)" if any(
                fc[k] and fc[k]["detector"].experimental for k in ("checkpoint", "live"))
            else "The forecast", _forecast_caption(m, mk, fc),
            lambda: fig_onset.forecast(m.run_steps, m.run_scalars["train_acc"],
                                       m.run_scalars["test_acc"], checkpoint=fc["checkpoint"],
                                       live=fc["live"], memorisation=mk.get("memorisation"))))
    return sec


def _forecast_caption(m, mk: dict, fc: dict) -> str:
    """What the forecast figure draws, each detector's record on held-out runs, and what it
    did in this run, computed from the run's numbers: flagged and followed by test accuracy
    0.5 (the lead), flagged and not followed (within this run), or silent."""
    from grokscan.summary import lead_words, onset_lead

    parts = ["Each onset detector that ran, named, with its score at the checkpoints "
             "(a checkpoint detector: the relative change of one training-side signal since "
             "memorisation) or at every step (the in-loop model: a logistic model's "
             "probability), its threshold and its flag (dotted); below, the accuracies. No "
             "detector sees a test example. A flag is a forecast that test accuracy will rise, "
             "not a finding: each detector is shown with what it did on held-out runs."]
    for key in ("checkpoint", "live"):
        d = fc[key]
        if d is None:
            continue
        det = d["detector"]
        role = "the default forecast" if fc["shown"] == key else "not the default forecast"
        lead = onset_lead(d["step"], mk.get("memorisation"), m.run_steps, m.run_scalars)
        if d["step"] is None:
            run = f"in this run it did not flag ({d['reason']}); {lead_words(lead)}"
        elif lead["test_0_5"] is None:
            run = (f"in this run it flagged at step {d['step']} and test accuracy did not "
                   "reach 0.5 by the last checkpoint: the flag was not followed by "
                   "generalisation within this run")
        else:
            run = (f"in this run it flagged at step {d['step']}; "
                   f"{lead_words({**lead, 'step': d['step']})}")
        parts.append(f"{det.name} ({role}{'; experimental' if det.experimental else ''}): "
                     f"{det.reliability()}; {run}.")
    return " ".join(parts)


def _training_caption(m, mk: dict) -> str:
    """What the curves show, the event lines only where this run has them, and this run's
    crossings (from its scalars at every checkpoint)."""
    mem, grok = mk.get("memorisation"), mk.get("grokking")
    style = {"--": "dashed", "-.": "dash-dotted", ":": "dotted"}
    lines = [f"the {style[EVENTS[k][1]]} line marks {EVENTS[k][2]}"
             for k in ("memorisation", "grokking") if mk.get(k) is not None]
    marks = (f"; {' and '.join(lines)}, and the same lines mark every figure against step "
             "below" if lines else "")
    final = m.run_scalars.get("test_acc")
    if mem is not None and grok is not None:
        run = (f"In this run train accuracy reached 0.99 at step {mem} and test accuracy at "
               f"step {grok}, {grok - mem} steps later.")
    elif mem is not None:
        run = (f"In this run train accuracy reached 0.99 at step {mem}; test accuracy did not "
               f"reach 0.99" + (f" (final {final[-1]:.3f})." if final is not None else "."))
    else:
        run = "In this run train accuracy did not reach 0.99."
    return ("Loss (log scale) and accuracy of each split at every analysed checkpoint. "
            "Grokking (Power et al., arXiv:2201.02177) is the long plateau of test accuracy "
            f"after training accuracy has saturated{marks}. {run}")


def pca_section(page: Page) -> Section:
    m, mk = page.m, page.markers
    sec = Section("pca", "Principal components of activations and gradients")
    ga = "metrics/pca/activations"
    layers = [n for n in m.names(ga) if re.fullmatch(r"coords_h\d+", n)]
    labels = m.f.get("samples/label")
    if layers and labels is not None:
        def activations():
            idx, coords = at_moments(m, [f"{ga}/{n}" for n in layers], mk, 4)
            if coords[0].shape[1] != labels.shape[0]:
                raise FileFormatError(f"{m.path}: /samples/label has {labels.shape[0]} samples "
                                      f"but /{ga}/{layers[0]} has {coords[0].shape[1]}")
            return F.activation_pca(np.stack(coords), labels[()], steps=m.steps[idx].tolist(),
                                    layers=[f"hidden layer {n[len('coords_h'):]}" for n in layers])

        by = m.task.get("class_label") or "class"
        sec.items.append(Item(
            "activation_pca", "PCA of hidden-layer activations",
            "Each sample's activation vector in each hidden layer, projected on its top two "
            f"principal components and coloured by {by}, at up to four moments (the steps above "
            "the columns; Hutchison & Yevick, "
            "arXiv:2510.25966, Figs. 16–18). The paper reports classes that overlap while the "
            "network memorises and separate as it generalises: look for clusters of one colour "
            "in the later panels.", activations))
    gg = "metrics/pca/gradients"
    if m.has(f"{gg}/coords") and m.has(f"{gg}/correct"):
        def gradients():
            xy, ok = m.get(f"{gg}/coords"), m.get(f"{gg}/correct")
            tr = m.get(f"{gg}/is_train")
            # a row is drawn if any sample has coordinates and a correct/misclassified flag
            valid = (np.isfinite(xy).all(axis=2) & np.isfinite(ok)).any(axis=1)
            idx = moments(m.steps, mk, 4, valid=valid)
            lab = m.get(f"{gg}/label") if m.has(f"{gg}/label") else None
            lab = None if lab is None or not valid.any() else lab[np.flatnonzero(valid)[0]]
            return F.gradient_pca(xy[idx], ok[idx], steps=m.steps[idx].tolist(),
                                  is_train=None if tr is None else tr[idx], labels=lab)

        coords = m.get(f"{gg}/coords")
        if np.isfinite(coords).all(axis=2).any():
            sec.items.append(Item(
                "gradient_pca", "PCA of per-sample gradients",
                "The gradient of each sample's loss with respect to all weight matrices, "
                "flattened and projected on its top two principal components, at up to four "
                "checkpoints where it was computed (Hutchison & Yevick, arXiv:2510.25966, "
                "Fig. 14); light grey: correctly classified, black: misclassified; dots train, "
                "crosses test (for a few classes, a second row colours them by class). The "
                "axes are on an asinh scale around each panel's median, linear in its core and "
                "logarithmic beyond, so that every point is drawn. "
                "The paper reports misclassified samples forming lines away from the centre "
                "and correct ones gathering near it.", gradients))
    dims = {s: f"{gg}/dim90_{s}" for s in ("train", "test") if m.has(f"{gg}/dim90_{s}")}
    if dims:
        data = {s: m.get(p) for s, p in dims.items()}
        if any(np.isfinite(v).any() for v in data.values()):
            sec.items.append(Item(
                "gradient_dimension", "Dimension of the per-sample gradients",
                "The number of principal components that explain 90 % of the variance of the "
                "per-sample gradients of train and of test samples, on the checkpoints where it "
                "was computed (Hutchison & Yevick, arXiv:2510.25966, Fig. 15).",
                lambda: F.gradient_dimension(m.steps, data, markers=mk)))
    return sec


def weights_section(page: Page) -> Section:
    sec = Section("weights", "Weights, sparsity and dropout")
    sec.items += _weight_items(page) + _dropout_items(page)
    return sec


def _weight_items(page: Page) -> list[Item]:
    m, mk = page.m, page.markers
    panels, parts = {}, []
    ent = "metrics/entropy/weights"
    entropy = {n: f"{ent}/{n}" for n in m.names(ent) if not n.startswith("autocorr")}
    if entropy:
        panels["weight entropy"] = entropy
        parts.append("the entropy of each weight matrix's normalised weights (Salah & Yevick, "
                     "arXiv:2411.05353 §3.6: it falls as training accuracy rises, rises during "
                     "grokking and falls after)")
    norms = {n: f"metrics/norms/norm/{n}" for n in m.names("metrics/norms/norm")}
    if m.has("metrics/norms/total"):
        norms["all"] = "metrics/norms/total"
    elif "weight_norm" in m.scalars:
        norms["all"] = "scalars/weight_norm"
    if norms:
        panels["weight norm (L2)"] = norms
        parts.append("the L2 norm of each parameter and of all (weight decay shrinks it once "
                     "a general solution takes over)")
    inactive = {f"hidden {n[len('inactive_h'):]}": f"metrics/sparsity/{n}"
                for n in m.names("metrics/sparsity") if re.fullmatch(r"inactive_h\d+", n)}
    if inactive:
        panels["inactive units (share)"] = inactive
        parts.append("the share of hidden units inactive on every input (arXiv:2507.11645: it "
                     "falls while the network memorises, then rises)")
    small = {n: f"metrics/sparsity/small/{n}" for n in m.names("metrics/sparsity/small")}
    if small:
        panels["small weights |w| < 0.01 (share)"] = small
        parts.append("the share of weights with |w| < 0.01 in each matrix (Hutchison & Yevick, "
                     "arXiv:2510.25966)")
    peak = next((p for p in ("metrics/entropy/autocorr_peak",
                             "metrics/entropy/weights/autocorr_peak") if m.has(p)), None)
    if peak:
        panels["weight autocorrelation peak"] = {"last layer": peak}
        parts.append("the largest periodic autocorrelation of the weights into each output "
                     "node, averaged over nodes (arXiv:2411.05353, Eq. 7)")
    if not panels:
        return []
    caption = ("Against step: " + "; ".join(parts) + ". Each panel shows one curve per "
               "layer, with the event markers of the training curves.")
    return [Item("weight_statistics", "Weight statistics", caption,
                 lambda: F.weight_statistics(m.steps, {t: {lab: m.get(p) for lab, p in c.items()}
                                                       for t, c in panels.items()}, markers=mk))]


def _dropout_items(page: Page) -> list[Item]:
    m, mk = page.m, page.markers
    items = []
    gv = "metrics/dropout/variance"
    if m.has(f"{gv}/variance"):
        var, mean = m.get(f"{gv}/variance"), m.get(f"{gv}/mean")
        if np.isfinite(var).any():
            items.append(Item(
                "dropout_variance", "Variance under dropout",
                "Test accuracy over repeated stochastic forward passes with dropout active at "
                "frozen weights: its variance and its mean, on the checkpoints where it was "
                "computed (Salah & Yevick, arXiv:2507.11645). In the paper the variance is near "
                "zero while the network memorises, peaks at the onset of generalisation and "
                "falls back after. " + _variance_words(m.steps, var, mk.get("grokking")),
                lambda: F.dropout_variance(m.steps, var, mean if mean is not None
                                           else np.full(m.n, np.nan), markers=mk)))
    gd = "metrics/dropout/drc"
    if m.has(f"{gd}/accuracy"):
        acc = m.get(f"{gd}/accuracy")
        valid = finite_rows(acc)
        if valid.any():
            rates = m.numbers(gd, "rates", np.arange(acc.shape[1]) / 10, lo=0, hi=1)

            def drc():
                idx = moments(m.steps, mk, 6, valid=valid)
                return F.dropout_robustness(rates, acc[idx], steps=m.steps[idx].tolist())

            items.append(Item(
                "dropout_robustness", "Dropout Robustness Curve",
                "Test accuracy against the dropout rate applied at inference, at up to six "
                "checkpoints from early (light) to late (dark): the Dropout Robustness Curve of "
                "Salah & Yevick (arXiv:2507.11645). In the paper the curve is flat near chance "
                "while the network memorises; after grokking accuracy is unaffected below a "
                "rate of about 0.2 and holds until about 0.5. "
                + _robustness_words(m.steps, rates, acc, valid), drc))
    return items


def _variance_words(steps, var, grokked) -> str:
    """Where this run's variance under dropout peaks, against its grokking step."""
    var = np.asarray(var, dtype=float)
    s = int(steps[int(np.nanargmax(var))])
    if grokked is None:
        return f"In this run it peaks at step {s}; test accuracy never reaches 0.99."
    rel = (f"{grokked - s} steps before" if grokked > s else
           f"{s - grokked} steps after" if s > grokked else "at the step of")
    return f"In this run it peaks at step {s}, {rel} test accuracy 0.99 (step {grokked})."


def _robustness_words(steps, rates, acc, valid) -> str:
    """This run's last computed curve at rate 0 and at the rate nearest 0.5."""
    j = int(np.flatnonzero(valid)[-1])
    i0, i5 = int(np.argmin(np.abs(rates))), int(np.argmin(np.abs(rates - 0.5)))
    return (f"In this run, at step {int(steps[j])}: accuracy {acc[j, i0]:.2f} at rate "
            f"{rates[i0]:g} and {acc[j, i5]:.2f} at rate {rates[i5]:g}.")


def output_section(page: Page) -> Section:
    m, mk = page.m, page.markers
    sec = Section("output", "Softmax outputs")
    if m.has("metrics/sparsity/softmax_gap"):
        gap = m.get("metrics/sparsity/softmax_gap")
        per = m.get("metrics/sparsity/softmax_gap_class")
        # a legend per class when the task names its classes (a few of them)
        names = m.task.get("class_names") if per is not None else None
        if names is not None and len(names) != per.shape[1]:
            names = None
        sec.items.append(Item(
            "softmax_gap", "Softmax gap",
            "The mean over samples of P_max − P_second, the gap between the two largest "
            "softmax probabilities, over all samples and per class (Hutchison & Yevick, "
            "arXiv:2510.25966). In the paper the gap dips during grokking.",
            lambda: F.softmax_gap(m.steps, gap, per, markers=mk, class_names=names)))
    return sec


