"""What the run shows, in words computed from its numbers: the report's captions read these
sentences, and a paper's finding is printed only beside a computed statement of whether this run
agrees. Pure functions of arrays (steps, values, the event steps): no file, no drawing, so that
each claim can be tested against constructed runs where it is false and where it is true.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from grokscan.groups import is_prime
from grokscan.metrics import nulls
from grokscan.summary import first_crossing

FLAT = 0.002  # a change below this share of a series' scale is no change
REVERSAL = 0.08  # a move against the trend above this share of the range breaks "monotonically"


def finite(steps, values) -> tuple[np.ndarray, np.ndarray]:
    steps, values = np.asarray(steps), np.asarray(values, dtype=float)
    ok = np.isfinite(values)
    return steps[ok], values[ok]


def g(x: float) -> str:
    """A number as the captions print it."""
    return "—" if x is None or not np.isfinite(x) else f"{x:.4g}"


def _at(steps, values, step) -> float:
    steps, values = finite(steps, values)
    return float(values[int(np.argmin(np.abs(steps - step)))]) if len(steps) else np.nan


def shape(steps, values) -> dict:
    """The course of a series: {"kind": "flat" | "rises" | "falls" | "dips" | "peaks" |
    "varies", "monotonic": bool, the first, last and extreme values and steps}. A dip falls
    and then recovers at least a tenth of its range at each end; a peak the same upside down."""
    s, y = finite(steps, values)
    if len(y) < 2:
        return {"kind": "flat", "monotonic": True, "first": g(y[0]) if len(y) else "—"}
    lo, hi = int(np.argmin(y)), int(np.argmax(y))
    span = float(y[hi] - y[lo])
    scale = max(abs(float(y[hi])), abs(float(y[lo])), 1e-300)
    out = {"first": float(y[0]), "last": float(y[-1]), "first_step": int(s[0]),
           "last_step": int(s[-1]), "min": float(y[lo]), "min_step": int(s[lo]),
           "max": float(y[hi]), "max_step": int(s[hi])}
    if span <= FLAT * scale:
        return {**out, "kind": "flat", "monotonic": True}
    rise = np.max(np.maximum.accumulate(y) - y)  # largest fall after a high
    fall = np.max(y - np.minimum.accumulate(y))  # largest rise after a low
    net = y[-1] - y[0]
    if y[0] - y[lo] > 0.1 * span and y[-1] - y[lo] > 0.1 * span and 0 < lo < len(y) - 1:
        kind = "dips"
    elif y[hi] - y[0] > 0.1 * span and y[hi] - y[-1] > 0.1 * span and 0 < hi < len(y) - 1:
        kind = "peaks"
    elif net > 0:
        kind = "rises"
    else:
        kind = "falls"
    monotonic = (kind == "rises" and rise <= REVERSAL * span) or (
        kind == "falls" and fall <= REVERSAL * span)
    if kind in ("rises", "falls") and abs(net) < 0.5 * span:
        kind = "varies"
    return {**out, "kind": kind, "monotonic": bool(monotonic)}


def course(steps, values, *, what: str = "it") -> str:
    """One clause on a series' course: '<what> rises monotonically from a (step s) to b (step
    t)', '... falls from a to a minimum of b at step t, then rises to c', ..."""
    d = shape(steps, values)
    if d["kind"] == "flat":
        return f"{what} stays near {g(d.get('last', d['first']))}" if "last" in d else \
            f"{what} has one value ({d['first']})"
    a = f"{g(d['first'])} (step {d['first_step']})"
    b = f"{g(d['last'])} (step {d['last_step']})"
    if d["kind"] in ("rises", "falls"):
        mono = " monotonically" if d["monotonic"] else ""
        return f"{what} {d['kind']}{mono} from {a} to {b}"
    if d["kind"] == "dips":
        return (f"{what} falls from {a} to a minimum of {g(d['min'])} at step {d['min_step']}, "
                f"then rises to {b}")
    if d["kind"] == "peaks":
        return (f"{what} rises from {a} to a maximum of {g(d['max'])} at step {d['max_step']}, "
                f"then falls to {b}")
    return (f"{what} varies between {g(d['min'])} (step {d['min_step']}) and {g(d['max'])} "
            f"(step {d['max_step']}), from {a} to {b}")


def window(markers: dict) -> tuple[int, int] | None:
    """The steps of grokking as the captions mean it: from memorisation (train accuracy 0.99)
    to grokking (test accuracy 0.99); None when the run has no such window."""
    mem, grok = markers.get("memorisation"), markers.get("grokking")
    if mem is None or grok is None or grok <= mem:
        return None
    return int(mem), int(grok)


def _inside(steps, values, win):
    s, y = finite(steps, values)
    keep = (s >= win[0]) & (s <= win[1])
    return s[keep], y[keep]


