"""Where another tool's checkpoints are and what they say about their run: the four source
layouts of ``grokscan import``, read into a list of checkpoints in step order and what the
source holds of its task (the modulus, the operation, the split, the activation).

- ``nanda``: Nanda's progress-measures code (transformers.py, ``Trainer``): a folder of
  ``{epoch}.pth`` files, each ``{"model": state_dict, "train_loss", "test_loss", "epoch"}``,
  with ``init.pth`` (``"model"``, ``"train_data"``, ``"test_data"``: the split as
  (a, b, P) triples) and ``final.pth``; and/or ``full_run_data.pth``, one dict of
  ``"state_dicts"`` (or ``"checkpoints"``), ``"epochs"`` (or ``"checkpoint_epochs"``), the
  losses, and maybe ``"config"`` and ``"train_indices"``. Both of his loops save after the
  optimizer step of an epoch, so the weights saved at epoch e are those after e + 1 full-batch
  steps: grokscan's step is e + 1 (``init.pth``: step 0; ``final.pth``: its ``epoch``, the
  number of epochs run).
- ``transformer-lens``: torch files of HookedTransformer state dicts (bare, or under
  ``"model"`` / ``"state_dict"``): one file, a folder of them (the step is the last number in
  each file's name), or the dict of TransformerLens's grokking demo (``"checkpoints"``,
  ``"checkpoint_epochs"``, ``"train_indices"``; saved after the step: step = epoch + 1).
- ``state-dicts``: a folder (or one file) of torch state dicts in either parametrisation, the
  step from each file's name.
- ``safetensors``: ``.safetensors`` files, the same naming (needs the ``safetensors`` package).

Torch files are read with ``torch.load(weights_only=True)``: tensors and plain containers, no
code. A file that needs more (a pickled config object) is refused unless ``trust_pickle``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from grokscan.errors import GrokscanError

FORMATS = ("nanda", "transformer-lens", "state-dicts", "safetensors")
TORCH_EXT = (".pth", ".pt", ".bin", ".ckpt")
FULL_RUN = "full_run_data.pth"


@dataclass
class Checkpoint:
    step: int
    label: str  # the file (and index) it comes from
    load: Callable[[], dict]  # its state dict {name: tensor}


@dataclass
class Source:
    path: str
    fmt: str
    files: list[str]  # every file read
    checkpoints: list[Checkpoint]
    meta: dict = field(default_factory=dict)  # p, op, activation, frac, seed, train_grid, lr, wd
    notes: list[str] = field(default_factory=list)  # where each piece of meta came from


def torch_load(path: str, trust: bool):
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        first = next((ln for ln in lines if "Unsupported global" in ln), lines[0] if lines
                     else "a Python object").split(" was not an allowed")[0][:160]
        raise GrokscanError(f"{path}: holds Python objects beyond tensors and plain containers "
                            f"({first}); pass --trust-pickle to load it anyway, only if you "
                            "trust the file (unpickling runs code)") from None
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise GrokscanError(f"{path}: torch cannot read it ({str(e).splitlines()[0][:160]})"
                            ) from None


def safetensors_load(path: str) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise GrokscanError("reading .safetensors files needs the safetensors package: pip "
                            "install safetensors (or grokscan[import])") from None
    try:
        return load_file(path)
    except Exception as e:  # safetensors raises its own error types for a bad header
        raise GrokscanError(f"{path}: not a readable safetensors file ({e})") from None


def state_dict_of(obj, where: str) -> dict:
    """The state dict in a loaded torch file: itself, or under "model" / "state_dict"."""
    import torch

    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        keys = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
        raise GrokscanError(f"{where}: expected a state dict of tensors (bare, or under "
                            f"'model' or 'state_dict'), found {keys}")
    return dict(obj)


def step_of(name: str) -> int | None:
    """The last number in a file name's stem ("ckpt_1200.pt" → 1200), or None."""
    found = re.findall(r"\d+", os.path.splitext(os.path.basename(name))[0])
    return int(found[-1]) if found else None


def _listing(path: str) -> list[str]:
    return sorted(os.path.join(path, n) for n in os.listdir(path)
                  if os.path.isfile(os.path.join(path, n)))


def seen(path: str) -> str:
    """What a folder holds, in a few words, for an error message."""
    if not os.path.isdir(path):
        return os.path.basename(path)
    names = [os.path.basename(f) for f in _listing(path)]
    exts: dict[str, int] = {}
    for n in names:
        ext = os.path.splitext(n)[1] or "(no extension)"
        exts[ext] = exts.get(ext, 0) + 1
    return (", ".join(f"{k} × {v}" for k, v in sorted(exts.items())) or "nothing") + \
        (f" (e.g. {', '.join(names[:3])})" if names else "")


