"""The report's section on the classes, the first layer's features and the weight norm: on
any classification task, drawn from the metrics present."""

from __future__ import annotations

import numpy as np

from grokscan import figures as F
from grokscan.reporting import words as W
from grokscan.reporting.base import Item, Page, Section


def classes_section(page: Page) -> Section:
    m, mk = page.m, page.markers
    sec = Section("classes", "Classes, features and the weight norm")
    test = m.get("metrics/accuracy/class/test")
    if test is not None and np.isfinite(test).any():
        train = m.get("metrics/accuracy/class/train")
        names = m.task.get("class_names")
        sec.items.append(Item(
            "class_accuracy", "Accuracy per class",
            "Test and train accuracy of each true class against step: whether the network "
            "generalises to every class at once or to some before others. "
            + W.class_words(m.steps, test),
            lambda: F.class_accuracy(m.steps, test, train, markers=mk, class_names=names)))
    cos = m.get("metrics/features/cosine/mean_abs")
    if cos is not None:
        sec.items.append(Item(
            "feature_cosine", "Similarity of the first layer's features",
            "The mean |cosine similarity| between the features of the first hidden layer's "
            "units (each unit's weights over the inputs: pixel templates on an image task), "
            "the measure of Salah & Yevick (arXiv:2507.11645, Eq. 2) taken over units instead "
            "of residues: about sqrt(2/(π d_in)) for random features, larger when units "
            "share a template. In this run " + W.course(m.steps, cos, what="it") + ".",
            lambda: F.series_grid(m.steps, {"first-layer features: mean |cosine|":
                                            {"hidden 0": cos}}, markers=mk, height=3.0)))
    s = m.run_scalars
    # drawn beside the classes (from the scalars alone, but only for an analysis that has
    # them: a page of the weight-only families keeps to those)
    if sec.items and "weight_norm" in s and "test_acc" in s:
        sec.items.append(Item(
            "norm_accuracy", "Accuracy against the weight norm",
            "Train and test accuracy against the total weight norm ‖θ‖₂, one point per "
            "checkpoint joined in order of step (Omnigrok, Liu et al., arXiv:2210.01117 §2: "
            "the \"LU mechanism\"; training accuracy holds over a wide range of norms, test "
            "accuracy rises only near a smaller one, so a large initialisation shrunk by "
            "weight decay passes from memorisation to generalisation as the norm falls). "
            + W.norm_words(m.run_steps, s["weight_norm"], s["test_acc"], mk),
            lambda: F.norm_accuracy(s["weight_norm"], s["test_acc"],
                                    train_acc=s.get("train_acc"), steps=m.run_steps,
                                    markers=mk)))
    return sec