def change_inside(steps, values, markers: dict) -> float | None:
    """The share of a series' total variation (the sum of |steps between checkpoints|) that
    happens between memorisation and grokking; None where the run has no such window or the
    series does not move."""
    win = window(markers)
    s, y = finite(steps, values)
    if win is None or len(y) < 2:
        return None
    moves = np.abs(np.diff(y))
    total = float(moves.sum())
    if total <= 0:
        return None
    inside = (s[1:] > win[0]) & (s[:-1] < win[1])  # the move ends after it starts, and vice versa
    return float(moves[inside].sum()) / total


TRACKS = 0.5  # a measure "tracks" grokking when at least this share of its change is inside


def tracks_words(steps, values, markers: dict, *, what: str) -> tuple[bool | None, str]:
    """(agrees, evidence): does ``what`` change mostly between memorisation and grokking?"""
    share = change_inside(steps, values, markers)
    if share is None:
        return None, (no_window_evidence(markers) if window(markers) is None
                      else f"{what} does not move")
    win = window(markers)
    return share >= TRACKS, (f"{share:.0%} of the change of {what} happens between memorisation "
                             f"(step {win[0]}) and grokking (step {win[1]})")


def _ends(steps, value, bound) -> tuple[int, bool, bool] | None:
    """(first step, within ``bound`` there, above it at the last) over the finite points; None
    where there are none or the bound's finite points do not match them."""
    s, v = finite(steps, value)
    _, b = finite(steps, bound)
    if not len(v) or len(b) != len(v):
        return None
    return int(s[0]), bool(v[0] <= b[0]), bool(v[-1] > b[-1])


def structured_late(steps, value, null_hi) -> bool | None:
    """Within the shuffled null at the first checkpoint and above it at the last (None where
    either is missing)."""
    ends = _ends(steps, value, null_hi)
    return None if ends is None else ends[1] and ends[2]


def grokking_claim(source: str, finding: str, agrees: bool | None, evidence: str,
                   markers: dict) -> str:
    """:func:`claim` of a finding about grokking: without a grokking window there is no verdict,
    and the evidence says why first."""
    if window(markers) is None:
        return claim(source, finding, None, f"{no_window_evidence(markers)}; {evidence}")
    return claim(source, finding, agrees, evidence)


SALAH_YEVICK = "Salah & Yevick (arXiv:2507.11645)"


def cosine_claim(steps, share, null_hi, markers: dict, *, multiplicative: bool) -> str:
    """Salah & Yevick's finding on the cosine matrix, against the circulant share's shuffled
    null (``null_hi`` None: not in the file): within it at initialisation, above it at the end
    of a run that groks."""
    finding = ("it is random at initialisation, with co-diagonal bands when training accuracy "
               "saturates and full structure after grokking (a circulant matrix for a+b"
               + (", here in discrete-log order for a·b" if multiplicative else "") + ")")
    ends = None if null_hi is None else _ends(steps, share, null_hi)
    if ends is None:
        return f"{SALAH_YEVICK} report that {finding}."
    first, within, above = ends
    evidence = (f"the circulant share is {'within' if within else 'above'} its shuffled null at "
                f"step {first} and {'above' if above else 'within'} it at the end")
    return grokking_claim(SALAH_YEVICK, finding, within and above, evidence, markers)


TWO_MODES = 5 / 9  # Sarle's coefficient above this suggests two modes


def bimodality_claim(steps, coefficient, null_hi, markers: dict) -> str:
    """Salah & Yevick's finding on the entries' histogram, against the Gaussian null (``null_hi``
    None: not in the file): within it at initialisation, above 5/9 (two modes) at the end of a
    run that groks."""
    finding = ("the entries form one Gaussian at initialisation that turns into two symmetric "
               "peaks (near ±0.4 there) by the end of grokking, whatever the initialisation")
    s, c = (None, []) if null_hi is None else finite(steps, coefficient)
    if not len(c):
        return f"{SALAH_YEVICK} report that {finding}."
    hi = float(np.nanmax(null_hi))
    evidence = (f"the coefficient is {g(c[0])} at step {int(s[0])} ("
                + ("within" if c[0] <= hi else "above") + " the Gaussian's range) and "
                f"{g(c[-1])} at the end (" + ("above" if c[-1] > TWO_MODES else "below")
                + " 5/9)")
    return grokking_claim(SALAH_YEVICK, finding, bool(c[0] <= hi and c[-1] > TWO_MODES),
                          evidence, markers)


def dips_during(steps, values, markers: dict) -> bool | None:
    """Does the series fall inside the grokking window below its level at both ends of it (by
    a tenth of its range over the run)? None where the run has no window."""
    win = window(markers)
    if win is None:
        return None
    s, y = _inside(steps, values, win)
    _, whole = finite(steps, values)
    if len(y) < 3 or not len(whole):
        return False
    tol = 0.1 * (whole.max() - whole.min())
    return bool(tol > 0 and y.min() < min(y[0], y[-1]) - tol)


def rises_during(steps, values, markers: dict) -> bool | None:
    """Does the series end the grokking window above where it began it (by a tenth of its range
    over the run)? None where the run has no window."""
    win = window(markers)
    if win is None:
        return None
    s, y = _inside(steps, values, win)
    _, whole = finite(steps, values)
    if len(y) < 2:
        return False
    tol = 0.1 * (whole.max() - whole.min())
    return bool(tol > 0 and y[-1] - y[0] > tol)


