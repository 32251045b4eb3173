"""The front door for Python users: train, analyse, draw the report, and open what they write.
Each function is the library call behind one command of the command line, with the same
checks and the same files; ``import grokscan`` exports them (grokscan/__init__.py).
"""

from __future__ import annotations

import os

from grokscan.config import RunConfig, resolve


def run_config(**settings) -> RunConfig:
    """A run's configuration from the settings of ``grokscan train``, as keyword arguments.

    Parameters
    ----------
    **settings
        Any option of ``grokscan train`` without its dashes (``op="mul"``, ``p=59``,
        ``frac=0.5``, ``d_embed=64``, ``wd=1.0``, ``steps=2000``; a flag pair ``--x/--no-x`` is
        ``x=True`` or ``x=False``). Unset ones take the task's defaults, then the global ones.

    Returns
    -------
    RunConfig
        The task's settings, the model's and the training's, checked: an unknown name or a
        value out of range is a ``GrokscanError`` that says what was expected.

    Examples
    --------
    >>> import grokscan
    >>> cfg = grokscan.run_config(op="mul", p=59, frac=0.5, steps=500)
    >>> cfg.task.p, cfg.train.steps
    (59, 500)
    """
    return resolve(settings)


def train(path, config: RunConfig | None = None, *, resume: bool = False, force: bool = False,
          threads: int | None = None, quiet: bool = True, **settings):
    """Train a model as ``grokscan train`` does and write its checkpoint file.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file to write (``run.h5``).
    config : RunConfig, optional
        The run's configuration (:func:`run_config`); None: the defaults, changed by
        ``settings``.
    resume : bool, default False
        Continue the run in ``path`` from its last checkpoint, with its own settings (only
        ``steps`` and ``stop_when_grokked`` may be given).
    force : bool, default False
        Overwrite an existing ``path``.
    threads : int, optional
        Threads for torch and numpy (0: the cores idle now); None: as they are.
    quiet : bool, default True
        No progress bar.
    **settings
        Settings of ``grokscan train`` (see :func:`run_config`), over ``config``'s.

    Returns
    -------
    TrainResult
        ``path``, ``n_checkpoints``, ``last_step``, ``stopped_early`` and ``added`` (the
        checkpoints this call wrote).

    Examples
    --------
    >>> import grokscan
    >>> res = grokscan.train("run.h5", p=23, frac=0.5, d_embed=8, width=16, steps=40,
    ...                      force=True)  # doctest: +SKIP
    >>> res.n_checkpoints  # doctest: +SKIP
    5
    """
    from grokscan.config import check_resume
    from grokscan.training import saved_config
    from grokscan.training import train as run

    path = os.fspath(path)
    given = {**(config.flat() if config is not None else {}), **settings}
    if resume:  # the run's own settings, with the length asked for now
        saved = saved_config(path)
        check_resume(saved, given, path)
        config = resolve({**saved.flat(), **settings})
    else:
        config = resolve(given)
    if threads is not None:
        from grokscan.threads import use

        use(threads)
    return run(config, path, force=force, resume=resume, quiet=quiet)


