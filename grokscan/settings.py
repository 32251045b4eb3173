"""Settings: frozen dataclasses whose fields are declared with :func:`setting`.

A field's metadata carries its help text, its command-line flag and its valid range, so that
`grokscan train`'s options, the keys of a ``--config`` TOML file and the validation of a
configuration read back from a file all come from one declaration. The spelling rule: a key is
the option's long name without the dashes, with ``-`` or ``_`` between words (``d-embed`` and
``d_embed`` are the same key); an on/off option takes true or false (``grads = false`` is
``--no-grads``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import field
from typing import Any, ClassVar

from grokscan.errors import GrokscanError


def setting(default, help: str, *, flag: str | None = None, type: type | None = None,
            choices: tuple | None = None, range: str | None = None, cli: bool = True):
    """A dataclass field with what an option needs: ``help`` (the default is appended),
    ``flag`` (the option's name, if not the field's), ``type`` (when the default is None),
    ``choices``, and a ``range`` in interval notation: "[2, 4096]", "(0, 1)", "[0, )" (no
    upper bound). ``cli=False``: filled in by grokscan, not an option."""
    if isinstance(default, (list, dict)):
        raise TypeError("settings are immutable: use a tuple")
    meta = dict(help=help, flag=flag, type=type, choices=choices, cli=cli, **_interval(range))
    return field(default=default, metadata=meta)


_INTERVAL = re.compile(r"^([\[(])\s*([-+0-9.e]*)\s*,\s*([-+0-9.e]*)\s*([\])])$")


def _interval(text: str | None) -> dict:
    """"[a, b)" -> {min: a, max: b, min_open: False, max_open: True}; empty bounds are None."""
    if text is None:
        return {}
    m = _INTERVAL.match(text)
    if not m:
        raise ValueError(f"a range is written like [0, 1) or (0, ), got {text!r}")
    lo, hi = (None if not v else float(v) if any(c in v for c in ".e") else int(v)
              for v in m.group(2, 3))
    return dict(min=lo, max=hi, min_open=m.group(1) == "(", max_open=m.group(4) == ")")


def key(name: str) -> str:
    """The canonical spelling of a key or option name: underscores, no leading dashes."""
    return name.lstrip("-").replace("-", "_")


def options(cls) -> dict[str, dataclasses.Field]:
    """The option name of each field of ``cls`` that is an option: {key: field}."""
    return {key(f.metadata.get("flag") or f.name): f for f in dataclasses.fields(cls)
            if f.metadata.get("cli", True)}


def value_type(f: dataclasses.Field):
    t = f.metadata.get("type")
    if t is not None:
        return t
    return type(f.default)


def coerce(f: dataclasses.Field, value: Any, where: str):
    """``value`` as the type of field ``f``, checked against its choices and range; a
    GrokscanError naming ``where`` (the key) and what was expected otherwise."""
    t = value_type(f)
    if value is None:
        if f.default is None:
            return None
        raise GrokscanError(f"{where}: expected a value, got none")
    if t is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise GrokscanError(f"{where}: expected names separated by commas, got {value!r}")
        value = tuple(i.strip() for i in items if i.strip())
    elif t is bool:
        if not isinstance(value, bool):
            raise GrokscanError(f"{where}: expected true or false, got {value!r}")
    elif t is int:
        if isinstance(value, bool) or not isinstance(value, int):  # 200.0 too, as on the CLI
            raise GrokscanError(f"{where}: expected an integer, got {value!r}")
    elif t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GrokscanError(f"{where}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise GrokscanError(f"{where}: expected a finite number, got {value}")
    elif t is str and not isinstance(value, str):
        raise GrokscanError(f"{where}: expected a string, got {value!r}")
    _check_range(f, value, where)
    return value


def _check_range(f: dataclasses.Field, value, where: str) -> None:
    m = f.metadata
    choices = m.get("choices")
    if choices and value not in choices:
        raise GrokscanError(f"{where}: expected one of {', '.join(map(str, choices))}, "
                            f"got {value!r}")
    lo, hi = m.get("min"), m.get("max")
    if lo is None and hi is None or not isinstance(value, (int, float)):
        return
    bad = ((lo is not None and (value <= lo if m.get("min_open") else value < lo))
           or (hi is not None and (value >= hi if m.get("max_open") else value > hi)))
    if bad:
        raise GrokscanError(f"{where}: expected {describe_range(f)}, got {value}")


def describe_range(f: dataclasses.Field) -> str:
    """The range of a numeric field in words: "a number > 0", "an integer in [0, 1)"."""
    m = f.metadata
    what = "an integer" if value_type(f) is int else "a number"
    lo, hi = (None if v is None else f"{v:g}" if isinstance(v, float) else str(v)
              for v in (m.get("min"), m.get("max")))
    if lo is not None and hi is not None:
        return (f"{what} in {'(' if m.get('min_open') else '['}{lo}, {hi}"
                f"{')' if m.get('max_open') else ']'}")
    if lo is not None:
        return f"{what} {'>' if m.get('min_open') else '≥'} {lo}"
    if hi is not None:
        return f"{what} {'<' if m.get('max_open') else '≤'} {hi}"
    return what


class Settings:
    """Base of the settings dataclasses: every field is checked (and converted to its type)
    when an instance is made, so a configuration built in code, from options or from a file
    is validated once, in one place. ``section`` names the class in messages."""

    section: ClassVar[str] = "settings"

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = coerce(f, getattr(self, f.name), f"{self.section}.{f.name}")
            object.__setattr__(self, f.name, value)


def build(cls, values: dict):
    """An instance of the settings class ``cls`` from ``{field name: value}``; an unknown name
    is a GrokscanError that lists the valid ones."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise GrokscanError(f"unknown {cls.section} setting(s) {', '.join(unknown)}; expected "
                            f"one of {', '.join(sorted(fields))}")
    return cls(**values)