def claim(source: str, finding: str, agrees: bool | None, evidence: str, *,
          no_window: str = "this run does not grok, so there is no grokking to compare "
                           "with") -> str:
    """A paper's finding quoted as the paper's, beside whether this run agrees."""
    verdict = ("this run agrees" if agrees else "this run does not" if agrees is not None
               else no_window)
    verb = "report" if "et al." in source or "&" in source else "reports"
    return f"{source} {verb} that {finding}; {verdict}: {evidence}."


def no_window_evidence(markers: dict) -> str:
    mem = markers.get("memorisation")
    return ("train accuracy never reaches 0.99" if mem is None else
            f"train accuracy reaches 0.99 at step {mem} and test accuracy never reaches 0.99")


def during(steps, values, markers: dict, *, what: str) -> str:
    """The course of a series from memorisation to grokking, or over the run without them."""
    win = window(markers)
    if win is None:
        return f"over the run {course(steps, values, what=what)}"
    s, y = _inside(steps, values, win)
    return (f"between memorisation (step {win[0]}) and grokking (step {win[1]}) "
            f"{course(s, y, what=what)}")


# --- the run's story ---------------------------------------------------------------------------

def story(steps, train_acc, test_acc, *, markers: dict, key_freqs=None) -> str:
    """The run in a paragraph: memorised at, test accuracy 0.5 at, grokked at or not, the key
    frequencies. ``steps`` and the accuracies: every checkpoint of the run."""
    steps = np.asarray(steps)
    parts = []
    mem, grok = markers.get("memorisation"), markers.get("grokking")
    if train_acc is not None:
        parts.append(f"Train accuracy reached 0.99 at step {mem} (memorisation)." if mem
                     is not None else f"Train accuracy never reached 0.99 (final "
                     f"{g(float(np.asarray(train_acc)[-1]))}).")
    if test_acc is not None:
        test_acc = np.asarray(test_acc, dtype=float)
        half = first_crossing(steps, test_acc, 0.5)
        if half is None:
            parts.append(f"Test accuracy never reached 0.5: it ended at {g(test_acc[-1])} "
                         f"(step {int(steps[-1])}), the best {g(np.nanmax(test_acc))}; the run "
                         "memorised without generalising" + (" within its steps." if mem
                                                             is not None else "."))
        else:
            parts.append(f"Test accuracy first reached 0.5 at step {half}" + (
                f", {half - mem} steps after memorisation" if mem is not None and half >= mem
                else "") + ".")
            if grok is not None:
                parts.append(f"It reached 0.99 at step {grok}: the run grokked"
                             + (f", {grok - mem} steps after memorising." if mem is not None
                                else "."))
            else:
                parts.append(f"It did not reach 0.99 (final {g(test_acc[-1])}): the run "
                             "did not grok within its steps.")
    if key_freqs:
        for op, ks in key_freqs.items():
            if ks:
                which = f" ({op})" if op and len(key_freqs) > 1 else ""
                parts.append(f"Key frequencies at the end{which}: {', '.join(map(str, ks))}.")
    return " ".join(parts)


# --- nulls ---------------------------------------------------------------------------------------

def dropout_words(steps, variance, mean, *, n: int, passes: int, markers: dict) -> str:
    """Dropout's variance against its binomial ceiling (grokscan.metrics.nulls.binomial_test):
    the ratio's range, whether the peak sits where accuracy under dropout is nearest 0.5 (where
    the ceiling is highest), whether the examples' chances differ, and where the peak sits
    against grokking."""
    t = nulls.binomial_test(variance, mean, n, passes)
    if t.peak is None:
        return "The variance was not computed at any checkpoint."
    steps, mean = np.asarray(steps), np.asarray(mean, dtype=np.float64)
    peak, half = int(steps[t.peak]), int(steps[t.half])
    lo, hi = t.ratio_range
    pct = f"{t.level * 100:.3g} %"
    head = (f"In this run the variance is {g(lo)}–{g(hi)} times the binomial p(1 − p)/n of "
            f"{n} test examples (p the mean accuracy under dropout) at the checkpoints where "
            "both are defined. Each example draws its own mask, so the binomial is a ceiling: "
            "the variance reaches it only if every example is equally likely to be right")
    ceiling = nulls.binomial_variance(mean, n)
    share = float(ceiling[t.peak] / ceiling[t.half]) if ceiling[t.half] > 0 else float("nan")
    # how far below the truth a variance over this many passes reads, at 95 %: a peak whose
    # ceiling is within that of the highest is where the highest ceiling puts it
    _, noise, _ = nulls.variance_ratio(0.25 / n, 0.5, n, passes)
    where = (f"its peak, at step {peak} (mean accuracy {g(float(mean[t.peak]))}), sits where "
             f"the ceiling is {g(share)} of its highest (accuracy nearest 0.5: step {half}"
             + ("), within the sampling noise of a variance over "
                f"{passes} passes (down to {g(float(noise))}): the peak is where the highest "
                "ceiling puts it" if share >= noise else
                f", {g(float(mean[t.half]))}), beyond the sampling noise of a variance over "
                f"{passes} passes (down to {g(float(noise))})"))
    if np.isfinite(t.ratio):
        where += f"; there it is {g(t.ratio)} times the ceiling ({pct} interval " \
                 f"{g(t.low)}–{g(t.high)}, χ² over {passes} passes, Bonferroni-corrected)"
    spread = (f"at {len(t.below_rows)} checkpoint(s) the ratio's interval lies below 1: there "
              "the examples differ in their chance of being right under dropout" if
              len(t.below_rows) else "at no checkpoint does the ratio's interval lie below 1: "
              "no sign that the examples differ in their chance of being right")
    above = (f"; {len(t.above_rows)} checkpoint(s) stand above the ceiling, which independent "
             "masks allow only by chance" if len(t.above_rows) else "")
    grok = markers.get("grokking")
    rel = "" if grok is None else (
        f" The peak is {abs(grok - peak)} steps {'before' if peak < grok else 'after'} "
        f"grokking (step {grok})." if peak != grok else " The peak is at grokking.")
    return f"{head}; {where}; {spread}{above}.{rel}"


