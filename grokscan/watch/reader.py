"""Follow a checkpoint file that training is writing (store/SCHEMA.md, "Writing, and crashes").

The file is opened read-only, in SWMR mode while a writer holds it, and checked once as
:class:`grokscan.store.reader.Run` checks it. Each :meth:`LiveRun.poll` then refreshes only the
datasets the view needs (``/steps``, the scalars, the parameters that hold the per-residue
vectors) and reads only the rows added since the last poll, up to the last one whose step is
written (the commit marker): its cost depends on the rows that are new, not on the rows already
seen. The watcher never writes to the file and never takes the writer's lock.

The run ends when no process holds the writer's lock any more (grokscan/hdf5/lock.py: the
writer closes the file, then gives the lock up); the rows committed before that are read, and
:attr:`LiveRun.ended` is set. A writer that closed the file cleared its superblock's writer
flags (grokscan/hdf5/superblock.py); one that was killed (SIGKILL, a power cut) left them set,
and unless the run had reached its last step or stopped early by --stop-when-grokked,
:attr:`LiveRun.gone` says so: "stopped: the writer is gone at step N of M". A file that gets
no new checkpoint for ``timeout`` seconds while its writer lives, that disappears or is
replaced, or that is not grokscan's, is a GrokscanError in one line.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from grokscan.errors import GrokscanError
from grokscan.hdf5.lock import holder
from grokscan.hdf5.superblock import writer_flags
from grokscan.store.reader import Run
from grokscan.summary import finished


@dataclass
class Rows:
    """Checkpoints new since the last poll: ``steps`` (k,), ``scalars`` {name: (k,)} and
    ``params`` {name: ``(k, *shape)``} for the parameters that hold the per-residue vectors."""

    steps: np.ndarray
    scalars: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    onset: int | None = None  # the in-loop detector's flag step, once these rows reach it

    def __len__(self) -> int:
        return len(self.steps)


def wait_for(path: str, *, timeout: float, interval: float = 0.2, grace: float = 5.0,
             clock=time.monotonic) -> None:
    """Return once ``path`` is there to be watched: it exists, no ``<path>.part`` waits to
    replace it (a training writes the ``.part`` until its first checkpoint and then renames it,
    also over an older file with ``--force``), and a writer holds its lock, or ``grace`` seconds
    have passed without one (a training that is still starting takes its lock in a few
    seconds). A GrokscanError after ``timeout`` seconds without such a file, and at once for
    a file that is not a grokscan checkpoint file."""
    start, checked = clock(), False
    while True:
        exists, part = os.path.exists(path), os.path.exists(path + ".part")
        waited = clock() - start
        if exists and not part:
            if holder(path) is not None or waited >= min(grace, timeout):
                return
            if not checked:  # a file that is not a checkpoint file is refused at once
                Run(path).close()
                checked = True
        if waited >= timeout:
            who = holder(path)
            how = (f"{who} holds its lock but has written no checkpoint yet" if who
                   else "no training is writing it")
            raise GrokscanError(f"{path}: no checkpoint file after waiting {timeout:g} s "
                                f"({how})")
        time.sleep(interval)


class LiveRun:
    """A checkpoint file followed as it grows.

    ``replay``: read a file that no process writes any more, ``chunk`` rows a poll; without
    it, such a file is refused (there is nothing to watch). ``timeout``: seconds without a new
    checkpoint after which a live file is given up. ``n`` is the number of rows read so far,
    ``writer`` who writes the file (None once the run has ended), ``ended`` True once every
    committed row has been read and no writer is left.
    """

    def __init__(self, path, *, replay: bool = False, timeout: float = 300.0, chunk: int = 1,
                 clock=time.monotonic):
        self.path = os.fspath(path)
        self.replay, self.timeout, self.chunk, self.clock = replay, timeout, max(1, chunk), clock
        self.run = Run(self.path)
        try:
            self._start()
        except BaseException:
            self.run.close()
            raise

    def _start(self) -> None:
        run = self.run
        self.writer = run.writer
        if self.writer is None and not self.replay:
            last = f", last step {int(run.steps[-1])}" if run.n else ""
            raise GrokscanError(f"{self.path} is not being written (no process holds its lock; "
                                f"{run.n} checkpoints{last}); --replay steps through it")
        if self.writer is not None and self.replay:
            raise GrokscanError(f"{self.path} is being written by {self.writer}; watch it "
                                "without --replay")
        self.ino = os.stat(self.path).st_ino
        f = run.f
        self.scalar_names = sorted(f["scalars"])
        self.param_names = sorted({r["param"] for r in run.residue_vectors})
        self._datasets = [f["steps"], *(f["scalars"][k] for k in self.scalar_names),
                          *(f["params"][k] for k in self.param_names)]
        self.n, self.last_step, self.ended = 0, None, False
        self.gone: str | None = None  # set when the writer died before the run's end
        self.total = run.n if self.replay else None  # a replay reads the rows of the open
        self._since = self.clock()

    @property
    def task(self):
        return self.run.task

    @property
    def config(self):
        return self.run.config

    def poll(self) -> Rows:
        """The rows committed since the last poll (possibly none), in order; sets ``ended``
        when the run is over and every committed row has been read."""
        if self.ended:
            return self._read(self.n)
        if self.replay:
            rows = self._read(min(self.n + self.chunk, self.total))
            self.ended = self.n >= self.total
            return rows
        self._check_file()
        alive = holder(self.path) is not None  # looked at before reading: rows a writer
        rows = self._read(None)  # commits before it gives up its lock are all read here
        if len(rows):
            self._since = self.clock()
        elif not alive:
            self.ended, self.writer = True, None
            self.gone = self._gone()
        elif self.clock() - self._since > self.timeout:
            last = "no checkpoint" if self.last_step is None else f"step {self.last_step} last"
            raise GrokscanError(f"{self.path}: no new checkpoint for {self.timeout:g} s ({last}"
                                f"; {self.writer} still holds it): is the training stuck?")
        return rows

    def _gone(self) -> str | None:
        """None if the run ended: its writer closed the file, or it reached the config's last
        step, or --stop-when-grokked stopped it; else how its killed writer left it."""
        if not writer_flags(self.path):
            return None
        cfg = self.run.config
        at = "no checkpoint" if self.last_step is None else f"step {self.last_step}"
        if cfg is None:
            return f"stopped: the writer is gone at {at}"
        steps = self.run.f["steps"][: self.n].astype(np.int64)
        test = self.run.f["scalars"]["test_acc"][: self.n] if "test_acc" in self.scalar_names \
            else None
        if finished(steps, test, cfg.train):
            return None
        return f"stopped: the writer is gone at {at} of {cfg.train.steps}"

    def _check_file(self) -> None:
        try:
            ino = os.stat(self.path).st_ino
        except FileNotFoundError:
            raise GrokscanError(f"{self.path} disappeared while it was watched (after "
                                f"{self.n} checkpoints)") from None
        if ino != self.ino:
            raise GrokscanError(f"{self.path} was replaced by another file while it was "
                                f"watched (after {self.n} checkpoints)")

    def _read(self, stop: int | None) -> Rows:
        """Rows n..stop (None: up to the last committed one) of the watched datasets."""
        n = self.n
        try:
            if stop is None:
                for ds in self._datasets:
                    ds.refresh()
                stop = min(ds.shape[0] for ds in self._datasets)
            steps = self.run.f["steps"][n:stop].astype(np.int64)
            bad = np.flatnonzero(steps < 0)  # resized, not committed yet
            steps = steps[: int(bad[0])] if bad.size else steps
            stop = n + len(steps)
            scalars = {k: self.run.f["scalars"][k][n:stop] for k in self.scalar_names}
            params = {k: self.run.f["params"][k][n:stop] for k in self.param_names}
        except (OSError, RuntimeError, KeyError) as e:
            raise GrokscanError(f"{self.path}: cannot read checkpoints {n}.. ({e})") from None
        prev = [] if self.last_step is None else [self.last_step]
        if len(steps) and not np.all(np.diff(np.concatenate([prev, steps])) > 0):
            raise GrokscanError(f"{self.path}: /steps does not increase near checkpoint {n}")
        if len(steps):
            self.n, self.last_step = stop, int(steps[-1])
        return Rows(steps, scalars, params, self._onset_flag())

    def _onset_flag(self) -> int | None:
        """The in-loop detector's flag (/onset/state) if it fired by the last step read."""
        g = self.run.f.get("onset")
        if g is None or self.last_step is None:
            return None
        try:
            g["state"].refresh()
            flag = int(g["state"][1])
        except (OSError, RuntimeError, KeyError):
            return None
        return flag if 0 <= flag <= self.last_step else None

    def close(self) -> None:
        self.run.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