def numbered(files: list[str], where: str) -> list[tuple[int, str]]:
    """(step, file) in step order, the step from each name; one unnumbered file is step 0."""
    if len(files) == 1 and step_of(files[0]) is None:
        return [(0, files[0])]
    out = []
    for f in files:
        s = step_of(f)
        if s is None:
            raise GrokscanError(f"{f}: no step number in the file name (expected names like "
                                f"step_100.pt, 100.safetensors) among the checkpoints of {where}")
        out.append((s, f))
    out.sort()
    for (s, a), (t, b) in zip(out, out[1:]):
        if s == t:
            raise GrokscanError(f"{a} and {b} carry the same step {s}")
    return out


NANDA_OPS = {"add": "add", "subtract": "sub", "x2xyy2": "x2+xy+y2"}  # Config.fns_dict
NANDA_ACTS = {"ReLU": "relu", "GeLU": "gelu"}  # Config.act_type (F.relu, F.gelu)


def _lazy(f: str, trust: bool, loader=None) -> Callable[[], dict]:
    if loader is not None:
        return lambda: loader(f)
    return lambda: state_dict_of(torch_load(f, trust), f)


def _nanda_config(cfg, src: Source, where: str) -> None:
    """What Nanda's Config (a dict, or the dataclass when trusted) says of the run."""
    def get(name):
        return cfg.get(name) if isinstance(cfg, dict) else getattr(cfg, name, None)

    fn, act = get("fn_name"), get("act_type")
    if fn is not None and fn not in NANDA_OPS:
        raise GrokscanError(f"{where}: the run's fn_name is {fn!r}; grokscan imports "
                            f"{', '.join(NANDA_OPS)} (its operations add, sub, x2+xy+y2)")
    values = {"p": get("p"), "op": NANDA_OPS.get(fn), "frac": get("frac_train"),
              "seed": get("seed"), "activation": NANDA_ACTS.get(act), "lr": get("lr"),
              "wd": get("weight_decay")}
    for k, v in values.items():
        if v is not None:
            src.meta.setdefault(k, v)
            src.notes.append(f"{k} from {os.path.basename(where)} config")


def _split_of(obj: dict, src: Source, where: str) -> None:
    import numpy as np

    if obj.get("train_data") is not None:  # init.pth: (a, b, P) triples
        src.meta["train_pairs"] = np.asarray(obj["train_data"], dtype=np.int64)[:, :2]
    elif obj.get("train_indices") is not None:  # indices into the a-major (a, b) grid
        src.meta["train_index"] = np.asarray(obj["train_indices"], dtype=np.int64).ravel()
    else:
        return
    src.notes.append(f"split from {os.path.basename(where)}")


def _full_run(path: str, src: Source, trust: bool) -> None:
    """The checkpoints of one full-run dict (Nanda's full_run_data.pth, the TransformerLens
    demo's save): state dicts and their epochs; step = epoch + 1 (saved after the step)."""
    obj = torch_load(path, trust)
    src.files.append(path)
    sds = obj.get("state_dicts", obj.get("checkpoints")) if isinstance(obj, dict) else None
    epochs = obj.get("epochs", obj.get("checkpoint_epochs")) if isinstance(obj, dict) else None
    if not isinstance(sds, (list, tuple)) or epochs is None or len(epochs) != len(sds):
        keys = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise GrokscanError(f"{path}: expected a list 'state_dicts' (or 'checkpoints') and as "
                            f"many 'epochs' (or 'checkpoint_epochs'); found {keys}")
    for i, (e, sd) in enumerate(zip(epochs, sds)):
        label = f"{path}[{i}]"
        src.checkpoints.append(Checkpoint(int(e) + 1, label,
                                          lambda sd=sd, label=label: state_dict_of(sd, label)))
    if obj.get("config") is not None:
        _nanda_config(obj["config"], src, path)
    _split_of(obj, src, path)


