"""The report's sections on any task: training curves, principal components of activations
and gradients, weight statistics and dropout, the softmax outputs."""

from __future__ import annotations

import re

import numpy as np

from grokscan import figures as F
from grokscan.errors import FileFormatError
from grokscan.figures import onset as fig_onset
from grokscan.figures._style import EVENTS
from grokscan.figures.weights import zero_shares
from grokscan.reporting import words as W
from grokscan.reporting.base import (
    Item,
    Page,
    Section,
    at_moments,
    finite_rows,
    forecasts,
    moments,
)
from grokscan.summary import first_crossing

RERUN = "re-run grokscan analyze to compute it"  # what an older metrics file lacks


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
    half = None if final is None else first_crossing(m.run_steps, final, 0.5)
    half_words = ("" if final is None else " Test accuracy never reached 0.5." if half is None
                  else f" Test accuracy first reached 0.5 at step {half}.")
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
            f"after training accuracy has saturated{marks}. {run}{half_words}")


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
        said = _clusters_words(m, mk, f"{ga}/{layers[-1]}", labels[()], by=by)
        sec.items.append(Item(
            "activation_pca", "PCA of hidden-layer activations",
            "Each sample's activation vector in each hidden layer, projected on its top two "
            f"principal components and coloured by {by}, at up to four moments (the steps above "
            "the columns; Hutchison & Yevick, arXiv:2510.25966, Figs. 16–18). " + said,
            activations))
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
        said = _gradient_words(m, coords, m.get(f"{gg}/correct"))
        if np.isfinite(coords).all(axis=2).any():
            sec.items.append(Item(
                "gradient_pca", "PCA of per-sample gradients",
                "The gradient of each sample's loss with respect to all weight matrices, "
                "flattened and projected on its top two principal components, at up to four "
                "checkpoints where it was computed (Hutchison & Yevick, arXiv:2510.25966, "
                "Fig. 14); light grey: correctly classified, black: misclassified; dots train, "
                "crosses test (for a few classes, a second row colours them by class). The "
                "axes are on an asinh scale around each panel's median, linear in its core and "
                "logarithmic beyond, so that every point is drawn. " + said, gradients))
    dims = {s: f"{gg}/dim90_{s}" for s in ("train", "test") if m.has(f"{gg}/dim90_{s}")}
    if dims:
        data = {s: m.get(p) for s, p in dims.items()}
        if any(np.isfinite(v).any() for v in data.values()):
            sec.items.append(Item(
                "gradient_dimension", "Dimension of the per-sample gradients",
                "The number of principal components that explain 90 % of the variance of the "
                "per-sample gradients of train and of test samples, on the checkpoints where it "
                "was computed (Hutchison & Yevick, arXiv:2510.25966, Fig. 15). In this run "
                + "; ".join(W.course(m.steps, v, what=f"the {s} dimension")
                            for s, v in data.items()) + ".",
                lambda: F.gradient_dimension(m.steps, data, markers=mk)))
    return sec


def _clusters_words(m, mk: dict, path: str, labels: np.ndarray, *, by: str) -> str:
    """The paper's clusters of one colour, read on the last hidden layer's panels."""
    idx, coords = at_moments(m, [path], mk, 4)
    if coords[0].shape[1] != labels.shape[0]:
        return ""
    layer = path.rsplit("coords_h", 1)[-1]
    return W.clusters_words(m.steps[idx].tolist(), coords[0], labels, by=by) + (
        f" (hidden layer {layer}, the last)" if layer != "0" else "")


def _gradient_words(m, coords, correct) -> str:
    """The paper's lines of misclassified samples, read at the last computed checkpoint with
    both correct and misclassified samples (the last one computed where there is none)."""
    rows = np.flatnonzero(np.isfinite(coords).all(axis=2).any(axis=1))
    if not rows.size:
        return ""
    mixed = [i for i in rows if 0 < np.nanmean(correct[i]) < 1]
    i = mixed[-1] if mixed else rows[-1]
    return W.gradient_words(coords[i], correct[i], step=int(m.steps[i]))


