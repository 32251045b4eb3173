"""The run's summary, the one place of its concepts: memorisation (train accuracy first ≥
MEMORISED), grokking (test accuracy first ≥ GROKKED), the first crossings of THRESHOLDS, the
delay between the two, the final values; shared by ``info``, the report, ``watch``, the sweep's
table and the onset detectors' labels."""

from __future__ import annotations

import numpy as np

MEMORISED = 0.99  # train accuracy at which a run has memorised its training set
GROKKED = 0.99  # test accuracy at which it has grokked
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.99)  # the accuracies whose first crossings are reported
# the final values a sweep's summary.csv has a column for
FINAL = ("train_acc", "test_acc", "inverted_acc", "train_loss", "test_loss", "weight_norm")


def first_crossing(steps: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """The first step at which ``values`` reaches ``threshold``, or None."""
    hit = np.flatnonzero(np.asarray(values) >= threshold)
    return int(steps[hit[0]]) if hit.size else None


def crossings(steps: np.ndarray, scalars: dict[str, np.ndarray]) -> dict[str, dict]:
    """{"train_acc": {"0.5": step, ...}, "test_acc": {...}} for the accuracies recorded."""
    return {
        key: {str(t): first_crossing(steps, scalars[key], t) for t in THRESHOLDS}
        for key in ("train_acc", "test_acc")
        if key in scalars
    }


def memorised(steps: np.ndarray, scalars: dict[str, np.ndarray]) -> int | None:
    """The step of memorisation: train accuracy first ≥ MEMORISED (None: never, or no train
    accuracy)."""
    acc = scalars.get("train_acc")
    return None if acc is None else first_crossing(steps, acc, MEMORISED)


def grokked(steps: np.ndarray, scalars: dict[str, np.ndarray]) -> int | None:
    """The step of grokking: test accuracy first ≥ GROKKED (None: never, or none recorded)."""
    acc = scalars.get("test_acc")
    return None if acc is None else first_crossing(steps, acc, GROKKED)


def grokking_delay(steps: np.ndarray, scalars: dict[str, np.ndarray]) -> int | None:
    """Steps from memorisation to grokking (None if either never happens)."""
    a, b = memorised(steps, scalars), grokked(steps, scalars)
    return None if a is None or b is None else b - a


def grokked_since(steps: np.ndarray, test_acc: np.ndarray | None) -> int | None:
    """The first step of the stretch of test accuracy ≥ 0.99 that the run ends in, or None:
    where --stop-when-grokked counts from, as if the run had not been interrupted."""
    if test_acc is None or not len(test_acc) or test_acc[-1] < GROKKED:
        return None
    below = np.flatnonzero(np.asarray(test_acc) < GROKKED)
    return int(steps[below[-1] + 1]) if below.size else int(steps[0])


def finished(steps: np.ndarray, test_acc: np.ndarray | None, t) -> bool:
    """Whether a run with these checkpoints is complete for the train settings ``t``: it
    reaches ``t.steps``, or --stop-when-grokked stopped it (test accuracy ≥ 0.99 for the last
    ``t.stop_when_grokked`` steps)."""
    if not len(steps):
        return False
    if steps[-1] >= t.steps:
        return True
    since = grokked_since(steps, test_acc) if t.stop_when_grokked else None
    return since is not None and bool(steps[-1] - since >= t.stop_when_grokked)


def of_run(steps: np.ndarray, scalars: dict[str, np.ndarray]) -> dict:
    """The run's summary: ``crossings`` (:func:`crossings`), ``memorised``, ``grokked``,
    ``delay`` and ``final`` {name: last value} of every scalar recorded (a sweep's table keeps
    the FINAL ones)."""
    final = {k: float(v[-1]) for k, v in scalars.items() if len(v)}
    return {"crossings": crossings(steps, scalars) if len(steps) else {},
            "memorised": memorised(steps, scalars) if len(steps) else None,
            "grokked": grokked(steps, scalars) if len(steps) else None,
            "delay": grokking_delay(steps, scalars) if len(steps) else None,
            "final": final}


def onset_lead(flag: int | None, memorised: int | None, steps: np.ndarray,
               scalars: dict[str, np.ndarray]) -> dict:
    """How far the onset detector's flag came before test accuracy 0.5 (grokscan/onset):
    ``test_0_5`` (its step, or None), and when the flag came first ``lead_steps`` and, when
    the run memorised before test accuracy 0.5, ``lead_fraction`` of that delay."""
    t50 = first_crossing(steps, scalars["test_acc"], 0.5) if "test_acc" in scalars else None
    out = {"test_0_5": t50}
    if flag is not None and t50 is not None and flag < t50:
        out["lead_steps"] = t50 - flag
        if memorised is not None and t50 > memorised:
            out["lead_fraction"] = (t50 - flag) / (t50 - memorised)
    return out


def lead_words(o: dict) -> str:
    """``onset_lead``'s result in words: "test accuracy 0.5 at step 660, 440 steps later
    (71% of the delay from memorisation)"."""
    t50 = o["test_0_5"]
    text = "test accuracy 0.5 " + ("not reached" if t50 is None else f"at step {t50}")
    if "lead_steps" in o:
        text += f", {o['lead_steps']} steps later"
        if "lead_fraction" in o:
            text += f" ({o['lead_fraction']:.0%} of the delay from memorisation)"
    elif o.get("step") is not None and t50 is not None:
        text += " (the flag came late)"
    return text


def model_line(md: dict) -> str:
    """A model config (the ``model`` section of a run's config, as a dict) in words."""
    act = md.get("activation", "relu")
    if md.get("kind") == "transformer":
        return (f"transformer, d_model {md.get('d_embed')}, {md.get('n_heads')} heads, "
                f"d_mlp {md.get('width')} {act}, {md.get('depth')} block(s)"
                + (", attention and unembedding biases" if md.get("attn_bias") else ""))
    if md.get("d_in"):
        inp = f"{md['d_in']} inputs"
    elif md.get("input") == "onehot":
        inp = "one-hot"
    else:
        inp = f"embedding {md.get('d_embed')} ({md.get('input', 'concat')})"
    line = f"MLP, {inp} → {md.get('depth')} × {md.get('width')} {act}"
    if md.get("bias") is False:
        line += ", no biases"
    if md.get("init_scale", 1) != 1:
        line += f", init × {md['init_scale']:g}"
    if md.get("dropout"):
        line += f", dropout {md['dropout']:g}"
    return line


def optimizer_line(o: dict) -> str:
    """A train config (the ``train`` section, as a dict) in words."""
    name = {"adam": "Adam (L2 weight decay)"}.get(o.get("optimizer"), "AdamW")
    return (f"{name} lr {o.get('lr')}, weight decay {o.get('wd')}, betas ({o.get('beta1')}, "
            f"{o.get('beta2')}), {o.get('steps')} steps"
            + (f", batch {o['batch_size']}" if o.get("batch_size") else ", full batch")
            + (f", softmax β {o['beta']:g}" if o.get("beta", 1) != 1 else "")
            + (", MSE loss on one-hot targets" if o.get("loss") == "mse" else "")
            + f", seed {o.get('seed')}")