def _nanda_dir(path: str, src: Source, trust: bool) -> None:
    files = {os.path.basename(f): f for f in _listing(path)}
    epochs = sorted((int(n[:-4]), f) for n, f in files.items() if re.fullmatch(r"\d+\.pth", n))
    full = files.get(FULL_RUN)
    if not epochs and "init.pth" not in files:
        if full is None:
            raise GrokscanError(f"{path}: no {{epoch}}.pth, init.pth or {FULL_RUN} (Nanda's "
                                f"layout); seen: {seen(path)}")
        _full_run(full, src, trust)
        return
    if full is not None:  # its config and split; the checkpoints are the epoch files
        scratch = Source(path, "nanda", [], [])
        _full_run(full, scratch, trust)
        src.files += scratch.files
        src.meta.update(scratch.meta)
        src.notes += scratch.notes
    if "init.pth" in files:
        init = torch_load(files["init.pth"], trust)
        src.files.append(files["init.pth"])
        _split_of(init if isinstance(init, dict) else {}, src, files["init.pth"])
        sd = state_dict_of(init, files["init.pth"])
        src.checkpoints.append(Checkpoint(0, files["init.pth"], lambda: sd))
    for e, f in epochs:
        src.files.append(f)
        src.checkpoints.append(Checkpoint(e + 1, f, _lazy(f, trust)))
    if "final.pth" in files:
        final = torch_load(files["final.pth"], trust)
        step = int(final.get("epoch", -1)) if isinstance(final, dict) else -1
        if step >= 0 and step not in {c.step for c in src.checkpoints}:
            sd = state_dict_of(final, files["final.pth"])
            src.files.append(files["final.pth"])
            src.checkpoints.append(Checkpoint(step, files["final.pth"], lambda: sd))


def _is_full_run(obj) -> bool:
    return isinstance(obj, dict) and ("state_dicts" in obj or "checkpoints" in obj)


def _files_of(path: str, exts: tuple[str, ...], src: Source, trust: bool, loader=None) -> None:
    files = [f for f in ([path] if os.path.isfile(path) else _listing(path))
             if f.endswith(exts)]
    if not files:
        raise GrokscanError(f"{path}: no {'/'.join(exts)} files; seen: {seen(path)}")
    if loader is None and len(files) == 1 and _is_full_run(torch_load(files[0], trust)):
        _full_run(files[0], src, trust)
        return
    for step, f in numbered(files, path):
        src.files.append(f)
        src.checkpoints.append(Checkpoint(step, f, _lazy(f, trust, loader)))


def detect(path: str, trust: bool) -> str:
    """The source layout of ``path`` when only one fits; a GrokscanError that lists what was
    seen otherwise."""
    from grokscan.importers.params import detect as parametrisation

    if os.path.isdir(path):
        files = _listing(path)
        names = {os.path.basename(f) for f in files}
        st = [f for f in files if f.endswith(".safetensors")]
        tf = [f for f in files if f.endswith(TORCH_EXT)]
        if st and tf:
            raise GrokscanError(f"{path} holds both .safetensors and torch files ({seen(path)});"
                                " say which with --from")
        if st:
            return "safetensors"
        if FULL_RUN in names or "init.pth" in names:
            return "nanda"
        if not tf:
            raise GrokscanError(f"{path}: no checkpoints grokscan can read (seen: {seen(path)}); "
                                f"expected torch files ({', '.join(TORCH_EXT)}) or .safetensors")
        first = tf[0]
    elif path.endswith(".safetensors"):
        return "safetensors"
    else:
        first = path
    obj = torch_load(first, trust)
    if _is_full_run(obj) and not obj[_sds_key(obj)]:
        raise GrokscanError(f"{first}: its {_sds_key(obj)} list is empty")
    sd = obj[_sds_key(obj)][0] if _is_full_run(obj) else obj
    wrapped = isinstance(sd, dict) and "model" in sd and "epoch" in sd
    kind = parametrisation(state_dict_of(sd, first), first)
    if kind == "tl":
        return "transformer-lens"
    return "nanda" if wrapped or _is_full_run(obj) else "state-dicts"


def _sds_key(obj: dict) -> str:
    return "state_dicts" if "state_dicts" in obj else "checkpoints"


def read_source(path: str, fmt: str | None, *, trust: bool = False) -> Source:
    """The checkpoints of ``path`` in step order, and what it holds of its run."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise GrokscanError(f"{path}: no such file or folder")
    fmt = fmt or detect(path, trust)
    src = Source(path, fmt, [], [])
    if fmt == "nanda":
        if os.path.isdir(path):
            _nanda_dir(path, src, trust)
        else:
            _full_run(path, src, trust)
    elif fmt == "safetensors":
        _files_of(path, (".safetensors",), src, trust, loader=safetensors_load)
    else:
        _files_of(path, TORCH_EXT, src, trust)
    src.checkpoints.sort(key=lambda c: c.step)
    steps = [c.step for c in src.checkpoints]
    if not steps:
        raise GrokscanError(f"{path}: no checkpoints found ({seen(path)})")
    dup = [s for s, t in zip(steps, steps[1:]) if s == t]
    if dup:
        raise GrokscanError(f"{path}: two checkpoints at step {dup[0]}")
    return src