def bimodality_words(steps, coefficient, null_mean, null_lo, null_hi) -> str:
    """Sarle's coefficient against a Gaussian of as many entries, at the first and last
    checkpoints, and the first step it leaves the Gaussian's range."""
    s, c = finite(steps, coefficient)
    if not len(c):
        return ""
    lo, hi, mean = float(np.nanmax(null_lo)), float(np.nanmax(null_hi)), float(
        np.nanmean(null_mean))
    since = _above_from(c, hi)
    first = (f"it stands above the Gaussian's range from step {int(s[since])} on" if since
             is not None else "it does not stay above the Gaussian's range to the end" if
             (c > hi).any() else "it never leaves the Gaussian's range")
    end = ("above 5/9, two modes" if c[-1] > TWO_MODES else "above the Gaussian's range but below "
           "5/9" if c[-1] > hi else "within the Gaussian's range: no sign of two modes")
    return (f"Null: a Gaussian of as many entries gives {g(mean)} (95 % of samples "
            f"{g(lo)}–{g(hi)}; the coefficient does not depend on the variance). In this run the "
            f"coefficient is {g(c[0])} at step {int(s[0])} and {g(c[-1])} at step {int(s[-1])}, "
            f"{end}; {first}.")


def _above_from(values, bound) -> int | None:
    """The first index from which ``values`` stays above ``bound`` to the end (None: it does
    not end above). Read over every checkpoint, a single crossing of a 95 % bound happens by
    chance; one that holds to the end does not."""
    above = np.asarray(values) > np.asarray(bound)
    if not above.size or not above[-1]:
        return None
    below = np.flatnonzero(~above)
    return int(below[-1]) + 1 if len(below) else 0


def structure_words(steps, value, null_hi, *, what: str, markers: dict) -> str:
    """A cosine-structure score against the same matrix with its residues shuffled (the 95th
    percentile of the shuffles): where it first stands above, and at the end."""
    s, v = finite(steps, value)
    _, nh = finite(steps, null_hi)
    if not len(v) or len(nh) != len(v):
        return ""
    since = _above_from(v, nh)
    mem = markers.get("memorisation")
    first = ("not to the end" if (v > nh).any() else "never") if since is None else (
        f"from step {int(s[since])} on" + (
            f" ({'before' if s[since] < mem else 'after' if s[since] > mem else 'at'} "
            f"memorisation, step {mem})" if mem is not None else ""))
    return (f"the {what} stands above its shuffled-residue null (95th percentile) {first}; at "
            f"the end {g(v[-1])} against {g(nh[-1])}")


def against_init(init: float | None, final: float, *, what: str, init_step: int | None) -> str:
    """A measure at the end against its value at initialisation."""
    if init is None or not np.isfinite(init) or not np.isfinite(final):
        return ""
    if abs(final - init) <= FLAT * max(abs(init), abs(final), 1e-12):
        change = "the same"
    else:
        change = f"{'up' if final > init else 'down'} {g(abs(final - init))}"
    return f"{what} {g(final)} at the end against {g(init)} at step {init_step} ({change})"


# --- claims of the papers ---------------------------------------------------------------------

def softmax_gap_words(steps, gap, markers: dict) -> str:
    """arXiv:2510.25966: the mean softmax gap dips during grokking."""
    return claim("Hutchison & Yevick (arXiv:2510.25966)", "the mean gap dips during grokking",
                 dips_during(steps, gap, markers),
                 during(steps, gap, markers, what="the gap")
                 if window(markers) else f"{no_window_evidence(markers)}; over the run "
                 f"{course(steps, gap, what='the gap')}")


