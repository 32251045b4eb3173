"""Reading a TOML file, and writing a file complete or not at all."""

from __future__ import annotations

import os

from grokscan.errors import GrokscanError


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place: a full disk
    or a kill leaves no partial file under the final name."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise GrokscanError(f"{path}: cannot write it ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_toml(path: str, what: str) -> dict:
    """The document of the TOML file ``path``; a GrokscanError naming it as ``what`` (the TOML
    config, the grid file) when it cannot be read, is not UTF-8 text or is not TOML."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise GrokscanError(f"{path}: cannot read {what} ({e})") from None
    except UnicodeDecodeError as e:
        raise GrokscanError(f"{path}: expected {what} in UTF-8 text, got a byte that is not "
                            f"UTF-8 at offset {e.start}") from None
