"""Reading a TOML file, writing a file complete or not at all, and an output's own folder."""

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


def own_folder(path: str) -> str:
    """The folder ``path`` inside an output folder (its figures/), made if absent; a
    GrokscanError if it is a symbolic link, which would send what is written there, and the
    stale files removed from it, outside the output folder."""
    if os.path.islink(path):
        raise GrokscanError(f"{path} is a symbolic link; grokscan writes only inside the output "
                            "folder (remove the link)")
    os.makedirs(path, exist_ok=True)
    return path


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