def entropy_words(steps, entropies: dict, markers: dict) -> str:
    """arXiv:2411.05353 §3.6: weight entropy rises during grokking (each matrix)."""
    verdicts = {k: rises_during(steps, v, markers) for k, v in entropies.items()}
    if window(markers) is None:
        agrees = None
        ev = no_window_evidence(markers) + "; " + "; ".join(
            course(steps, v, what=k) for k, v in entropies.items())
    else:
        yes = [k for k, v in verdicts.items() if v]
        agrees = len(yes) == len(verdicts)
        ev = "; ".join(during(steps, v, markers, what=k) if i == 0 else
                       course(*_inside(steps, v, window(markers)), what=k)
                       for i, (k, v) in enumerate(entropies.items()))
        if yes and not agrees:
            ev += f" (it rises for {', '.join(yes)} only)"
    return claim("Salah & Yevick (arXiv:2411.05353 §3.6)",
                 "the entropy falls as train accuracy rises, rises during grokking and falls "
                 "after", agrees, ev)


def _level_step(steps, y, start: int) -> int | None:
    """The first step from ``start`` at which y has fallen half-way (in log) from its value
    at ``start`` to its smallest after it; None if it does not fall by a factor of 2."""
    s, y = finite(steps, y)
    keep = s >= start
    s, y = s[keep], y[keep]
    if len(y) < 2 or y[0] <= 0 or y.min() <= 0 or y[0] / y.min() < 2:
        return None
    level = np.sqrt(y[0] * y.min())
    return int(s[np.argmax(y <= level)])


LOSS_NAMES = {"restricted_test": "the restricted test loss", "loss_test": "the test loss",
              "excluded_train": "the excluded train loss"}


def freqloss_words(steps, losses: dict, markers: dict, test_acc=None, run_steps=None) -> str:
    """Nanda et al.: the restricted loss falls before the test loss; the excluded train loss
    rises during clean-up. ``losses``: {"restricted_test", "loss_test", "excluded_train",
    ...}; the test accuracy over the run, to say when there is no generalisation."""
    mem = markers.get("memorisation")
    out = []
    half = None if test_acc is None else first_crossing(run_steps, test_acc, 0.5)
    if test_acc is not None and half is None:
        return ("This run never generalises (test accuracy never reaches 0.5), so Nanda et "
                "al.'s findings (arXiv:2301.05217 §5: the restricted loss falls before the "
                "test loss, the excluded train loss rises during clean-up) have nothing to be "
                "checked against here; " + "; ".join(
                    course(steps, losses[k], what=LOSS_NAMES[k])
                    for k in LOSS_NAMES if k in losses) + ".")
    start = mem if mem is not None else int(np.asarray(steps)[0])
    r_key = "restricted_test" if "restricted_test" in losses else "restricted_train"
    if r_key in losses and "loss_test" in losses:
        r, t = _level_step(steps, losses[r_key], start), _level_step(steps, losses["loss_test"],
                                                                     start)
        if r is not None and t is not None:
            ok = r < t
            ev = (f"from memorisation the {r_key.replace('_', ' ')} loss falls half-way (in "
                  f"log) to its minimum at step {r}, the test loss at step {t}")
        else:
            ok = False
            ev = ("the " + ("restricted" if r is None else "test") + " loss does not fall by "
                  "half an order of magnitude after memorisation")
        out.append(claim("Nanda et al. (arXiv:2301.05217 §5)",
                         "the restricted loss falls before the test loss does", ok, ev))
    if "excluded_train" in losses:
        s, y = finite(steps, losses["excluded_train"])
        keep = s >= start
        if keep.sum() >= 2:
            s, y = s[keep], y[keep]
            ratio = y.max() / y[0] if y[0] > 0 else np.inf
            ok = bool(ratio >= 2 and np.argmax(y) > 0)
            ev = (f"the excluded train loss goes from {g(y[0])} at step {int(s[0])} to a "
                  f"maximum of {g(y.max())} at step {int(s[np.argmax(y)])} ({g(ratio)} times)")
            out.append(claim("Nanda et al.", "the excluded train loss rises during the "
                             "clean-up, as the memorising solution is removed", ok, ev))
    return " ".join(out)


def concentration_words(steps, power, keys, markers: dict) -> str:
    """Nanda et al.: generalisation concentrates the Fourier norm on a few key frequencies and
    the others fade. ``power``: (n, K) squared norm per frequency 1..K (the constant left out);
    ``keys``: the key frequencies (1-based)."""
    steps = np.asarray(steps)
    power = np.asarray(power, dtype=float)
    keys = [int(k) for k in keys if 1 <= int(k) <= power.shape[1]]
    if not keys or not len(power):
        return ""
    mask = np.zeros(power.shape[1], bool)
    mask[np.array(keys) - 1] = True
    total = power.sum(axis=1)
    share = np.divide(power[:, mask].sum(axis=1), total, out=np.zeros(len(total)),
                      where=total > 0)
    rest = np.sqrt(power[:, ~mask].sum(axis=1))
    even = mask.sum() / len(mask)
    mem = markers.get("memorisation")
    i_mem = int(np.argmin(np.abs(steps - mem))) if mem is not None else 0
    ok = bool(share[-1] > max(2 * even, 0.5) and rest[-1] < 0.5 * rest[i_mem])
    ev = (f"the {len(keys)} key frequencies ({', '.join(map(str, keys))}) hold "
          f"{share[0]:.0%} of the squared norm at step {int(steps[0])}, {share[i_mem]:.0%} at "
          f"step {int(steps[i_mem])}{' (memorisation)' if mem is not None else ''} and "
          f"{share[-1]:.0%} at step {int(steps[-1])} ({even:.0%} if spread evenly); the norm "
          f"of the other frequencies goes from {g(rest[i_mem])} to {g(rest[-1])}")
    return claim("Nanda et al. (arXiv:2301.05217)", "generalisation concentrates the norm on "
                 "a few key frequencies while the rest fade", ok, ev)


