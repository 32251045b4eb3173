"""`grokscan train`, `grokscan info`, `grokscan ops`."""

from __future__ import annotations

import json
import sys

import click

from grokscan.cli._click import THREADS_HELP, FiniteRange, LazyOptions

TRAIN_HELP = """Train a model and record dense checkpoints to one HDF5 file.

    With no options: addition mod 97, train fraction 0.3, MLP (embedding 128 → 512 ReLU → 97),
    AdamW lr 1e-2, weight decay 1, 2000 full-batch steps, a checkpoint every 20 steps. With
    --task ising: the network of Hutchison & Yevick on data/ising8.h5 (64 spins → 4 × 48 ReLU,
    no biases, init × 7 → 4 energy classes), Adam lr 5e-4, L2 weight decay 5e-4, 20000
    full-batch steps. Every option is also a key of a --config TOML file, spelled as the
    option without its dashes (`d-embed = 64`; a flag pair --x/--no-x is `x = true` or
    `x = false`: `grads = false`; `threads = 1`, `quiet = true`); options given on the
    command line win.

    \b
    grokscan train -o run.h5
    grokscan train -o mul.h5 --op mul --p 59 --frac 0.5 --every 10
    grokscan train -o tf.h5 --model transformer --lr 1e-3 --p 59 --frac 0.5
    grokscan train -o run.h5 --resume --steps 4000
    grokscan train -o run.h5 --p 59 --watch
    grokscan train -o ising.h5 --task ising --beta 0.5 --eval-inverted
    """


def setting_options() -> list[click.Option]:
    """One click option per setting of every trainable task, the model and the training
    (grokscan/settings.py), each with default None so that a --config file and the task's own
    defaults can fill in; the help shows the default."""
    from grokscan import tasks
    from grokscan.config import ModelConfig, TrainConfig
    from grokscan.settings import options

    seen: dict[str, click.Option] = {}
    classes = [tasks.TASKS[k].Config for k in tasks.TRAINABLE] + [ModelConfig, TrainConfig]
    for cls in classes:
        for key, f in options(cls).items():
            if key not in seen:
                seen[key] = _option(key, f)
    return list(seen.values())


def _option(key: str, f) -> click.Option:
    from grokscan import tasks
    from grokscan.settings import value_type

    name = "--" + key.replace("_", "-")
    m, t = f.metadata, value_type(f)
    defaults = {kind: tasks.TASKS[kind].defaults[f.name] for kind in tasks.TRAINABLE
                if f.name in tasks.TASKS[kind].defaults}
    shown = ", ".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
    extra = "".join(f"; {kind}: {v}" for kind, v in defaults.items())
    help_text = f"{m['help'][0].upper()}{m['help'][1:]}. [default: {shown}{extra}]"
    if key == "task":
        return click.Option([name], type=click.Choice(list(tasks.TRAINABLE)),
                            help=f"The task. [default: {tasks.TRAINABLE[0]}]")
    if t is bool:
        return click.Option([f"{name}/--no-{name[2:]}"], default=None, help=help_text)
    return click.Option([name], type=_click_type(f, t), help=help_text)


def _click_type(f, t):
    m = f.metadata
    if m.get("choices"):
        return click.Choice(list(m["choices"]))
    if t in (int, float) and (m.get("min") is not None or m.get("max") is not None):
        rng = click.IntRange if t is int else FiniteRange
        return rng(min=m.get("min"), max=m.get("max"), min_open=m.get("min_open", False),
                   max_open=m.get("max_open", False))
    if t is str and f.name == "data":
        return click.Path(dir_okay=False)
    return {int: int, float: float}.get(t, str)


def load_toml(path: str) -> dict:
    """The keys of a --config TOML file, flat (tables [task], [model], [train] are merged)."""
    from grokscan.files import read_toml

    values = read_toml(path, "the TOML config")
    flat = {}
    for k, v in values.items():
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    return flat


COMMAND_KEYS = ("threads", "resume", "force", "quiet", "watch")  # the command's, not the run's


def command_keys(values: dict, path: str | None) -> dict:
    """Take the command's own keys (COMMAND_KEYS, either spelling) out of a --config file's
    ``values``, checked: {key: value}."""
    from grokscan.errors import GrokscanError
    from grokscan.settings import key

    own = {key(k): values.pop(k) for k in list(values) if key(k) in COMMAND_KEYS}
    for k, v in own.items():
        ok = (type(v) is int and 0 <= v <= 1024) if k == "threads" else type(v) is bool
        if not ok:
            what = "a whole number in [0, 1024]" if k == "threads" else "true or false"
            raise GrokscanError(f"{path}: {k}: expected {what}, got {v!r}")
    return own


@click.command(cls=LazyOptions, options=setting_options, at=1, help=TRAIN_HELP)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="The checkpoint file to write.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A TOML file with the same keys as these options (the options win).")
@click.option("--threads", type=click.IntRange(0, 1024), help=THREADS_HELP)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint"
              " (its own settings: another value of any other option is refused; --steps "
              "and --stop-when-grokked may change).")
