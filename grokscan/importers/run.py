"""``grokscan import``: another tool's checkpoints of the [a, b, =] transformer as a grokscan
run file, written by grokscan's own Recorder (the same format version as ``grokscan train``'s),
with a ``provenance`` record (store/SCHEMA.md) and checked before anything is written: the
replayed grokscan model's logits on the full (a, b) grid equal the source model's own forward
pass (grokscan/importers/params.py) at the first and the last checkpoint."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass

import numpy as np

from grokscan._version import __version__
from grokscan.config import ModelConfig, RunConfig, TrainConfig
from grokscan.errors import GrokscanError
from grokscan.importers import params
from grokscan.importers import split as splits
from grokscan.importers.sources import Source, read_source
from grokscan.importers.write import write
from grokscan.tasks.modular import OPS, ModularConfig, ModularData, apply, validate

# The check: max |grokscan logit − source logit| over the P² pairs, over max(1, max |source
# logit|), at most this. The source's pass runs in float64 on its own (float32) weights,
# grokscan's model in float32; they differ by float32 rounding, ~1e-7 of the logits' scale.
ACTIVATIONS = ("relu", "gelu")


@dataclass(frozen=True)
class ImportOptions:
    """What ``grokscan import`` is told; each None is taken from the source or refused."""

    fmt: str | None = None  # sources.FORMATS; None: detected
    p: int | None = None
    op: str | None = None
    activation: str | None = None  # relu or gelu
    train_pairs: str | None = None  # a file (split.read_train_pairs)
    frac: float | None = None
    seed: int | None = None
    split_rule: str | None = None  # split.RULES; None: the source's own, where known
    grads: bool = True  # record the full-batch training gradient at each checkpoint
    force: bool = False
    trust_pickle: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class Resolved:
    p: int
    op: str
    activation: str
    train: np.ndarray  # (P²,) bool over the a-major grid
    frac: float
    seed: int | None
    split: str  # where the split came from, in words


def _one(name: str, held, given, where: str, flag: str):
    """The value the source holds or the one given; they must agree when both are there."""
    if held is not None and given is not None and held != given:
        raise GrokscanError(f"{flag} {given}: {where} says {name} = {held}")
    return held if held is not None else given


def resolve(src: Source, d: params.Dims, opts: ImportOptions) -> Resolved:
    """P, the operation, the activation and the split: from the source, else from the
    options; a GrokscanError naming what is missing or what disagrees."""
    p = d.p
    if src.meta.get("p") is not None and int(src.meta["p"]) != p:
        raise GrokscanError(f"{src.path}: its config says P = {src.meta['p']}, but embed.W_E "
                            f"has {d.d_vocab} tokens (P + 1 with '=')")
    if opts.p is not None and opts.p != p:
        raise GrokscanError(f"--p {opts.p}: {src.path} has {d.d_vocab} input tokens (the "
                            f"residues and '='), so P = {p}")
    op = _one("the operation", src.meta.get("op"), opts.op, src.path, "--op")
    if op is None:
        raise GrokscanError(f"{src.path} does not say which operation it learned; give --op "
                            "(add, sub, mul, …: `grokscan ops` lists them)")
    if op not in OPS:
        raise GrokscanError(f"--op {op}: unknown operation; expected one of {', '.join(OPS)}")
    validate(ModularConfig(ops=(op,), p=p))
    act = _one("the activation", src.meta.get("activation"), opts.activation, src.path,
               "--activation")
    if act not in ACTIVATIONS:
        raise GrokscanError(f"{src.path} does not say which activation its MLP uses; give "
                            "--activation relu or --activation gelu" if act is None else
                            f"--activation {act}: expected relu or gelu")
    train, frac, seed, how = _split(src, p, opts)
    n = int(train.sum())
    if not 0 < n < p * p:
        raise GrokscanError(f"the split puts {n} of the {p * p} pairs in training; expected "
                            "some in each of train and test")
    return Resolved(p, op, act, train, frac if frac is not None else n / (p * p), seed, how)


def _split(src: Source, p: int, opts: ImportOptions):
    """(train mask, frac, seed, how) from the source and the options; they must agree."""
    held = held_how = None
    m = src.meta
    if m.get("train_pairs") is not None:
        held = splits.from_pairs(m["train_pairs"], p, src.path)
    elif m.get("train_index") is not None:
        held = splits.from_index(m["train_index"], p, src.path)
    elif m.get("frac") is not None and m.get("seed") is not None and src.fmt == "nanda":
        held = splits.nanda_rule(p, float(m["frac"]), int(m["seed"]))
    if held is not None:
        said = "; ".join(n for n in src.notes if "split" in n) or "its config's frac_train " \
            "and seed, Nanda's rule"
        held_how = f"held by the source: {said}"
    given, given_how = _given_split(src, p, opts)
    if held is None and given is None:
        rule = " (Nanda's rule: random.seed(seed); random.shuffle of the a-major pairs)" \
            if src.fmt == "nanda" else " with --split-rule nanda|randperm"
        raise GrokscanError(f"{src.path} holds no train/test split; give --train-pairs FILE, "
                            f"or --frac F --seed S{rule}")
    if held is not None and given is not None and not np.array_equal(held, given):
        raise GrokscanError(f"the split given ({given_how}) is not the one {src.path} holds: "
                            f"{int((held != given).sum())} of {p * p} pairs differ")
    frac = opts.frac if opts.frac is not None else m.get("frac")
    seed = opts.seed if opts.seed is not None else m.get("seed")
    return (held if held is not None else given, None if frac is None else float(frac),
            None if seed is None else int(seed), held_how or given_how)


def _given_split(src: Source, p: int, opts: ImportOptions):
    if opts.train_pairs is not None:
        if opts.frac is not None or opts.seed is not None:
            raise GrokscanError("--train-pairs goes without --frac/--seed: the file is the split")
        return splits.read_train_pairs(opts.train_pairs, p), f"--train-pairs {opts.train_pairs}"
    if opts.frac is None and opts.seed is None:
        return None, None
    frac = opts.frac if opts.frac is not None else src.meta.get("frac")
    seed = opts.seed if opts.seed is not None else src.meta.get("seed")
    if frac is None or seed is None:
        raise GrokscanError("--frac and --seed go together: the split rule needs both")
    if not 0 < float(frac) < 1:
        raise GrokscanError(f"--frac: expected a number in (0, 1), got {frac}")
    rule = opts.split_rule or ("nanda" if src.fmt == "nanda" else None)
    if rule is None:
        raise GrokscanError(f"--frac/--seed: the {src.fmt} layout has no split rule of its own; "
                            "give --split-rule nanda (Nanda's code) or randperm (TransformerLens's"
                            " grokking demo), or --train-pairs FILE")
    fn = splits.nanda_rule if rule == "nanda" else splits.randperm_rule
    return fn(p, float(frac), int(seed)), f"--frac {frac} --seed {seed}, rule {rule}"


def _config(src: Source, d: params.Dims, r: Resolved, opts: ImportOptions) -> RunConfig:
    if d.d_head * d.n_heads != d.d_model:
        raise GrokscanError(f"{src.path}: d_head {d.d_head} × {d.n_heads} heads ≠ d_model "
                            f"{d.d_model}; grokscan's transformer has d_head = d_model / n_heads")
    steps = [c.step for c in src.checkpoints]
    gaps = np.diff(steps)
    every = int(np.gcd.reduce(gaps)) if len(gaps) else 1
    train = {k: float(src.meta[k]) for k in ("lr", "wd") if src.meta.get(k) is not None}
    return RunConfig(
        ModularConfig(ops=(r.op,), p=r.p, frac=round(r.frac, 12)),
        ModelConfig(kind="transformer", d_embed=d.d_model, width=d.d_mlp, depth=d.n_layers,
                    n_heads=d.n_heads, pos_embed=d.pos_embed, activation=r.activation,
                    bias=True, attn_bias=d.attn_bias),
        TrainConfig(steps=max(steps), every=max(every, 1), seed=r.seed or 0, warmup=0,
                    grads=opts.grads, **train))


def task_of(r: Resolved) -> ModularData:
    """Every (a, b) pair, a-major, with the resolved split."""
    a, b = np.divmod(np.arange(r.p * r.p), r.p)
    examples = np.stack([a, np.zeros_like(a), b], axis=1)
    return ModularData(r.p, (r.op,), examples, apply(r.op, a, b, r.p), r.train.copy(), r.frac)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(src: Source, d: params.Dims, r: Resolved, opts: ImportOptions,
               check: dict) -> dict:
    base = src.path if os.path.isdir(src.path) else os.path.dirname(src.path)
    given = {k: v for k, v in dataclasses.asdict(opts).items()
             if v is not None and k in ("fmt", "p", "op", "activation", "train_pairs", "frac",
                                        "seed", "split_rule")}
    return {"source": os.path.abspath(src.path), "format": src.fmt,
            "parametrisation": {"nanda": "nanda", "tl": "transformer-lens"}[d.kind],
            "files": [{"name": os.path.relpath(f, base), "sha256": sha256(f)}
                      for f in dict.fromkeys(src.files)],
            "grokscan_version": __version__, "from_source": src.notes, "given": given,
            "split": r.split, "steps": _STEP_RULE[src.fmt], "check": check}


_STEP_RULE = {
    "nanda": "epoch + 1 (his loops save after that epoch's optimizer step); init.pth: 0; "
             "final.pth: its epoch",
    "transformer-lens": "the number in each file's name; a demo dict's checkpoint_epochs + 1",
    "state-dicts": "the number in each file's name",
    "safetensors": "the number in each file's name",
}


def import_run(src_path, out, opts: ImportOptions = ImportOptions()) -> dict:
    """Import ``src_path`` into the grokscan run file ``out``; see the module docstring.
    Returns a summary: the file, its format, checkpoints, steps, P, the operation, the check."""
    out = os.fspath(out)
    if os.path.exists(out) and not opts.force:
        raise GrokscanError(f"{out} exists; pass --force to overwrite it")
    src = read_source(src_path, opts.fmt, trust=opts.trust_pickle)
    first = src.checkpoints[0]
    sd = first.load()
    kind = params.detect(sd, first.label)
    want = {"nanda": "nanda", "transformer-lens": "tl"}.get(src.fmt)
    if want is not None and kind != want:
        raise GrokscanError(f"--from {src.fmt}: {first.label} has blocks.0.attn.W_O of shape "
                            f"{tuple(sd['blocks.0.attn.W_O'].shape)}, the "
                            f"{'Nanda-code' if kind == 'nanda' else 'TransformerLens'} layout; "
                            "use --from state-dicts (either layout)")
    d = params.dims(sd, kind, first.label)
    r = resolve(src, d, opts)
    cfg = _config(src, d, r, opts)
    return write(out, src, d, r, cfg, opts, task=task_of(r),
                 provenance=lambda check: provenance(src, d, r, opts, check))