def neighbour_purity(xy, labels) -> tuple[float, float]:
    """(purity, chance): the share of points whose nearest other point (in the plane) has the
    same label, and that share for labels shuffled (Σ share²)."""
    xy = np.asarray(xy, dtype=float)
    labels = np.asarray(labels)
    ok = np.isfinite(xy).all(axis=1)
    xy, labels = xy[ok], labels[ok]
    if len(xy) < 3:
        return np.nan, np.nan
    d = np.square(xy[:, None, :] - xy[None, :, :]).sum(-1)
    np.fill_diagonal(d, np.inf)
    purity = float(np.mean(labels[np.argmin(d, axis=1)] == labels))
    _, counts = np.unique(labels, return_counts=True)
    return purity, float(np.sum((counts / counts.sum()) ** 2))


def clusters_words(steps, coords, labels, *, by: str) -> str:
    """arXiv:2510.25966: classes overlap while memorising and separate as the network
    generalises. ``coords``: (moments, samples, 2) of one layer at ``steps``."""
    pur = [neighbour_purity(c, labels) for c in coords]
    first, last = pur[0], pur[-1]
    ok = bool(last[0] >= max(0.5, 3 * last[1]) and last[0] > first[0] + 0.1)
    ev = (f"the nearest neighbour of a sample in the plane shares its {by} for "
          f"{first[0]:.0%} of samples at step {steps[0]} and {last[0]:.0%} at step {steps[-1]} "
          f"(chance {last[1]:.0%})")
    return claim("Hutchison & Yevick (arXiv:2510.25966, Figs. 16–18)", "classes overlap "
                 "while the network memorises and separate into clusters of one colour as it "
                 "generalises", ok, ev)


def moment_names(steps, markers: dict) -> list[str]:
    """What each drawn step is: initialisation, memorisation, grokking, the end, or a plain
    step (a figure's panels named by what the run did there, not by a template)."""
    steps = [int(s) for s in steps]
    names = []
    for i, s in enumerate(steps):
        tags = []
        if i == 0 and s == 0:
            tags.append("initialisation")
        for key, word in (("memorisation", "memorisation"), ("plateau_end", "end of the "
                          "plateau"), ("transition", "test accuracy half-way"),
                          ("grokking", "grokking")):
            if markers.get(key) is not None and markers[key] == s:
                tags.append(word)
        if i == len(steps) - 1:
            tags.append("the end")
        names.append(f"step {s}" + (f" ({', '.join(tags)})" if tags else ""))
    return names


def gradient_words(coords, correct, *, step: int) -> str:
    """arXiv:2510.25966 Fig. 14: misclassified samples form lines away from the centre, correct
    ones gather near it. ``coords``: (samples, 2), ``correct``: (samples,) 1/0, at ``step``."""
    xy = np.asarray(coords, dtype=float)
    ok = np.asarray(correct, dtype=float)
    keep = np.isfinite(xy).all(axis=1) & np.isfinite(ok)
    xy, ok = xy[keep], ok[keep] > 0.5
    if not ok.any() or ok.all():
        every = "correctly classified" if ok.all() else "misclassified"
        return (f"At step {step} every sample drawn is {every}, so the paper's contrast "
                "(misclassified samples on lines away from the centre, correct ones near it; "
                "Hutchison & Yevick, arXiv:2510.25966) cannot be read there.")
    r = np.linalg.norm(xy - np.median(xy, axis=0), axis=1)
    far, near = float(np.median(r[~ok])), float(np.median(r[ok]))
    agrees = far > 2 * max(near, 1e-300)
    return claim("Hutchison & Yevick (arXiv:2510.25966, Fig. 14)", "misclassified samples "
                 "form lines away from the centre and correct ones gather near it", agrees,
                 f"at step {step} the median distance from the centre is {g(far)} for the "
                 f"{int((~ok).sum())} misclassified samples and {g(near)} for the "
                 f"{int(ok.sum())} correct ones")