def analyze(path, out, *, families=None, every: int = 1, jobs: int = 1, model=None,
            report: bool = True, quiet: bool = True, **options) -> dict:
    """Analyse the checkpoints of a run file as ``grokscan analyze`` does.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file (never modified).
    out : str or os.PathLike
        The output folder: ``metrics.h5``, ``metrics.csv`` and, with ``report``, the report.
    families : sequence of str, optional
        The metric families to compute (``grokscan metrics`` lists them); None: all that the
        run allows.
    every : int, default 1
        Analyse every ``every``-th checkpoint.
    jobs : int, default 1
        Worker processes.
    model : callable or str, optional
        For a run recorded with a :class:`ModelSpec` (a model of your own): the callable that
        builds the model, or its ``"module:name"``, the one the file names. The replayed
        families run your model only when you name it: a file never makes grokscan import
        code by itself.
    report : bool, default True
        Draw the figure report (:func:`report`) after.
    quiet : bool, default True
        No progress bars.
    **options
        The other options of ``grokscan analyze``: ``steps=(A, B)`` (an inclusive range of
        steps, None for an open end), ``basis`` ("auto", "additive", "multiplicative"),
        ``subset`` (checkpoints of the expensive families), ``key_freqs`` (a tuple of
        frequencies), ``settings`` (the replayed families' knobs, a FamilySettings).

    Returns
    -------
    dict
        What was written (``metrics_h5``, ``metrics_csv``), the checkpoints analysed
        (``n_checkpoints``), the families computed and those left out with the reason
        (``families``, ``left_out``), the basis, the key frequencies and the onset flag.

    Examples
    --------
    >>> import grokscan
    >>> grokscan.analyze("run.h5", "out/", families=["fourier", "norms"])  # doctest: +SKIP
    >>> grokscan.open_metrics("out/").table()["fourier/gini_embed"]  # doctest: +SKIP
    """
    from dataclasses import fields

    from grokscan.analysis import Options
    from grokscan.analysis import analyze as run
    from grokscan.errors import GrokscanError

    allowed = {f.name for f in fields(Options)} - {"families", "every", "jobs", "model",
                                                    "quiet"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise GrokscanError(f"analyze: unknown option(s) {', '.join(unknown)}; expected some "
                            f"of {', '.join(sorted(allowed))}")
    if "steps" in options:
        options["steps"] = tuple(options["steps"] or (None, None))
    opts = Options(every=every, jobs=jobs, quiet=quiet, model=model, **options)
    if families is not None:
        from dataclasses import replace

        opts = replace(opts, families=tuple(families))
    summary = run(path, out, opts)
    if report:
        summary["report"] = _draw(out, pdf=False, quiet=quiet)
    return summary


def report(out, *, pdf: bool = False, quiet: bool = True) -> dict:
    """Draw the figure report of an analysed run as ``grokscan report`` does: every figure
    that ``OUT/metrics.h5`` allows into ``OUT/figures/`` and one page, ``OUT/report.html``.

    Parameters
    ----------
    out : str or os.PathLike
        The output folder of :func:`analyze` (or its ``metrics.h5``).
    pdf : bool, default False
        Also ``OUT/report.pdf``: the summary and every figure in one document.
    quiet : bool, default True
        No progress bar.

    Returns
    -------
    dict
        The files written (``figures``, ``html``, ``pdf``: None without ``pdf``) and the
        sections drawn and left out.

    Examples
    --------
    >>> import grokscan
    >>> grokscan.report("out/")["html"]  # doctest: +SKIP
    'out/report.html'
    """
    return _draw(out, pdf=pdf, quiet=quiet)


def _draw(out, *, pdf: bool, quiet: bool) -> dict:
    from grokscan.reporting import render

    out = os.fspath(out)
    if os.path.isfile(out):
        out = os.path.dirname(os.path.abspath(out))
    return render(out, pdf=pdf, quiet=quiet)


def sweep_report(sweep, *, x: str | None = None, y: str | None = None,
                 quiet: bool = True) -> dict:
    """Draw the report of a sweep as ``grokscan sweep report`` does: ``SWEEP/report.html``
    with the phase diagrams over two of its varied settings.

    Parameters
    ----------
    sweep : str or os.PathLike
        The sweep's folder (``grokscan sweep GRID -o SWEEP``).
    x, y : str, optional
        The settings on the phase diagram's axes; None: the first two it varies (seeds aside).
    quiet : bool, default True
        No progress bar.

    Returns
    -------
    dict
        ``report`` (the page's path) and ``figures`` (the images drawn).

    Examples
    --------
    >>> import grokscan
    >>> grokscan.sweep_report("sweep/", x="wd", y="frac")["report"]  # doctest: +SKIP
    'sweep/report.html'
    """
    from grokscan.reporting.sweep import render

    return render(sweep, x=x, y=y, quiet=quiet)


def open_run(path):
    """Open a checkpoint file read-only (a file being written too: what it has committed).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file (``run.h5``).

    Returns
    -------
    Run
        ``steps`` (ndarray of shape (n_checkpoints,)), ``scalars`` ({name: ndarray of shape
        (n_checkpoints,)}), ``param(name, sel)`` (ndarray of shape
        ``(n_selected, *param_shape)``), ``grad(name, sel)``, ``param_names``, ``config``
        (RunConfig or None), ``task``; a context manager that closes the file.

    Examples
    --------
    >>> import grokscan
    >>> with grokscan.open_run("run.h5") as run:  # doctest: +SKIP
    ...     W = run.param("embed.W_E")  # (n_checkpoints, d_vocab, d_model)
    """
    from grokscan.store.reader import Run

    return Run(path)


def open_metrics(path):
    """Open a metrics file read-only: the ``metrics.h5`` that :func:`analyze` writes, or the
    folder holding it.

    Parameters
    ----------
    path : str or os.PathLike
        ``OUT/metrics.h5`` or ``OUT/``.

    Returns
    -------
    MetricsFile
        ``table()`` (a pandas DataFrame: one row per analysed checkpoint, indexed by step;
        the scalars and every metric of one number per checkpoint), ``get(path)`` (any metric
        as an array, e.g. ``get("metrics/fourier/norms_embed")``: ndarray of shape
        (n_checkpoints, n_basis)), ``names(group)``, ``steps``, ``scalars``; a context manager.

    Examples
    --------
    >>> import grokscan
    >>> with grokscan.open_metrics("out/") as m:  # doctest: +SKIP
    ...     df = m.table()
    """
    from grokscan.store.metrics import MetricsFile

    return MetricsFile(path)
