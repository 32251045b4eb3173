"""`grokscan import`: another tool's checkpoints as a grokscan run file."""

from __future__ import annotations

import click

FORMATS = ("nanda", "transformer-lens", "state-dicts", "safetensors")  # importers.FORMATS


@click.command("import")
@click.argument("src", type=click.Path(exists=True))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="The grokscan run file to write.")
@click.option("--from", "fmt", type=click.Choice(FORMATS),
              help="The source layout. [default: detected when only one fits]")
@click.option("--p", "p", type=click.IntRange(2, 4096),
              help="The modulus; checked against the embedding's size (P + 1 tokens).")
@click.option("--op", help="The operation, when the source does not say (`grokscan ops`).")
@click.option("--activation", type=click.Choice(["relu", "gelu"]),
              help="The MLP's activation, when the source does not say.")
@click.option("--train-pairs", type=click.Path(exists=True, dir_okay=False),
              help="The training pairs: .npy of (n, 2) pairs or (n,) indices a·P + b, or "
              "text with one 'a b' or 'a,b' per line.")
@click.option("--frac", type=float, help="Train fraction, to rebuild the split with the "
              "source's own rule (Nanda's: random.shuffle with --seed).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the split rule.")
@click.option("--split-rule", type=click.Choice(["nanda", "randperm"]),
              help="The split rule of --frac/--seed: nanda (Nanda's gen_train_test) or "
              "randperm (TransformerLens's grokking demo). [default: the source's own]")
@click.option("--grads/--no-grads", default=True, show_default=True,
              help="Record the full-batch training gradient at each checkpoint.")
@click.option("--trust-pickle", is_flag=True, help="Load torch files that hold Python objects "
              "(unpickling runs code: only for files you trust).")
@click.option("--force", is_flag=True, help="Overwrite an existing --out.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def import_(src, out, fmt, p, op, activation, train_pairs, frac, seed, split_rule, grads,
            trust_pickle, force, quiet):
    """Import another tool's checkpoints of the [a, b, =] transformer as a grokscan run file.

    SRC is a folder of Nanda's {epoch}.pth files (and/or his full_run_data.pth), TransformerLens
    HookedTransformer state dicts, plain state-dict files or .safetensors files (the step from
    each file's name). The parameters are mapped onto grokscan's transformer; the modulus, the
    operation, the split and the activation come from the source where it holds them, else
    from the options, and are never guessed. Before anything is written, the replayed
    grokscan model's logits over every (a, b) must equal the source model's own forward pass
    at the first and the last checkpoint (within 1e-5 of the logits' scale); the file records
    where it came from (its `provenance` attribute). Then `grokscan info`, `analyze`, `report`
    and `factor` work on it as on a trained run.

    \b
    grokscan import runs/grok_1674663919/ -o nanda.h5 --op add --activation relu
    grokscan import full_run_data.pth -o nanda.h5 --trust-pickle
    grokscan import tl_ckpts/ -o tl.h5 --op add --activation relu --train-pairs train.txt
    """
    from grokscan.importers import ImportOptions, import_run

    opts = ImportOptions(fmt=fmt, p=p, op=op, activation=activation, train_pairs=train_pairs,
                         frac=frac, seed=seed, split_rule=split_rule, grads=grads, force=force,
                         trust_pickle=trust_pickle, quiet=quiet)
    s = import_run(src, out, opts)
    if not quiet:
        err = max(s["check"]["max_error"])
        click.echo(f"{s['out']}: {s['n_checkpoints']} checkpoints, steps {s['steps'][0]}.."
                   f"{s['steps'][1]}, {s['op']} mod {s['p']} from {s['format']} "
                   f"({s['parametrisation']} parameters); split {s['split']}; logits equal the "
                   f"source's to {err:.1e} (tolerance {s['check']['tolerance']:g})", err=True)


COMMANDS = (import_,)
