"""What the commands share: the group class that turns every error into one line, and a
command whose options are built only when it is parsed or its help shown."""

from __future__ import annotations

import math
from collections.abc import Callable

import click

from grokscan.errors import GrokscanError
from grokscan.names import printable

THREADS_HELP = ("Threads for torch and numpy; 0: the cores idle now (the core count less the "
                "1-minute load average, at least 1; grokscan/threads.py). [default: 0]")


def os_message(e: OSError) -> str:
    """An OSError in one line that names its file: "run.h5: No space left on device"."""
    why = e.strerror or str(e)
    return f"{e.filename}: {why}" if e.filename is not None else why


class FiniteRange(click.FloatRange):
    """click.FloatRange that refuses NaN and ±inf: every comparison with NaN is false, so
    FloatRange lets it through, and a range open above takes inf."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"expected a finite number, got {rv}", param, ctx)
        return rv


class Group(click.Group):
    """A click group whose commands' errors (GrokscanError, and OSError from the OS or HDF5
    about a file) become one-line messages and a non-zero exit, never a traceback: the one
    place where that happens, for every command and sub-group below it. A message quotes
    what a file holds, so its control characters are escaped (grokscan.names.printable):
    one line, and nothing a terminal would act on."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GrokscanError as e:
            raise click.ClickException(printable(e)) from None
        except OSError as e:
            raise click.ClickException(printable(os_message(e))) from None


class LazyOptions(click.Command):
    """A command with options made by ``options()`` (placed after the first ``at`` options of
    its decorators), for declarations that live in modules too heavy to import for
    ``grokscan --help``."""

    def __init__(self, *args, options: Callable[[], list[click.Option]], at: int = 0, **kw):
        super().__init__(*args, **kw)
        self._factory, self._at, self._built = options, at, False

    def get_params(self, ctx):
        if not self._built:
            self.params[self._at:self._at] = self._factory()
            self._built = True
        return super().get_params(ctx)