def inactive_words(steps, share, markers: dict) -> str:
    """arXiv:2507.11645: the share of inactive units falls while the network memorises, then
    rises. ``share``: one hidden layer's share against step."""
    s, y = finite(steps, share)
    mem = markers.get("memorisation")
    if len(y) < 3 or mem is None:
        return claim("Salah & Yevick (arXiv:2507.11645)", "the share of inactive units falls "
                     "while the network memorises, then rises", None, course(s, y, what="it"),
                     no_window="this run does not memorise, so there is nothing to compare "
                     "with")
    lo = int(np.argmin(y))
    fell = y[0] - y[lo] > FLAT and s[lo] >= min(s[1], mem)
    rose = y[-1] - y[lo] > FLAT
    return claim("Salah & Yevick (arXiv:2507.11645)", "the share of inactive units falls "
                 "while the network memorises, then rises", bool(fell and rose),
                 f"{course(s, y, what='the share')} (lowest {g(y[lo])} at step {int(s[lo])}; "
                 f"memorisation at step {mem})")


def drc_words(rates, accuracy, *, step: int, markers: dict) -> str:
    """arXiv:2507.11645: after grokking accuracy is unaffected below a dropout rate of about
    0.2 and holds until about 0.5. ``accuracy``: the curve at ``step`` (the last computed)."""
    rates, acc = np.asarray(rates, dtype=float), np.asarray(accuracy, dtype=float)
    at = {r: float(acc[int(np.argmin(np.abs(rates - r)))]) for r in (0.0, 0.2, 0.5)}
    ev = (f"at step {step} accuracy is {g(at[0.0])} at rate 0, {g(at[0.2])} at 0.2 and "
          f"{g(at[0.5])} at 0.5")
    grok = markers.get("grokking")
    agrees = None if grok is None or step < grok else bool(
        at[0.2] >= at[0.0] - 0.05 and at[0.5] >= 0.5)
    return claim("Salah & Yevick (arXiv:2507.11645)", "after grokking accuracy is unaffected "
                 "below a rate of about 0.2 and holds until about 0.5", agrees, ev,
                 no_window="the last curve drawn is not after grokking")


