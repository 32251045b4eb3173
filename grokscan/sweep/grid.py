"""The grid file of a sweep: a base configuration, the axes to vary, the seeds, random samples.

A grid file is a `grokscan train --config` TOML file (any key of `grokscan train`, at the top
or in the tables [task], [model], [train]) with three additions::

    op = "add"                 # the base: every point has these
    p = 23
    [axes]                     # a full grid: every combination of these lists
    wd = [0.1, 0.3, 1.0]
    frac = [0.3, 0.5, 0.7]
    [sample]                   # and/or n random draws (each combined with the grid)
    n = 8
    rng = 0                    # the seed of the draws (default 0)
    lr = {log-uniform = [1e-3, 3e-2]}
    dropout = {uniform = [0.0, 0.2]}
    activation = {choice = ["relu", "gelu"]}

and ``seeds = 3`` (seeds 0, 1, 2) or ``seeds = [0, 7]``, at the top or in [axes]: one point per
seed of every combination. Each point is a flat configuration (grokscan.config.resolve builds
and checks it) and a name made of its varied values, ``wd=0.3_frac=0.5_seed=1``, that names its
folder under SWEEP/runs/. Everything is validated here, before anything runs, with one-line
errors that name the file and the key. Increasing ``n`` keeps the earlier draws; adding values
to an axis adds points and keeps the others' names.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grokscan import tasks
from grokscan.config import resolve, sections
from grokscan.errors import FileFormatError, GrokscanError
from grokscan.files import read_toml, write_atomic
from grokscan.names import safe_name, shown
from grokscan.settings import coerce, key, value_type
from grokscan.sweep.phase import PhaseRule

BASE_TABLES = ("task", "model", "train")
COMMAND_KEYS = ("threads", "resume", "force", "quiet")  # a sweep sets these itself
DISTRIBUTIONS = ("log-uniform", "uniform", "choice")
# The most points a grid may have: 10^5 points are expanded and checked in about 7 s (and
# make a points.json of 8 MB) before the first run starts.
MAX_POINTS = 100_000


@dataclass(frozen=True)
class Sample:
    """``n`` random draws of the keys of ``dists`` ({key: (distribution, arguments)})."""

    n: int
    rng: int
    dists: dict


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its name, the values it varies, and its whole flat config."""

    name: str
    params: dict  # {key: value} of the varied keys (the axes, the sampled keys, the seed)
    values: dict  # base and params together: the keys of `grokscan train`


@dataclass(frozen=True)
class Grid:
    path: str
    base: dict  # flat keys of `grokscan train`
    axes: dict  # {key: tuple of values}, in file order; the seeds are the axis "seed"
    sample: Sample | None
    rule: PhaseRule = PhaseRule()  # [phase] fit, late: the phase labels' thresholds

    @property
    def varied(self) -> list[str]:
        """The keys that differ between points, in name order (seed last)."""
        keys = [k for k in self.axes if k != "seed"]
        keys += list(self.sample.dists) if self.sample else []
        return keys + (["seed"] if "seed" in self.axes else [])


def load(path) -> Grid:
    """Read and check a grid file; a GrokscanError that names the file and key otherwise."""
    path = os.fspath(path)
    doc = read_toml(path, "the grid file")
    axes_doc, sample_doc = doc.pop("axes", {}), doc.pop("sample", None)
    rule = _rule(doc.pop("phase", {}), path)
    seeds = doc.pop("seeds", None)
    if isinstance(axes_doc, dict) and "seeds" in axes_doc:  # [axes] seeds = 3 reads as well
        if seeds is not None:
            raise GrokscanError(f"{path}: seeds is given twice (at the top and in [axes])")
        seeds = axes_doc.pop("seeds")
    base = _base(doc, path)
    fields = _fields(base, path)
    axes = _axes(axes_doc, fields, path)
    if seeds is not None:
        if "seed" in axes or "seed" in base:
            raise GrokscanError(f"{path}: seeds: give the seeds once (seeds, or seed in [axes] "
                                "or the base), not twice")
        axes["seed"] = _seeds(seeds, path)
    sample = _sample(sample_doc, fields, path) if sample_doc is not None else None
    if sample:
        both = sorted(set(sample.dists) & set(axes))
        if both:
            raise GrokscanError(f"{path}: {both[0]} is both an axis and sampled; keep one")
    _check_size(axes, sample, path)
    return Grid(path, base, {k: tuple(v) for k, v in axes.items()}, sample, rule)