def weights_section(page: Page) -> Section:
    sec = Section("weights", "Weights, sparsity and dropout")
    sec.items += _weight_items(page) + _dropout_items(page)
    return sec


INACTIVE = "the share of hidden units inactive on every input"


def _weight_items(page: Page) -> list[Item]:
    m, mk = page.m, page.markers
    panels, parts, said = {}, [], []
    ent = "metrics/entropy/weights"
    entropy = {n: f"{ent}/{n}" for n in m.names(ent) if not n.startswith("autocorr")}
    if entropy:
        panels["weight entropy"] = entropy
        parts.append("the entropy of each weight matrix's normalised weights")
        said.append(W.entropy_words(m.steps, {n: m.get(p) for n, p in entropy.items()}, mk))
    norms = {n: f"metrics/norms/norm/{n}" for n in m.names("metrics/norms/norm")}
    if m.has("metrics/norms/total"):
        norms["all"] = "metrics/norms/total"
    elif "weight_norm" in m.scalars:
        norms["all"] = "scalars/weight_norm"
    if norms:
        panels["weight norm (L2)"] = norms
        parts.append("the L2 norm of each parameter and of all")
        if "all" in norms:
            said.append("In this run " + W.course(m.steps, m.get(norms["all"]),
                                                  what="the total norm") + ".")
    inactive = {f"hidden {n[len('inactive_h'):]}": f"metrics/sparsity/{n}"
                for n in m.names("metrics/sparsity") if re.fullmatch(r"inactive_h\d+", n)}
    if inactive:
        panels["inactive units (share)"] = inactive
        parts.append(INACTIVE)
        first = next(iter(inactive.items()))
        said.append(W.inactive_words(m.steps, m.get(first[1]), mk).replace(
            "this run", f"this run ({first[0]})", 1))
    small = {n: f"metrics/sparsity/small/{n}" for n in m.names("metrics/sparsity/small")}
    if small:
        panels["small weights |w| < 0.01 (share)"] = small
        parts.append("the share of weights with |w| < 0.01 in each matrix (Hutchison & Yevick, "
                     "arXiv:2510.25966)")
        said.append(_against_init(m, "sparsity", {f"small/{n}": f"the share of small weights "
                                                  f"of {n}" for n in small}))
    peak = next((p for p in ("metrics/entropy/autocorr_peak",
                             "metrics/entropy/weights/autocorr_peak") if m.has(p)), None)
    if peak:
        panels["weight autocorrelation peak"] = {"last layer": peak}
        parts.append("the largest periodic autocorrelation of the weights into each output "
                     "node, averaged over nodes (arXiv:2411.05353, Eq. 7)")
    if not panels:
        return []
    if "inactive units (share)" in zero_shares(
            {t: {lab: m.get(p) for lab, p in c.items()} for t, c in panels.items()}):
        parts[parts.index(INACTIVE)] += (" (0 at every checkpoint here: said above the figure, "
                                         "not drawn)")
    caption = ("Against step: " + "; ".join(parts) + ". Each panel shows one curve per "
               "layer, with the event markers of the training curves. "
               + " ".join(x for x in said if x))
    return [Item("weight_statistics", "Weight statistics", caption,
                 lambda: F.weight_statistics(m.steps, {t: {lab: m.get(p) for lab, p in c.items()}
                                                       for t, c in panels.items()}, markers=mk))]


