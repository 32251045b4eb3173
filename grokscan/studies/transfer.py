"""Choosing an onset detector by how it transfers (docs/results/onset.md): every
candidate — one training-side signal of the corpus table (grokscan/studies/corpus.py), rising
or falling, relative or absolute, from its value at memorisation — is scored on the tuning part
of the corpus by leave-one-group-out: its threshold is chosen on every group but one (the most
runs flagged in time at ≤ ``FALSE_ALARMS`` of the controls flagged) and judged on the group
left out, a group being a model family, an operation family or a range of moduli; a candidate
counts for its worst group, not for its pooled score.

Three kinds of candidate: a signal alone (:class:`Candidate`); a rule, a signal unless the run
is in softmax collapse (``veto``: at least ``COLLAPSED`` of the train examples at zero loss, the
state Prieto et al., arXiv:2501.04697 §3, find runs that do not grok stuck in); and a small
interpretable model (:class:`Logistic`: a logistic regression over the changes of a few
signals, fitted on the groups it is not judged on).

Everything here reads the table alone: the runs are labelled by grokscan/onset/labels.py on the
table's checkpoints, and test accuracy only judges (and, for the model, labels the checkpoints
it is fitted on: a grokking run's before test accuracy 0.5 against a control's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from grokscan.onset.detector import check_training_side, trailing_mean
from grokscan.onset.labels import label
from grokscan.summary import MEMORISED

FALSE_ALARMS = 0.05  # the share of controls a chosen threshold may flag
SMOOTH, HOLD = 3, 2  # the trailing mean and the hold of every candidate (checkpoints)
MIN_THRESHOLD = 1e-3  # the smallest change a candidate flags, in its own direction
# a group must hold at least this many grokking runs and controls to be judged alone
MIN_GROUP = 3
RUN_TEXT = ("sweep", "run", "family", "model", "op", "input")  # the table's text columns
ADDITIVE = ("add", "sub", "2x+y", "2x-y", "2x+3y", "2x-3y")
MULTIPLICATIVE = ("mul", "div", "xy+x+y")  # xy+x+y = (x+1)(y+1) − 1: in shifted operands
CROSS = ("x2+xy+y2", "x2+xy+y2+x", "x3+xy", "x3+xy2+y")
# signals whose value is a share or a rate near 0 at memorisation: read as an absolute change
ABSOLUTE = ("sc_share", "wn_rate", "update_top", "basis_mul", "train_acc")
COLLAPSED = 0.5  # a rule's veto: this share of the train examples in softmax collapse
# the model's signals: those every run has (the restricted and excluded loss need a group phase)
MODEL_SIGNALS = ("gini_add", "entropy_add", "gini_best", "entropy_logit_best",
                 "gini_logit_best", "margin", "wn_rate", "sc_share", "update_top",
                 "weight_norm", "train_loss")
MODEL_C = 0.3  # the model's inverse L2 penalty (scikit-learn's C), fixed, not tuned
# columns of the table that no candidate reads: train accuracy labels memorisation, and the
# shift of the inferred basis is a label (its change from memorisation measures nothing)
NOT_CANDIDATES = ("train_acc", "basis_shift")


@dataclass(frozen=True)
class Candidate:
    """One training-side signal, read as its change from memorisation; with ``veto``, a rule:
    no flag while that share of the train examples is in softmax collapse."""

    signal: str
    direction: str  # "rise" or "fall"
    change: str  # "relative": x / x_mem − 1; "absolute": x − x_mem
    veto: bool = False

    def __post_init__(self):
        check_training_side([self.signal])

    @property
    def name(self) -> str:
        return (f"{self.signal} {self.direction}" + (" (abs)" if self.change == "absolute"
                                                     else "")
                + (", unless collapsed" if self.veto else ""))

    def fit(self, runs: Runs, keys) -> Candidate:
        """Nothing to fit: the candidate itself (its threshold is chosen apart)."""
        return self

    def held(self, steps, series: dict) -> np.ndarray:
        return held_score(steps, series, self)


def candidates(signals, *, rules: bool = False) -> list[Candidate]:
    """Every signal but NOT_CANDIDATES, rising and falling; with ``rules`` each also with the
    softmax-collapse veto."""
    return [Candidate(s, d, "absolute" if s in ABSOLUTE else "relative", v)
            for v in ((False, True) if rules else (False,))
            for s in signals if s not in NOT_CANDIDATES for d in ("rise", "fall")]


def to_dict(c) -> dict:
    """A candidate (a model fitted) as JSON-ready data; :func:`from_dict` reads it back."""
    if isinstance(c, Logistic):
        return {"kind": "model", "features": [asdict(f) for f in c.features],
                "coef": list(c.coef), "intercept": c.intercept, "mean": list(c.mean),
                "scale": list(c.scale)}
    return {"kind": "rule" if c.veto else "signal", "signal": c.signal,
            "direction": c.direction, "change": c.change, "veto": c.veto}


def from_dict(d: dict):
    """The candidate :func:`to_dict` wrote."""
    if d.get("kind") == "model":
        return Logistic(tuple(Candidate(**f) for f in d["features"]), tuple(d["coef"]),
                        float(d["intercept"]), tuple(d["mean"]), tuple(d["scale"]))
    return Candidate(d["signal"], d["direction"], d["change"], bool(d.get("veto", False)))


def _compress(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass(frozen=True)
class Logistic:
    """A small interpretable model: a logistic regression (scikit-learn, L2 penalty MODEL_C,
    classes balanced, each run weighing the same) whose inputs are the smoothed changes from
    memorisation of ``features`` (each a :class:`Candidate`'s, before its hold), compressed
    as ``sign(x)·log(1 + abs(x))`` and standardised. Its score at a checkpoint is the decision
    function (log-odds), held over HOLD checkpoints as a signal's is; NaN where a feature is.
    It is fitted on a grokking run's checkpoints before test accuracy 0.5 against a control's
    over the same span after memorisation (the grokking runs' median delay), so that time since
    memorisation does not tell them apart. Unfitted until :meth:`fit`; its coefficients are
    then readable (``coef``, on standardised inputs)."""

    features: tuple = tuple(Candidate(s, "rise", "absolute" if s in ABSOLUTE else "relative")
                            for s in MODEL_SIGNALS)
    coef: tuple = ()
    intercept: float = 0.0
    mean: tuple = ()
    scale: tuple = ()

    FOLDS = 5  # out-of-fold threshold: the runs split into this many folds

    @property
    def name(self) -> str:
        return f"logistic model ({len(self.features)} signals)"

    @property
    def signal(self) -> str:
        return ",".join(f.signal for f in self.features)

    def inputs(self, steps, series: dict) -> np.ndarray:
        """(checkpoints, features): the compressed changes."""
        return _compress(np.stack([change(steps, series, f) for f in self.features], 1))

    def fit(self, runs: Runs, keys) -> Logistic:
        """The model fitted on the runs ``keys`` (runs neither grokking nor controls are
        left out)."""
        from sklearn.linear_model import LogisticRegression

        meta = runs.meta.set_index("key").loc[list(keys)]
        grok = meta[meta["class"] == "grokking"]
        span = float(np.median(grok["t50"] - grok["memorised"])) if len(grok) else 0.0
        X, y, w = [], [], []
        for key, r in meta.iterrows():
            if r["class"] not in ("grokking", "control"):
                continue
            steps, series = runs.rows[key]
            x = self.inputs(steps, series)
            use = np.all(np.isfinite(x), axis=1)
            if r["class"] == "grokking":
                use &= steps < r["t50"]
            else:  # a control that never memorised has no span
                use &= steps < r["memorised"] + span if np.isfinite(r["memorised"]) else False
            if not use.any():
                continue
            X.append(x[use])
            y.append(np.full(use.sum(), r["class"] == "grokking"))
            w.append(np.full(use.sum(), 1.0 / use.sum()))
        if not X or len({bool(v[0]) for v in y}) < 2:
            raise ValueError("the model needs checkpoints of grokking runs and of controls")
        X, y, w = np.concatenate(X), np.concatenate(y), np.concatenate(w)
        for cls in (True, False):  # the classes weigh the same
            w[y == cls] /= w[y == cls].sum()
        mean, scale = X.mean(0), X.std(0)
        scale = np.where(scale > 0, scale, 1.0)
        m = LogisticRegression(C=MODEL_C, max_iter=5000).fit((X - mean) / scale, y,
                                                             sample_weight=w * len(y))
        return Logistic(self.features, tuple(m.coef_[0]), float(m.intercept_[0]),
                        tuple(mean), tuple(scale))

    def held(self, steps, series: dict) -> np.ndarray:
        if not self.coef:
            raise ValueError("the model is not fitted")
        x = (self.inputs(steps, series) - np.array(self.mean)) / np.array(self.scale)
        return hold(x @ np.array(self.coef) + self.intercept)  # NaN rows stay NaN

    def threshold_out_of_fold(self, runs: Runs, keys) -> float:
        """The threshold at FALSE_ALARMS of the controls among ``keys``, each control scored by
        a model fitted without its fold (the runs dealt into FOLDS folds in order): scores the
        model did not see, as a run it is judged on will be."""
        keys = list(keys)
        meta = runs.meta.set_index("key")
        folds = [keys[i::self.FOLDS] for i in range(self.FOLDS)]
        peaks, controls = [], 0
        for fold in folds:
            ctrl = [k for k in fold if meta.loc[k, "class"] == "control"]
            if not ctrl:
                continue
            rest = [k for k in keys if k not in set(fold)]
            try:
                model = self.fit(runs, rest)
            except ValueError:  # the rest lacks a class: this fold's controls go unscored
                continue
            controls += len(ctrl)
            peaks += [f[1][-1] for f in scores(runs, ctrl, model).flags if len(f[1])]
        return _threshold(peaks, controls)


def op_family(op: str) -> str:
    """The operation family of a run: additive (linear in a and b), multiplicative,
    polynomial (sums of powers of a and of b), cross (a term in both), multi (several)."""
    if "," in op:
        return "multi"
    if op in ADDITIVE:
        return "additive"
    if op in MULTIPLICATIVE:
        return "multiplicative"
    return "cross" if op in CROSS else "polynomial"


def p_range(p: int) -> str:
    return "P ≤ 31" if p <= 31 else "P 37-53" if p <= 53 else "P ≥ 59"


GROUPINGS = {"family": lambda r: r["family"], "operations": lambda r: op_family(r["op"]),
             "moduli": lambda r: p_range(int(r["p"]))}


@dataclass
class Runs:
    """The runs of a table: per run its settings, label, crossing steps and rows."""

    meta: object  # pandas DataFrame, one row per run
    rows: dict  # run key -> (steps (n,), {signal: (n,)}) of its checkpoints

    @classmethod
    def of(cls, table) -> Runs:
        metas, rows = [], {}
        for (sweep, run), g in table.groupby(["sweep", "run"], sort=False):
            g = g.sort_values("step")
            steps = g["step"].to_numpy()
            lab = label(steps, g["train_acc"].to_numpy(float), g["test_acc"].to_numpy(float))
            first = g.iloc[0]
            key = f"{sweep}/{run}"
            metas.append({"key": key, "sweep": sweep, "run": run,
                          "family": first["family"], "op": first["op"], "p": first["p"],
                          "wd": first["wd"], "class": lab.kind, "memorised": lab.step_memorised,
                          "t50": lab.step_test_50, "live_flag": first.get("live_flag", -1)})
            rows[key] = (steps, {c: g[c].to_numpy(float) for c in g.columns
                               if c not in RUN_TEXT})
        import pandas as pd

        return cls(pd.DataFrame(metas), rows)

    def judged(self):
        """The runs that grok or are controls (undecided and no-delay runs are apart)."""
        return self.meta[self.meta["class"].isin(("grokking", "control"))]


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    """The trailing mean over ``window`` checkpoints of the finite values (NaN where none):
    grokscan.onset.detector's ``trailing_mean``, for series with gaps."""
    finite = np.isfinite(x)
    total = trailing_mean(np.where(finite, x, 0.0), window)
    share = trailing_mean(finite.astype(float), window)
    return np.where(share > 0, total / np.where(share > 0, share, 1.0), np.nan)


def change(steps, series: dict, c: Candidate) -> np.ndarray:
    """The candidate's smoothed change from memorisation, in its direction (NaN before it);
    with the veto, NaN too where the run is in softmax collapse. The reference is the first
    finite smoothed value from memorisation on (a signal over a window of checkpoints, the
    update spectrum, has none at the first ones), vetoed or not."""
    acc = series["train_acc"]
    x = _smooth(series[c.signal], SMOOTH)
    score = np.full(len(steps), np.nan)
    hit = np.flatnonzero(acc >= MEMORISED)
    ok = np.flatnonzero(np.isfinite(x)) if hit.size else np.zeros(0, int)
    ok = ok[ok >= hit[0]] if hit.size else ok
    if not ok.size:
        return score
    m = ok[0]
    ref = x[m]
    if c.change == "relative":
        if ref == 0:
            return score
        d = x[m:] / ref - 1.0
    else:
        d = x[m:] - ref
    score[m:] = d if c.direction == "rise" else -d
    if c.veto:
        score[_smooth(series["sc_share"], SMOOTH) >= COLLAPSED] = np.nan
    return score


def hold(score: np.ndarray) -> np.ndarray:
    """The smallest of the last HOLD values at each checkpoint (NaN where one of them is)."""
    held = np.full(len(score), np.nan)
    for i in range(HOLD - 1, len(score)):
        held[i] = np.min(score[i - HOLD + 1: i + 1])
    return held


def held_score(steps, series: dict, c: Candidate) -> np.ndarray:
    """The candidate's score at each checkpoint, held: the smallest of the last HOLD
    smoothed changes from memorisation (NaN before it); its flag at threshold θ is the first
    checkpoint where this is ≥ θ."""
    return hold(change(steps, series, c))


@dataclass(frozen=True)
class Scores:
    """One candidate on a set of runs: per run its held score series' running maximum at
    every checkpoint, from which the flag at any threshold follows."""

    best_before: np.ndarray  # (runs,) largest held score before t50 (a control: whole run)
    flags: list  # per run: (steps, running max of the held score)


def scores(runs: Runs, keys, c: Candidate) -> Scores:
    best, flags = [], []
    meta = runs.meta.set_index("key")
    for key in keys:
        steps, series = runs.rows[key]
        held = c.held(steps, series)
        run_max = np.fmax.accumulate(np.nan_to_num(held, nan=-np.inf))
        t50 = meta.loc[[key], "t50"].iloc[0]
        before = steps < t50 if t50 == t50 and t50 is not None else np.ones(len(steps), bool)
        finite = held[before & np.isfinite(held)]
        best.append(float(finite.max()) if finite.size else -np.inf)
        flags.append((steps, run_max))
    return Scores(np.array(best), flags)


def flag_step(flag: tuple, theta: float):
    """The step at which a run's held score first reaches ``theta``, or None."""
    steps, run_max = flag
    i = np.searchsorted(run_max, theta)  # run_max is non-decreasing
    return None if i >= len(steps) else int(steps[i])


def judge(runs: Runs, keys, c: Candidate, theta: float, s: Scores | None = None) -> dict:
    """Coverage (grokking runs flagged before test accuracy 0.5), false alarms (controls
    flagged at any step), median lead (a run missed or late: 0) at threshold ``theta``."""
    s = s or scores(runs, keys, c)
    return _numbers(runs, keys, [flag_step(f, theta) for f in s.flags], s.best_before)


def _numbers(runs: Runs, keys, flags: list, best: np.ndarray) -> dict:
    """Coverage, false alarms and median lead of the runs ``keys`` flagged at ``flags``
    (a step or None each), and the AUC of their scores ``best``."""
    meta = runs.meta.set_index("key").loc[list(keys)]
    grok = (meta["class"] == "grokking").to_numpy()
    t50, mem = meta["t50"].to_numpy(), meta["memorised"].to_numpy()
    in_time = np.array([f is not None and g and f < t for f, g, t in zip(flags, grok, t50)])
    lead = np.where(in_time, [(t - f) / (t - m) if it else 0.0 for f, t, m, it in
                              zip(flags, t50, mem, in_time)], 0.0)
    alarms = np.array([f is not None for f, g in zip(flags, grok) if not g])
    return {"grokking": int(grok.sum()), "controls": int((~grok).sum()),
            "coverage": float(in_time[grok].mean()) if grok.any() else np.nan,
            "false_alarms": float(alarms.mean()) if alarms.size else np.nan,
            "flagged": int(in_time[grok].sum()), "alarms": int(alarms.sum()),
            "lead_median": float(np.median(lead[grok])) if grok.any() else np.nan,
            "auc": auc(best, grok)}


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """The run-level ROC AUC (ties counted half); NaN without both classes."""
    pos, neg = score[positive], score[~positive]
    if not len(pos) or not len(neg):
        return np.nan
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt / (len(pos) * len(neg)))


def auc_matched(runs: Runs, keys, c: Candidate, s: Scores | None = None) -> float:
    """The run-level ROC AUC with each control read over the span a grokking run is read
    over: from memorisation for the grokking runs' median delay (memorisation to test
    accuracy 0.5, among ``keys``), rather than over its whole, longer run, where a drifting
    signal has more time to reach a high value. NaN without both classes."""
    s = s or scores(runs, keys, c)
    meta = runs.meta.set_index("key").loc[list(keys)]
    grok = (meta["class"] == "grokking").to_numpy()
    if not grok.any() or grok.all():
        return np.nan
    span = float(np.median((meta["t50"] - meta["memorised"])[grok]))
    best = s.best_before.copy()
    for i in np.flatnonzero(~grok):
        steps, run_max = s.flags[i]
        k = np.searchsorted(steps, meta["memorised"].iloc[i] + span, side="right") - 1
        best[i] = run_max[k] if k >= 0 else -np.inf
    return auc(best, grok)


def threshold(runs: Runs, keys, c: Candidate, s: Scores | None = None) -> float:
    """The smallest threshold at which at most FALSE_ALARMS of the controls among ``keys`` are
    flagged (the most runs flagged in time at that rate)."""
    s = s or scores(runs, keys, c)
    meta = runs.meta.set_index("key").loc[list(keys)]
    ctrl = [f for f, k in zip(s.flags, meta["class"]) if k == "control"]
    return _threshold([f[1][-1] for f in ctrl if len(f[1])], len(ctrl))


def _threshold(peaks, controls: int) -> float:
    """Just above the highest control peak but FALSE_ALARMS of ``controls`` (each control's
    highest score), and never below a change in the candidate's own direction."""
    peaks = np.sort(np.asarray(peaks, float))
    peaks = peaks[np.isfinite(peaks)]
    allowed = int(np.floor(FALSE_ALARMS * controls))
    if len(peaks) <= allowed:
        return MIN_THRESHOLD
    return max(MIN_THRESHOLD, float(np.nextafter(peaks[len(peaks) - allowed - 1], np.inf)))


def choose(runs: Runs, keys, c) -> tuple:
    """(the candidate fitted on the runs ``keys``, its threshold at FALSE_ALARMS of their
    controls): a signal or a rule is itself, its threshold read off its scores; a model is
    fitted on all of them and its threshold read off scores it did not see (out of fold)."""
    if isinstance(c, Logistic):
        return c.fit(runs, keys), c.threshold_out_of_fold(runs, keys)
    return c, threshold(runs, keys, c)


def leave_one_group_out(runs: Runs, c: Candidate) -> dict:
    """Leave one group out, for each grouping: the threshold chosen (the model fitted) on the
    other groups, the candidate judged on the group left out; the worst group's coverage minus
    false alarms. A group is judged when it and the other groups together each hold at least
    MIN_GROUP grokking runs and MIN_GROUP controls (the same groups for every candidate)."""
    judged = runs.judged()
    worst, rows = np.inf, []

    def enough(part) -> bool:
        return ((part["class"] == "grokking").sum() >= MIN_GROUP
                and (part["class"] == "control").sum() >= MIN_GROUP)

    for grouping, of in GROUPINGS.items():
        names = judged.apply(of, axis=1)
        for g in sorted(set(names)):
            inside, rest = judged[names == g], judged[names != g]
            if not (enough(inside) and enough(rest)):
                continue
            fitted, theta = choose(runs, list(rest["key"]), c)
            res = judge(runs, list(inside["key"]), fitted, theta)
            rows.append({"grouping": grouping, "group": g, "threshold": theta, **res})
            worst = min(worst, res["coverage"] - res["false_alarms"])
    if not rows:
        raise ValueError("no group holds enough grokking runs and controls to be judged, "
                         "nor do the others")
    return {"candidate": c.name, "worst": worst, "groups": rows}


def bootstrap(runs: Runs, keys, c: Candidate, theta: float, *, n: int = 1000,
              seed: int = 0) -> dict:
    """95 % intervals of coverage, false alarms, median lead and AUC over runs resampled with
    replacement (within the grokking runs and within the controls)."""
    s = scores(runs, keys, c)
    meta = runs.meta.set_index("key").loc[list(keys)]
    grok = np.flatnonzero(meta["class"].to_numpy() == "grokking")
    ctrl = np.flatnonzero(meta["class"].to_numpy() == "control")
    rng = np.random.default_rng(seed)
    keys = list(keys)
    draws = {"coverage": [], "false_alarms": [], "lead_median": [], "auc": []}
    for _ in range(n):
        pick = np.concatenate([rng.choice(grok, len(grok)), rng.choice(ctrl, len(ctrl))])
        sub = Scores(s.best_before[pick], [s.flags[i] for i in pick])
        res = judge(runs, [keys[i] for i in pick], c, theta, sub)
        for k in draws:
            draws[k].append(res[k])
    return {k: tuple(np.nanpercentile(v, [2.5, 97.5])) for k, v in draws.items()}


def judge_flags(runs: Runs, keys, flag: str, score: str) -> dict:
    """:func:`judge` for a detector whose flag each run already holds (the in-loop model's:
    the table column ``flag``, −1 for none), its AUC from the largest value of the column
    ``score`` before test accuracy 0.5."""
    meta = runs.meta.set_index("key").loc[list(keys)]
    flags, best = [], []
    for key, t50 in zip(keys, meta["t50"]):
        steps, series = runs.rows[key]
        f = int(series[flag][0]) if flag in series and series[flag][0] >= 0 else None
        flags.append(f)
        before = steps < t50 if t50 == t50 and t50 is not None else np.ones(len(steps), bool)
        x = series[score][before] if score in series else np.zeros(0)
        x = x[np.isfinite(x)]
        best.append(float(x.max()) if x.size else -np.inf)
    return _numbers(runs, keys, flags, np.array(best))
