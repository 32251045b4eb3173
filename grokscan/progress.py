"""Progress that moves as the work is done.

On a terminal (or in a notebook) a tqdm bar. In a log — standard error redirected to a file or
a pipe — a tqdm bar would write one carriage-return-separated update per step (2000 of them for
the default training), so there it is one line every 5 % of the work instead, with the elapsed
time, the time left and the bar's last postfix (the losses, say)::

    train: 400/2000 step (20 %), 12 s, about 48 s left; loss 0.00132/4.21 acc 1.00/0.05
"""

from __future__ import annotations

import sys
import time


def progress(total: int, *, desc: str = "", unit: str = "it", initial: int = 0,
             quiet: bool = False, leave: bool = True, file=None):
    """A progress object with tqdm's ``update``, ``set_postfix_str``, ``close`` and ``n``."""
    from tqdm.auto import tqdm

    file = file or sys.stderr
    if quiet or _interactive(file):
        return tqdm(total=total, initial=initial, desc=desc or None, unit=unit, disable=quiet,
                    dynamic_ncols=True, leave=leave, file=file)
    return LogLines(total, desc=desc, unit=unit, initial=initial, file=file)


def say(bar, text: str) -> None:
    """A line of news beside a progress object (above a tqdm bar, which stays); nothing when
    the progress is quiet."""
    if getattr(bar, "disable", False):
        return
    if isinstance(bar, LogLines):
        print(text, file=bar.file, flush=True)
    else:
        bar.write(text, file=bar.fp)


def _interactive(file) -> bool:
    return "ipykernel" in sys.modules or bool(getattr(file, "isatty", lambda: False)())


class LogLines:
    """One line per ``every`` of ``total`` (and one at the end), for a log file."""

    def __init__(self, total: int, *, desc: str, unit: str, initial: int = 0,
                 every: float = 0.05, file=None):
        self.total, self.desc, self.unit, self.n = max(int(total), 0), desc, unit, int(initial)
        self.file = file or sys.stderr
        self.step = max(1, round(every * self.total))
        self.start_n, self.t0, self.postfix = self.n, time.perf_counter(), ""
        self.next = (self.n // self.step + 1) * self.step
        self.closed, self.printed = False, None

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n >= self.next and self.n < self.total:
            self.next = (self.n // self.step + 1) * self.step
            self._line()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def close(self) -> None:
        if not self.closed and self.n > self.start_n and self.printed != self.n:
            self._line()
        self.closed = True

    def _line(self) -> None:
        elapsed = time.perf_counter() - self.t0
        done = self.n - self.start_n
        left = (f", about {_duration(elapsed / done * (self.total - self.n))} left"
                if 0 < done and self.n < self.total else "")
        share = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
        tail = f"; {self.postfix}" if self.postfix else ""
        head = f"{self.desc}: " if self.desc else ""
        self.printed = self.n
        print(f"{head}{self.n}/{self.total} {self.unit}{share}, {_duration(elapsed)}{left}{tail}",
              file=self.file, flush=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