def _check_size(axes: dict, sample: Sample | None, path: str) -> None:
    """A GrokscanError if the grid has more than MAX_POINTS points, before any is made."""
    sizes = [(f"axes.{k}" if k != "seed" else "seeds", len(v)) for k, v in axes.items()]
    sizes += [("sample.n", sample.n)] if sample else []
    count = math.prod(n for _, n in sizes)
    if count > MAX_POINTS:
        shape = " × ".join(f"{n} ({what})" for what, n in sizes)
        raise GrokscanError(f"{path}: {count} points = {shape}; at most {MAX_POINTS} in one "
                            "sweep (split the grid into several)")


def _rule(doc, path: str) -> PhaseRule:
    """[phase] fit = 0.8, late = 1.0: the thresholds of the phase labels (grokscan/sweep/
    phase.py); ``fit`` one of the summary's accuracy thresholds."""
    from grokscan.summary import THRESHOLDS

    if not isinstance(doc, dict) or set(doc) - {"fit", "late"}:
        raise GrokscanError(f"{path}: phase: expected a table [phase] with fit and/or late, "
                            f"got {doc!r}")
    fit, late = doc.get("fit", PhaseRule.fit), doc.get("late", PhaseRule.late)
    if fit not in THRESHOLDS:
        raise GrokscanError(f"{path}: phase.fit: expected one of "
                            f"{', '.join(map(str, THRESHOLDS))}, got {fit!r}")
    if isinstance(late, bool) or not isinstance(late, (int, float)) or late < 0:
        raise GrokscanError(f"{path}: phase.late: expected a number ≥ 0, got {late!r}")
    return PhaseRule(float(fit), float(late))


def _base(doc: dict, path: str) -> dict:
    """The flat base keys, as `grokscan train --config` reads them."""
    base = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            if k not in BASE_TABLES:
                raise GrokscanError(f"{path}: unknown table [{k}]; expected [task], [model], "
                                    "[train], [axes] or [sample]")
            base.update({key(kk): vv for kk, vv in v.items()})
        else:
            base[key(k)] = v
    own = [k for k in base if k in COMMAND_KEYS]
    if own:
        raise GrokscanError(f"{path}: {own[0]}: a key of `grokscan train` itself, not of a run; "
                            "a sweep sets it (one thread per worker, resumes by itself)")
    if "task" in base and not isinstance(base["task"], str):
        raise GrokscanError(f"{path}: task: expected a task name, got {base['task']!r}")
    resolve(base)  # unknown keys and bad values of the base, before the points
    return base


def _fields(base: dict, path: str) -> dict:
    """{key: field} of every key a point of this task may set ("task" aside)."""
    index = sections(base.get("task", "modular"))
    return {k: f for k, (_, f) in index.items() if k != "task"}


def _field(k: str, fields: dict, where: str):
    if k == "task":
        raise GrokscanError(f"{where}: the task cannot vary within a sweep; make one grid per "
                            "task")
    if k not in fields:
        valid = ", ".join(sorted(x.replace("_", "-") for x in fields))
        raise GrokscanError(f"{where}: unknown key; expected one of {valid}")
    return fields[k]


def _axes(doc, fields: dict, path: str) -> dict:
    if not isinstance(doc, dict):
        raise GrokscanError(f"{path}: axes: expected a table [axes] of lists")
    axes = {}
    for name, values in doc.items():
        k, where = key(name), f"{path}: axes.{name}"
        f = _field(k, fields, where)
        if not isinstance(values, list):
            raise GrokscanError(f"{where}: expected a list of values, got {values!r}")
        if not values:
            raise GrokscanError(f"{where}: the list is empty; give at least one value")
        checked = tuple(coerce(f, v, where) for v in values)
        if len(set(checked)) < len(checked):
            raise GrokscanError(f"{where}: a value is listed twice ({list(values)})")
        axes[k] = checked
    return axes


def _seeds(seeds, path: str) -> Sequence[int]:
    where = f"{path}: seeds"
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise GrokscanError(f"{where}: expected at least 1 seed, got {seeds}")
        return range(seeds)  # made a tuple once the grid's size is checked
    if (isinstance(seeds, list) and seeds and len(set(seeds)) == len(seeds)
            and all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32
                    for s in seeds)):
        return tuple(seeds)
    raise GrokscanError(f"{where}: expected a count (seeds = 3) or a list of distinct seeds in "
                        f"[0, 2^32) (seeds = [0, 7]), got {seeds!r}")


