"""The watch loop: poll the file, update the view, redraw it in place (rich.live.Live), and
rewrite the HTML page, until the run ends; then the one-screen summary."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.live import Live

from grokscan.errors import GrokscanError
from grokscan.watch import page
from grokscan.watch.reader import LiveRun, Rows, wait_for
from grokscan.watch.view import View

REPLAY_FRAMES = 200  # a replay draws about this many frames, whatever the run's length
REPLAY_DELAY = 0.02  # seconds between two frames of a replay
HTML_EVERY = 1.0  # at most one page a second: drawing it takes a few tenths of a second


@dataclass(frozen=True)
class WatchOptions:
    replay: bool = False  # step through a complete file
    interval: float = 1.0  # seconds between two polls of a live file
    timeout: float = 300.0  # seconds without a new checkpoint (or without the file) to give up
    html: str | None = None  # also write the view to this page


def watch(path: str, opts: WatchOptions, *, console: Console | None = None) -> View:
    """Follow ``path`` until its run ends (or, with ``opts.replay``, until every checkpoint has
    been shown), drawing the view on ``console``; prints the summary and returns the view.
    A run whose writer died before its end is a GrokscanError after the summary ("stopped:
    the writer is gone at step N of M"). KeyboardInterrupt leaves the terminal as it was (rich
    restores it) and propagates."""
    console = console or Console()
    if not opts.replay:
        wait_for(path, timeout=opts.timeout, interval=min(opts.interval, 0.5))
    with LiveRun(path, replay=opts.replay, timeout=opts.timeout) as live:
        view = View(path, live.task, live.run.residue_vectors)
        view.status = "replay" if opts.replay else "live"
        if opts.replay:
            live.chunk = max(1, -(-live.total // REPLAY_FRAMES))
        try:
            _loop(live, view, opts, console)
        except KeyboardInterrupt:
            _summary(console, view)
            raise
        finally:
            view.status = live.gone or "ended"
            if opts.html:
                page.write(view, opts.html)
    _summary(console, view)
    if live.gone:
        raise GrokscanError(f"{path}: {live.gone} (its process was killed; `grokscan train -o "
                            f"{path} --resume` continues it)")
    return view


def _summary(console: Console, view: View) -> None:
    console.print(view.summary())


def _loop(live: LiveRun, view: View, opts: WatchOptions, console: Console) -> None:
    try:
        _frames(live, view, opts, console)
    finally:
        if not console.is_terminal:  # Live ends its last frame's line on a terminal only
            console.line()


def _frames(live: LiveRun, view: View, opts: WatchOptions, console: Console) -> None:
    written = -HTML_EVERY
    with Live(view, console=console, auto_refresh=False, transient=False) as screen:
        while True:
            rows = live.poll()
            view.update(rows)
            if live.ended:
                view.status = live.gone or "ended"
            screen.update(view, refresh=True)
            if opts.html and len(rows) and time.monotonic() - written >= HTML_EVERY:
                page.write(view, opts.html)
                written = time.monotonic()
            if live.ended:
                return
            time.sleep(REPLAY_DELAY if opts.replay else opts.interval)


class Follower:
    """The view of a training in this process (``grokscan train --watch``): pass it as
    ``on_checkpoint`` to :func:`grokscan.training.train`; it takes each checkpoint from the model
    itself (no file is read) and redraws the view; :meth:`close` ends the view and prints the
    summary. ``cfg``: the run's config (its task gives the residues)."""

    def __init__(self, path: str, cfg, *, console: Console | None = None):
        self.path, self.cfg, self.console = path, cfg, console or Console()
        self.view: View | None = None
        self.screen: Live | None = None
        self.names: list[str] = []

    def _start(self, model) -> None:
        from grokscan import tasks
        from grokscan.store.layout import Layout

        task = tasks.get(self.cfg.task.kind).make(self.cfg.task, self.cfg.train.seed)
        layout = list(Layout.of(model).residue_vectors)
        self.names = sorted({r["param"] for r in layout})
        self.view = View(self.path, task, layout)
        self.screen = Live(self.view, console=self.console, auto_refresh=False)
        self.screen.start()

    def __call__(self, ck) -> bool:
        if self.view is None:
            self._start(ck.model)
        params = dict(ck.model.named_parameters())
        self.view.update(Rows(np.array([ck.step]),
                              {k: np.array([v], np.float64) for k, v in ck.scalars.items()},
                              {k: params[k].detach().cpu().numpy()[None] for k in self.names},
                              ck.onset))
        self.screen.update(self.view, refresh=True)
        return False  # never stops the training

    def close(self, status: str = "ended") -> None:
        if self.screen is None:
            return
        self.view.status = status
        self.screen.update(self.view, refresh=True)
        self.screen.stop()
        if not self.console.is_terminal:
            self.console.line()
        _summary(self.console, self.view)
        self.screen = None
