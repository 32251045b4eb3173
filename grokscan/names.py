"""The strings grokscan reads back from a file and uses as a file name, an HTML id or terminal
text: checked against what grokscan itself writes, or escaped, once, where the file is read.

A *name* (a run's folder under SWEEP/runs/, a varied key of a sweep) is what grokscan makes:
ASCII letters, digits and ``. _ + = -``, starting with a letter or a digit, at most
``MAX_NAME`` characters; so it has no ``/``, is never ``.`` or ``..``, and holds nothing that
HTML or a terminal reads specially. (An *operation*, such as the ``ops`` of metrics.h5 that
name figure files, is checked against grokscan's own list where it is read:
grokscan/store/metrics.py.) Free text from a file (the provenance of an imported run, an
error) reaches a terminal through :func:`printable`.
"""

from __future__ import annotations

import re

from grokscan.errors import FileFormatError

MAX_NAME = 255  # a file name's length on the usual file systems (NAME_MAX)
NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._+=-]{{0,{MAX_NAME - 1}}}")


def shown(value, limit: int = 80) -> str:
    """``value`` as a short repr for a one-line message: quoted, its control characters
    escaped (repr does), cut to ``limit`` characters; a numpy scalar as the Python number it
    holds."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and not getattr(
            value, "shape", None):
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_name(value, where: str) -> str:
    """``value`` if it is a name as grokscan writes them (the module's docstring); a
    FileFormatError naming ``where`` (the file and the field) otherwise."""
    if isinstance(value, str) and NAME.fullmatch(value):
        return value
    raise FileFormatError(f"{where}: expected a name of letters, digits and . _ + = - (as "
                          f"grokscan writes them), got {shown(value)}")


def printable(text) -> str:
    """``text`` for a terminal: every character that is not printable (control characters
    such as ESC, which starts a terminal's escape sequences, newlines and tabs too) written
    as its Python escape, ``\\x1b``."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def printable_all(value):
    """:func:`printable` on every string in ``value`` (dicts, keys included, lists, tuples);
    other values as they are."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_all(k): printable_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(printable_all(v) for v in value)
    return value