def _sample(doc, fields: dict, path: str) -> Sample:
    if not isinstance(doc, dict):
        raise GrokscanError(f"{path}: sample: expected a table [sample]")
    doc = dict(doc)
    n, rng = doc.pop("n", None), doc.pop("rng", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise GrokscanError(f"{path}: sample.n: expected the number of draws (≥ 1), got {n!r}")
    if not isinstance(rng, int) or isinstance(rng, bool) or rng < 0:
        raise GrokscanError(f"{path}: sample.rng: expected a seed ≥ 0, got {rng!r}")
    if not doc:
        raise GrokscanError(f"{path}: sample: no key to draw; add one, e.g. "
                            "lr = {log-uniform = [1e-3, 1e-2]}")
    dists = {}
    for name, spec in doc.items():
        k, where = key(name), f"{path}: sample.{name}"
        dists[k] = _distribution(spec, _field(k, fields, where), where)
    return Sample(n, rng, dists)


def _distribution(spec, f, where: str) -> tuple[str, tuple]:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise GrokscanError(f"{where}: expected one of {{log-uniform = [lo, hi]}}, "
                            f"{{uniform = [lo, hi]}}, {{choice = [a, b, ...]}}; got {spec!r}")
    (kind, args), = spec.items()
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise GrokscanError(f"{where}: choice: expected a non-empty list, got {args!r}")
        return kind, tuple(coerce(f, v, where) for v in args)
    if value_type(f) not in (int, float):
        raise GrokscanError(f"{where}: {kind} draws numbers; this key takes "
                            f"{value_type(f).__name__} values (use choice)")
    ok = (isinstance(args, list) and len(args) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in args)
          and args[0] < args[1] and (kind == "uniform" or args[0] > 0))
    if not ok:
        need = "0 < lo < hi" if kind == "log-uniform" else "lo < hi"
        raise GrokscanError(f"{where}: {kind}: expected [lo, hi] with {need}, got {args!r}")
    for v in args:  # the bounds must be valid values of the key
        coerce(f, v, where)
    return kind, (float(args[0]), float(args[1]))


def _draws(grid: Grid) -> list[dict]:
    """The sampled values, one dict per draw: draw i depends only on (rng, i), so more draws
    keep the earlier ones."""
    s = grid.sample
    if s is None:
        return [{}]
    fields = _fields(grid.base, grid.path)
    out = []
    for i in range(s.n):
        r = np.random.default_rng([s.rng, i])
        draw = {}
        for k, (kind, args) in s.dists.items():
            if kind == "choice":
                v = args[int(r.integers(len(args)))]
            else:
                lo, hi = (math.log(a) for a in args) if kind == "log-uniform" else args
                u = float(r.uniform(lo, hi))
                v = math.exp(u) if kind == "log-uniform" else u
                v = round(v) if value_type(fields[k]) is int else float(f"{v:.4g}")
            draw[k] = coerce(fields[k], v, f"{grid.path}: sample.{k}")
        out.append(draw)
    return out


def points(grid: Grid) -> list[Point]:
    """Every point of the grid (axes × draws × seeds), each resolved and checked; a
    GrokscanError naming the point otherwise."""
    combos = list(itertools.product(*grid.axes.values()))
    draws = _draws(grid)
    out, seen, tasks_seen = [], {}, set()
    for i, draw in enumerate(draws):
        for combo in combos:
            params = dict(zip(grid.axes, combo))
            params = {k: params.get(k, draw.get(k)) for k in grid.varied}
            name = run_name(params, draw=i if grid.sample else None)
            if name in seen:
                raise GrokscanError(f"{grid.path}: the points {seen[name]} and {params} both "
                                    f"get the run name {name!r}; make the values differ more")
            seen[name] = params
            values = {**grid.base, **params}
            try:
                cfg = resolve(values)
                _check_task(cfg.task, cfg.model.kind, tasks_seen)
            except GrokscanError as e:
                raise GrokscanError(f"{grid.path}: point {name}: {e}") from None
            out.append(Point(name, params, values))
    return out


def _check_task(task, model: str, seen: set) -> None:
    """The point's task can be built (its operations, P, its split) and fits its model
    (grokscan.tasks.check), checked once for each distinct pair of the grid."""
    if (task, model) not in seen:
        tasks.check(task, model)
        seen.add((task, model))