def spectrum_words(before, after, *, steps) -> str:
    """Nanda et al.: the neurons' 2-D power is spread like white noise while the network
    memorises and sits on a few frequencies after grokking. ``before``, ``after``: (B, B) mean
    power; the share of the non-constant power in its largest 1 % of cells (at least 10)."""
    top = max(10, np.asarray(before).size // 100)

    def share(power):
        p = np.asarray(power, dtype=float).copy()
        p[0, 0] = 0.0  # the constant: the mean activation, not a frequency
        flat = np.sort(p.ravel())[::-1]
        total = flat.sum()
        return float(flat[:top].sum() / total) if total > 0 else np.nan

    a, b = share(before), share(after)
    even = top / max(np.asarray(before).size - 1, 1)
    agrees = bool(b > 0.5 and b > 3 * a)
    return claim("Nanda et al. (arXiv:2301.05217)", "the power is spread like white noise "
                 "while the network memorises and sits on a few frequencies after grokking",
                 agrees, f"the {top} strongest of the 2-D frequencies hold {a:.0%} of the power "
                 f"at step {steps[0]} and {b:.0%} at step {steps[1]} ({even:.1%} if spread "
                 "evenly)")


def trig_words(steps, coefficients: dict, test_loss, run_steps, markers: dict,
               test_acc=None) -> str:
    """Nanda et al.: the trig components grow during circuit formation, before the test loss
    falls. ``coefficients``: {k: (n,)}; ``test_loss`` (and ``test_acc``, to say when there is
    no generalisation) over the run's checkpoints."""
    if test_acc is not None and first_crossing(run_steps, test_acc, 0.5) is None:
        return claim("Nanda et al. (arXiv:2301.05217)", "these coefficients grow during "
                     "circuit formation, before the test loss falls", None,
                     "test accuracy never reaches 0.5", no_window="this run never "
                     "generalises, so there is no fall of the test loss to precede")
    mem = markers.get("memorisation")
    start = mem if mem is not None else int(np.asarray(run_steps)[0])
    t = _level_step(run_steps, test_loss, start) if test_loss is not None else None
    grown = {}
    for k, c in coefficients.items():
        s, y = finite(steps, np.abs(np.asarray(c, dtype=float)))
        if len(y) and y[-1] > 0:
            grown[k] = int(s[np.argmax(y >= 0.5 * y[-1])])
    if t is None or not grown:
        return claim("Nanda et al. (arXiv:2301.05217)", "these coefficients grow during "
                     "circuit formation, before the test loss falls", None,
                     "the test loss does not fall by half an order of magnitude after "
                     "memorisation" if t is None else "no coefficient grows",
                     no_window="there is no fall of the test loss to compare with")
    agrees = all(v < t for v in grown.values())
    ev = ("each reaches half its final size at step " + ", ".join(
        f"{v} (k = {k})" for k, v in sorted(grown.items())) + f"; the test loss falls half-way "
        f"(in log) to its minimum at step {t}")
    return claim("Nanda et al. (arXiv:2301.05217)", "these coefficients grow during circuit "
                 "formation, before the test loss falls", agrees, ev)


def circle_order(xy, hue) -> float:
    """How well points lie on a circle in the order of ``hue`` (0..n-1): the mean resultant
    length of the angle minus 2π·hue/n (either way round), 1 for points on a circle in that
    order, near 0 for a random cloud. ``xy``: (n, 2)."""
    xy = np.asarray(xy, dtype=float)
    hue = np.asarray(hue, dtype=float)
    c = xy - xy.mean(axis=0)
    theta = np.arctan2(c[:, 1], c[:, 0])
    phi = 2 * np.pi * hue / len(hue)
    return float(max(abs(np.mean(np.exp(1j * (theta - phi)))),
                     abs(np.mean(np.exp(1j * (theta + phi))))))


def best_circle(xy) -> tuple[int, float]:
    """(k, strength): the frequency k whose order k·t the points' angles follow best, t their
    place 0..n-1, and :func:`circle_order` for it."""
    n = len(xy)
    scores = [circle_order(xy, (k * np.arange(n)) % n) for k in range(1, n // 2 + 1)]
    k = int(np.argmax(scores)) + 1
    return k, float(scores[k - 1])


def constellation_words(first, last, *, steps) -> str:
    """The constellation picture: a random cloud turns into points on a circle ordered by k·t.
    ``first``, ``last``: (n, 2), the residues (in the group's order) on their own top two
    principal components at the first and last moment: a plane the run chooses, not one of a
    frequency, on which a random embedding has no order."""
    (k0, a), (k1, b) = best_circle(first), best_circle(last)
    return claim("Nanda et al. (arXiv:2301.05217)", "a random cloud of embedding vectors turns "
                 "into points on a circle ordered by k·t", bool(b > 0.8 and b > a + 0.3),
                 f"on the top two principal components the angles follow k·t best for k = {k0} "
                 f"with strength {a:.2f} at step {steps[0]} and for k = {k1} with strength "
                 f"{b:.2f} at step {steps[1]} (1: a circle in that order; near 0: no order)")


def last_layer_words(p: int, freqs) -> str:
    """What the paper's clusters can show for this P and these learned frequencies."""
    if not p:
        return ""
    if is_prime(p):
        return (f"In this run P = {p} is prime: every frequency is coprime to P, so the "
                "rows can fall on circles but never in clusters; there is no factor to read.")
    shared = [(int(k), gcd(int(k), p)) for k in freqs or [] if gcd(int(k), p) > 1]
    if not shared:
        return (f"In this run none of the learned frequencies ({', '.join(map(str, freqs))}) "
                f"shares a factor with P = {p}: circles, not clusters, are expected.")
    return ("In this run " + ", ".join(f"k = {k} shares {d} with P = {p} ({p // d} clusters of "
                                       f"{d} expected)" for k, d in shared) + ".")


def class_words(steps, test) -> str:
    """When each class's test accuracy first reaches 0.5. ``test``: (n, C), NaN where a class
    has no test example or the row was not computed."""
    test = np.asarray(test, dtype=float)
    firsts = [first_crossing(*finite(steps, test[:, c]), 0.5) for c in range(test.shape[1])
              if np.isfinite(test[:, c]).any()]
    reached = [s for s in firsts if s is not None]
    if not firsts:
        return ""
    if not reached:
        return f"In this run no class's test accuracy reaches 0.5 (of {len(firsts)})."
    spread = (f"between steps {min(reached)} and {max(reached)}" if min(reached) != max(reached)
              else f"at step {reached[0]}")
    return (f"In this run {len(reached)} of {len(firsts)} classes reach test accuracy 0.5, "
            f"{spread}" + (f"; {len(firsts) - len(reached)} never do" if len(reached) <
                           len(firsts) else "") + ".")


def norm_words(steps, norm, test_acc, markers: dict) -> str:
    """Omnigrok (arXiv:2210.01117 §2): test accuracy rises only near a smaller weight norm,
    reached by weight decay from a larger one after memorisation."""
    mem = markers.get("memorisation")
    half = first_crossing(steps, test_acc, 0.5)
    if mem is None or half is None or half <= mem:
        return claim("Liu et al. (arXiv:2210.01117 §2)", "generalisation follows memorisation "
                     "as weight decay brings the weight norm down", None,
                     "test accuracy never reaches 0.5" if half is None else
                     "train accuracy never reaches 0.99" if mem is None else
                     f"test accuracy reaches 0.5 (step {half}) no later than train accuracy "
                     f"0.99 (step {mem})", no_window="this run has no memorisation followed "
                     "by generalisation to compare")
    a, b = _at(steps, norm, mem), _at(steps, norm, half)
    _, y = finite(steps, norm)
    scale = float(np.max(np.abs(y))) if len(y) else 0.0
    return claim("Liu et al. (arXiv:2210.01117 §2)", "generalisation follows memorisation as "
                 "weight decay brings the weight norm down", bool(a - b > FLAT * scale),
                 f"the norm is {g(a)} at memorisation (step {mem}) and {g(b)} where test "
                 f"accuracy first reaches 0.5 (step {half})")