@click.option("--force", is_flag=True, help="Overwrite an existing --out.")
@click.option("-q", "--quiet", is_flag=True, default=None, help="No progress bar.")
@click.option("--watch", is_flag=True, default=None,
              help="Show the live view of `grokscan watch` instead of the progress bar.")
def train(out, config_file, threads, resume, force, quiet, watch, **options):
    from grokscan.hdf5.lock import check_free

    check_free(out)  # a file being written is refused at once, before torch is imported
    from grokscan.config import check_resume, resolve
    from grokscan.settings import key
    from grokscan.threads import use as use_threads
    from grokscan.training import Interrupted, saved_config
    from grokscan.training import train as run_training

    values = load_toml(config_file) if config_file else {}
    own = command_keys(values, config_file)  # threads, resume, force, quiet from the file
    threads = own.get("threads") if threads is None else threads
    resume, force = resume or own.get("resume", False), force or own.get("force", False)
    quiet = own.get("quiet", False) if quiet is None else quiet
    watch = own.get("watch", False) if watch is None else watch
    values.update({k: v for k, v in options.items() if v is not None})
    if resume:  # the run's own settings; only its length and its early stop may be given
        saved = saved_config(out)
        check_resume(saved, values, out)
        values = {key(k): v for k, v in values.items()}
        values.setdefault("steps", saved.train.steps)
        values.setdefault("stop_when_grokked", saved.train.stop_when_grokked)
    cfg = resolve(values, also=COMMAND_KEYS)
    use_threads(threads)
    follower = _follower(out, cfg, resume) if watch else None
    try:
        result = run_training(cfg, out, force=force, resume=resume, quiet=quiet or watch,
                              on_checkpoint=follower)
    except Interrupted as e:
        if follower is not None:
            follower.close("interrupted")
        click.echo(f"\ninterrupted: the {e.n} checkpoints written are in {out} (continue "
                   "with --resume)" if e.n else "\ninterrupted before the first checkpoint: "
                   f"nothing was written to {out}", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted before the first checkpoint: nothing was written to {out}",
                   err=True)
        sys.exit(130)
    except BaseException:
        if follower is not None:  # the terminal back as it was before the error's line
            follower.close("stopped")
        raise
    if follower is not None:
        follower.close()
    if result.added == 0:
        click.echo(f"nothing to train: {out} already reaches step {result.last_step} "
                   f"({result.n_checkpoints} checkpoints)", err=True)
    elif not quiet:
        how = "stopped early" if result.stopped_early else "done"
        click.echo(f"{how}: {result.n_checkpoints} checkpoints, last step {result.last_step}, "
                   f"in {out}", err=True)


def _follower(out: str, cfg, resume: bool):
    """The live view of ``grokscan watch`` fed by the training itself (its own task: the
    file's config on a resume)."""
    from grokscan.training import saved_config
    from grokscan.watch.live import Follower

    return Follower(out, saved_config(out) if resume else cfg)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(path, as_json):
    """What a checkpoint file holds: config, checkpoints, parameters, accuracy crossings,
    and the forecast: the default onset detector's flag over the checkpoints, named, with
    what it measured on held-out runs (and the in-loop model's, where the run has it).

    \b
    grokscan info run.h5
    grokscan info run.h5 --json
    """
    from grokscan.info import describe, format_text

    d = describe(path)
    click.echo(json.dumps(d, indent=1) if as_json else format_text(d))


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
def repair(path):
    """Let any HDF5 tool open a run file whose writer was killed.

    A writer stopped by SIGKILL or a power cut leaves flags in the file's superblock that make
    HDF5 tools other than grokscan refuse it ("file is already open for write"). This clears
    them in place, as HDF5's own `h5clear -s` would; no checkpoint is touched. It refuses a
    file that a live process is writing. `grokscan train --resume` does the same by itself.

    \b
    grokscan repair run.h5
    """
    from grokscan.store.writer import repair as clear

    if clear(path):
        click.echo(f"{path}: cleared the flags its killed writer left; it opens anywhere now")
    else:
        click.echo(f"{path}: nothing to repair (no writer flags set)")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ops(as_json):
    """List the modular operations by category.

    \b
    grokscan ops
    """
    from grokscan.tasks.modular import OPS

    if as_json:
        click.echo(json.dumps({k: {"category": o.category, "group": o.group,
                                   "needs_prime": o.needs_prime} for k, o in OPS.items()}))
        return
    categories: dict[str, list[str]] = {}
    for name, op in OPS.items():
        categories.setdefault(op.category, []).append(name)
    for cat, names in categories.items():
        click.echo(f"{cat:<13} {'  '.join(names)}")
    click.echo("(x is a, y is b; x2 is a², (x+y)3 is (a+b)³. mul and div use the multiplicative "
               "Fourier basis.)")


COMMANDS = (train, info, repair, ops)