def _word(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (tuple, list)):
        return "+".join(map(_word, v))
    return re.sub(r"[^A-Za-z0-9.+-]", "-", str(v))


def run_name(params: dict, *, draw: int | None = None) -> str:
    """The folder name of a point: its varied values, ``wd=0.3_frac=0.5_seed=1`` (the draw
    first for a sampled point: ``sample=4_lr=0.0031_seed=0``); never empty."""
    parts = ([f"sample={draw}"] if draw is not None else [])
    parts += [f"{k.replace('_', '-')}={_word(v)}" for k, v in params.items()]
    return "_".join(parts) or "base"


def write(grid: Grid, pts: list[Point], out_dir) -> None:
    """SWEEP/grid.toml (the grid file as given) and SWEEP/points.json (the resolved points):
    what the sweep was, so that it can be read back and extended."""
    out_dir = os.fspath(out_dir)
    with open(grid.path, "rb") as fh:
        text = fh.read()
    doc = {"grid": os.path.abspath(grid.path), "varied": grid.varied,
           "axes": {k: list(v) for k, v in grid.axes.items()},
           "sampled": list(grid.sample.dists) if grid.sample else [],
           "phase": {"fit": grid.rule.fit, "late": grid.rule.late},
           "base": grid.base,
           "points": [{"name": p.name, "params": p.params} for p in pts]}
    write_atomic(os.path.join(out_dir, "grid.toml"), text)
    write_atomic(os.path.join(out_dir, "points.json"), json.dumps(doc, indent=1).encode())


def read_points(out_dir) -> dict:
    """SWEEP/points.json as written by :func:`write`, checked: the varied keys and the points'
    names are names as grokscan makes them (grokscan/names.py), since they become file names
    (runs/<name>/, figures/time_to_grok_<key>.png) and HTML ids; each point's params are the
    varied keys' values; the base is a configuration and the phase rule a [phase] table."""
    path = os.path.join(os.fspath(out_dir), "points.json")
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise GrokscanError(f"{out_dir}: no points.json (not a sweep folder; make one with "
                            "`grokscan sweep grid.toml -o SWEEP/`)") from None
    except (OSError, ValueError) as e:
        raise GrokscanError(f"{path}: unreadable ({e})") from None
    except RecursionError:
        raise FileFormatError(f"{path}: unreadable (JSON nested too deeply)") from None
    return _checked_points(doc, path)


def _checked_points(doc, path: str) -> dict:
    def need(ok: bool, what: str, got) -> None:
        if not ok:
            raise FileFormatError(f"{path}: expected {what}, got {shown(got)}")

    need(isinstance(doc, dict), "a JSON object", type(doc).__name__)
    varied, points = doc.get("varied"), doc.get("points")
    need(isinstance(varied, list), "varied: a list of keys", varied)
    need(isinstance(points, list), "points: a list", type(points).__name__)
    for k in varied:
        safe_name(k, f"{path}: varied")
    need(len(set(varied)) == len(varied), "varied: each key once", varied)
    names = set()
    for p in points:
        need(isinstance(p, dict) and isinstance(p.get("params"), dict),
             "points: objects with a name and params", p)
        names.add(safe_name(p.get("name"), f"{path}: points: name"))
        need(set(p["params"]) == set(varied) and all(map(_value, p["params"].values())),
             f"points: params: a value of each varied key ({', '.join(varied)})", p["params"])
    need(len(names) == len(points), "points: each name once", len(points) - len(names))
    doc["grid"] = doc.get("grid", "")
    need(isinstance(doc["grid"], str), "grid: the grid file's path", doc["grid"])
    doc["base"] = _checked_base(doc.get("base", {}), path)
    doc["phase"] = dataclasses.asdict(_rule(doc.get("phase", {}), path))
    return doc


def _value(v) -> bool:
    """A value a point can vary: a number, a text, a flag, or a list of texts (operations)."""
    if isinstance(v, list):
        return bool(v) and all(isinstance(x, str) for x in v)
    return isinstance(v, (str, int, float, bool))


def _checked_base(base, path: str) -> dict:
    """points.json's base: the flat keys of `grokscan train` every point has, checked as a
    grid file's base is."""
    if not isinstance(base, dict):
        raise FileFormatError(f"{path}: expected base: an object of settings, got "
                              f"{shown(base)}")
    try:
        resolve(base)
    except GrokscanError as e:
        raise FileFormatError(f"{path}: base: {e}") from None
    return base
