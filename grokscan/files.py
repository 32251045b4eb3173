"""Reading a TOML file, writing a file complete or not at all, an output's own folder, and a
report's page and figures replaced together once the new ones are complete."""

from __future__ import annotations

import os
import re
import shutil

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


def own_folder(path: str, *, make: bool = True) -> str:
    """The folder ``path`` inside an output folder (its figures/), made if absent (unless not
    ``make``); a GrokscanError if it is a symbolic link, which would send what is written
    there, and the stale files removed from it, outside the output folder, or a file."""
    if os.path.islink(path):
        raise GrokscanError(f"{path} is a symbolic link; grokscan writes only inside the output "
                            "folder (remove the link)")
    if os.path.exists(path) and not os.path.isdir(path):
        raise GrokscanError(f"{path} is a file; grokscan writes its figures in a folder of "
                            "that name (move the file)")
    if make:
        os.makedirs(path, exist_ok=True)
    return path


class Staged:
    """A report's figures folder and page (``OUT/figures/``, ``OUT/report.html``) written beside
    the ones there, ``figures.<pid>.tmp/`` and ``report.html.<pid>.tmp``, and swapped in by
    :meth:`publish` once complete: a report killed or failing before that leaves the earlier
    report whole. Opening it removes what killed reports left in ``out_dir`` (those temporary
    names of a process that is gone, nothing else); leaving a ``with`` block by an error
    removes its own."""

    def __init__(self, out_dir: str, folder: str = "figures", page: str = "report.html"):
        self.folder = own_folder(os.path.join(out_dir, folder), make=False)
        self.page = os.path.join(out_dir, page)
        remove_stale(out_dir, (folder, page))
        pid = os.getpid()
        self.staged, self.page_tmp = f"{self.folder}.{pid}.tmp", f"{self.page}.{pid}.tmp"
        self._old = f"{self.folder}.{pid}.old"
        self.abort()
        os.makedirs(self.staged)

    def path(self, name: str) -> str:
        """Where to write the figure file ``name`` now."""
        return os.path.join(self.staged, name)

    def final(self, name: str) -> str:
        """Where the figure file ``name`` will be once published."""
        return os.path.join(self.folder, name)

    def publish(self, page: bytes) -> None:
        """Write the page, then put the new figures folder and page in place of the old."""
        try:
            with open(self.page_tmp, "wb") as fh:
                fh.write(page)
            if os.path.isdir(self.folder):
                os.replace(self.folder, self._old)
            os.replace(self.staged, self.folder)
            os.replace(self.page_tmp, self.page)
        except OSError as e:
            if not os.path.exists(self.folder) and os.path.isdir(self._old):
                os.replace(self._old, self.folder)  # the old figures back in place
            raise GrokscanError(f"{e.filename or self.page}: cannot write it "
                                f"({e.strerror or e})") from None
        finally:
            self.abort()

    def abort(self) -> None:
        for path in (self.staged, self._old):
            shutil.rmtree(path, ignore_errors=True)
        if os.path.exists(self.page_tmp):
            os.remove(self.page_tmp)

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is not None:
            self.abort()


def remove_stale(folder: str, names: tuple[str, ...]) -> list[str]:
    """Remove from ``folder`` the temporary files and folders grokscan writes beside each of
    ``names`` (``<name>.<pid>.tmp``, ``<name>.<pid>.old``) whose process is gone: what a
    killed report left. Returns what was removed."""
    pattern = re.compile("(?:" + "|".join(map(re.escape, names)) + r")\.(\d+)\.(?:tmp|old)")
    gone = []
    for entry in os.listdir(folder):
        match = pattern.fullmatch(entry)
        if match is None or _alive(int(match.group(1))):
            continue
        path = os.path.join(folder, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
        gone.append(path)
    return gone


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` other than this one runs on this machine."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0  # another user's process; an impossible pid is none
    return True


def read_toml(path: str, what: str) -> dict:
    """The document of the TOML file ``path``; a GrokscanError naming it as ``what`` (the TOML
    config, the grid file) when it cannot be read, is not UTF-8 text or is not TOML."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise GrokscanError(f"{path}: cannot read {what} ({e})") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise GrokscanError(f"{path}: cannot read {what} (its arrays or tables are nested "
                            "too deeply)") from None
    except UnicodeDecodeError as e:
        raise GrokscanError(f"{path}: expected {what} in UTF-8 text, got a byte that is not "
                            f"UTF-8 at offset {e.start}") from None