def _against_init(m, family: str, names: dict) -> str:
    """Sparsity or Gini at the end against initialisation (the group's ``init`` attribute, the
    null of these measures); says so where the metrics file predates it."""
    init = m.attr(f"metrics/{family}", "init")
    if not isinstance(init, dict):
        return ("The values at initialisation, the null of these measures, are not in this "
                f"metrics file: {RERUN}.")
    init = {k: float(v) for k, v in init.items() if isinstance(v, (int, float))}
    step = m.numbers(f"metrics/{family}", "init_step", [0], whole=True, lo=0)[0]
    step = int(step)
    out = []
    for key, what in names.items():
        v = m.get(f"metrics/{family}/{key}")
        ok = np.isfinite(v) if v is not None else None
        if v is not None and ok.any():
            out.append(W.against_init(init.get(key), float(v[ok][-1]), what=what,
                                      init_step=step))
    out = [x for x in out if x]
    return ("Against initialisation (the null): " + "; ".join(out) + ".") if out else ""


def _dropout_items(page: Page) -> list[Item]:
    m, mk = page.m, page.markers
    items = []
    gv = "metrics/dropout/variance"
    if m.has(f"{gv}/variance"):
        var, mean = m.get(f"{gv}/variance"), m.get(f"{gv}/mean")
        if np.isfinite(var).any():
            items.append(_variance_item(m, mk, var, mean))
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
                "Salah & Yevick (arXiv:2507.11645). "
                + W.drc_words(rates, acc[np.flatnonzero(valid)[-1]],
                              step=int(m.steps[np.flatnonzero(valid)[-1]]), markers=mk), drc))
    return items


def _variance_item(m, mk: dict, var, mean) -> Item:
    """The variance under dropout against its binomial ceiling p(1 − p)/n."""
    gv = "metrics/dropout/variance"
    n, passes = (m.numbers(gv, k, whole=True, lo=1) for k in ("examples", "passes"))
    n, passes = (None if a is None or a.size != 1 else int(a[0]) for a in (n, passes))
    has_null = (m.has(f"{gv}/binomial") and n is not None and passes is not None
                and passes >= 2 and mean is not None)
    head = ("Test accuracy over repeated stochastic forward passes with dropout active at "
            "frozen weights: its variance beside the binomial p(1 − p)/n, the variance of n "
            "test examples each right with the mean chance p, and the ratio of "
            "the two with its interval (or, in a file without the null, the mean accuracy), "
            "on the checkpoints where it was computed. "
            "Salah & Yevick (arXiv:2507.11645) read the variance's peak as the onset of "
            "generalisation; a variance held under the binomial peaks wherever accuracy under "
            "dropout passes 0.5 and says no more than that. ")
    if has_null:
        said = W.dropout_words(m.steps, var, mean, n=int(n), passes=int(passes), markers=mk)
        ratio = tuple(m.get(f"{gv}/{k}") for k in ("ratio", "ratio_lo", "ratio_hi"))
        binomial = m.get(f"{gv}/binomial")
    else:
        said = (_variance_words(m.steps, var, mk.get("grokking")) + " The binomial null is not "
                f"in this metrics file: {RERUN} and read the peak against it.")
        ratio = binomial = None
    mean = mean if mean is not None else np.full(m.n, np.nan)
    return Item("dropout_variance", "Variance under dropout", head + said,
                lambda: F.dropout_variance(m.steps, var, mean, markers=mk, binomial=binomial,
                                           ratio=ratio if ratio and ratio[0] is not None
                                           else None))


def _variance_words(steps, var, grokked) -> str:
    """Where this run's variance under dropout peaks, against its grokking step."""
    var = np.asarray(var, dtype=float)
    s = int(steps[int(np.nanargmax(var))])
    if grokked is None:
        return f"In this run it peaks at step {s}; test accuracy never reaches 0.99."
    rel = (f"{grokked - s} steps before" if grokked > s else
           f"{s - grokked} steps after" if s > grokked else "at the step of")
    return f"In this run it peaks at step {s}, {rel} test accuracy 0.99 (step {grokked})."


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
            "softmax probabilities, over all samples and per class. "
            + W.softmax_gap_words(m.steps, gap, mk),
            lambda: F.softmax_gap(m.steps, gap, per, markers=mk, class_names=names)))
    return sec


