"""The one way grokscan opens an HDF5 file it reads: the file checked, then its format and
version, each problem a FileFormatError whose one line names the file and what is wrong.

grokscan writes three kinds of file, each with root attributes ``format`` and
``format_version`` (store/SCHEMA.md, tasks/ising/ISING_DATA.md): checkpoints, metrics and Ising
data sets. A reader says which format and which versions it reads.
"""

from __future__ import annotations

import os
import posixpath

import h5py

from grokscan.errors import FileFormatError, GrokscanError
from grokscan.hdf5.superblock import SWMR_WRITE_ACCESS, swmr_flags
from grokscan.names import shown

CHECKPOINTS_FORMAT = "grokscan-checkpoints"
METRICS_FORMAT = "grokscan-metrics"
ISING_FORMAT = "grokscan-ising"

# The library-version bounds of every file grokscan writes (store/SCHEMA.md). h5py's "latest" is
# the bundled library's own, HDF5 2.0's: it encodes an enum, and so every bool, in a datatype
# message of version 5, which HDF5 1.10 to 1.14 cannot read (their h5dump, h5ls and HDFView
# refuse the file). SWMR writing needs at least v110 (superblock version 3, hdf5/superblock.py);
# the other files keep the earliest encodings that hold their contents.
SWMR_LIBVER = ("v110", "v110")
LIBVER = ("earliest", "v110")


def open_h5(path, what: str) -> h5py.File:
    """Open an HDF5 file read-only (SWMR when the file allows it), or raise FileFormatError
    with a one-line message that names the file and what is wrong; ``what`` says what was
    expected ("a grokscan checkpoint file")."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileFormatError(f"{path}: no such file (expected {what})")
    if os.path.isdir(path):
        raise FileFormatError(f"{path} is a directory (expected {what})")
    try:  # HDF5 resolves ".." in the name it is given before the links in it: the real path
        is_h5 = h5py.is_hdf5(os.path.realpath(path))
    except OSError as e:
        raise FileFormatError(f"{path}: cannot read ({e.strerror or e})") from None
    if not is_h5:
        raise FileFormatError(f"{path} is not an HDF5 file (expected {what})")
    # A plain open checks the file's length against the superblock (it catches truncation);
    # it fails while a writer holds the file in SWMR mode, and then the SWMR open reads it:
    # only a file whose superblock says so, and is sound (hdf5/superblock.py, swmr_flags).
    try:
        return h5py.File(path, "r")
    except (OSError, RuntimeError) as e:  # h5py raises either for a damaged file
        plain = _open_error(path, e)
    flags = swmr_flags(path)
    if flags & SWMR_WRITE_ACCESS:
        try:
            return h5py.File(path, "r", libver="latest", swmr=True)
        except (OSError, RuntimeError) as e:
            _open_error(path, e)
    elif not flags and "already open for write" in plain:  # its writer has closed it since
        try:
            return h5py.File(path, "r")
        except (OSError, RuntimeError) as e:
            plain = _open_error(path, e)
    raise FileFormatError(f"{path}: HDF5 cannot open it ({plain})") from None


def _open_error(path: str, e: Exception) -> str:
    """h5py's message of a failed open; a FileFormatError if it says the file is truncated."""
    msg = str(e)
    if "truncated" in msg:
        detail = msg[msg.index("truncated"):].rstrip(")")
        raise FileFormatError(f"{path} is truncated ({detail})") from None
    return msg


def check_space(path, need: int) -> None:
    """A GrokscanError, before anything is written, unless the file system of ``path`` has
    room for ``need`` more bytes (and 1 MiB besides). HDF5 does not survive a full disk well
    (its failed writes surface later, at a flush or a close), so grokscan looks first."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        st = os.statvfs(folder)
    except OSError:
        return  # no way to tell here: let the write itself report
    free = st.f_bavail * st.f_frsize
    if free < need + (1 << 20):
        raise GrokscanError(f"{path}: no space left on the device ({free / 2**20:.1f} MiB free,"
                            f" about {(need + (1 << 20)) / 2**20:.1f} MiB needed to write on)")


def text(value) -> str:
    """An HDF5 string attribute as str ('' for None)."""
    return value.decode() if isinstance(value, bytes) else ("" if value is None else str(value))


def check_format(f: h5py.File, path, fmt: str, versions: tuple[int, ...], what: str) -> int:
    """The file's format version, after checking that its ``format`` attribute is ``fmt`` and
    its version one of ``versions``; a FileFormatError naming the file otherwise."""
    found = f.attrs.get("format")
    if text(found) != fmt:
        shown = "missing" if found is None else repr(text(found))
        raise FileFormatError(f"{path} is not {what}: expected the root attribute format = "
                              f"{fmt!r}, found {shown}")
    try:
        version = int(f.attrs.get("format_version"))
    except (TypeError, ValueError):
        version = None
    if version not in versions:
        reads = " or ".join(map(str, versions))
        raise FileFormatError(f"{path} has {fmt} format version {version}; this grokscan "
                              f"reads version {reads}")
    return version


def check_contained(f: h5py.File, path) -> None:
    """A FileFormatError if the file reads another one: an external link, a dataset whose data
    are in an external file, or a virtual dataset (made of other files' data). grokscan writes
    none of these, and HDF5 follows each silently, to whatever file a crafted file names."""

    def foreign(name: str, obj) -> str | None:
        where = shown(f"/{name}")
        if isinstance(obj, h5py.Dataset):
            if obj.external:
                return f"{where} keeps its data in the external file {shown(obj.external[0][0])}"
            if obj.is_virtual:
                return f"{where} is a virtual dataset (made of other files' data)"
            return None
        if not isinstance(obj, h5py.Group):  # a named datatype (a damaged object header)
            return None
        for key in obj:
            link = obj.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                inside = posixpath.join(obj.name, key)
                return f"{shown(inside)} is an external link to the file {shown(link.filename)}"
        return None

    why = foreign("", f) or f.visititems(foreign)
    if why:
        raise FileFormatError(f"{os.fspath(path)}: {why}; grokscan reads only what is inside "
                              "the file")


def open_checked(path, fmt: str, versions: tuple[int, ...], what: str) -> tuple[h5py.File, int]:
    """:func:`open_h5`, :func:`check_format`, then :func:`check_contained`; the file is closed
    again on an error."""
    f = open_h5(path, what)
    try:
        version = check_format(f, os.fspath(path), fmt, versions, what)
        check_contained(f, path)
        return f, version
    except (RuntimeError, OSError, KeyError, ValueError) as e:  # damaged metadata: h5py
        f.close()  # raises any of these (an undecodable name: UnicodeDecodeError)
        why = e.args[0] if isinstance(e, KeyError) and e.args else e  # without repr's quotes
        raise FileFormatError(f"{os.fspath(path)} is damaged: {why}") from None
    except BaseException:
        f.close()
        raise


class H5File:
    """An open HDF5 file held as ``self.f``, closed by ``close()`` or at the end of a ``with``."""

    f: h5py.File

    def close(self) -> None:
        if self.f.id.valid:
            self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Reader(H5File):
    """A file of one of grokscan's formats, opened read-only and checked once: its format and
    version (``FORMAT``, ``VERSIONS``), the groups it must hold (``REQUIRED``), then
    ``_validate()``; any other error while checking is a FileFormatError "damaged"."""

    FORMAT: str
    VERSIONS: tuple[int, ...]
    WHAT: str  # "a grokscan checkpoint file"
    REQUIRED: tuple[str, ...] = ()

    def __init__(self, path):
        self.path = os.fspath(path)
        self.f, self.version = open_checked(self.path, self.FORMAT, self.VERSIONS, self.WHAT)
        try:
            for key in self.REQUIRED:
                if key not in self.f:
                    raise FileFormatError(f"{self.path}: missing /{key} (the file is incomplete)")
            self._validate()
        except (RuntimeError, OSError, KeyError, ValueError, TypeError) as e:
            self.f.close()
            raise FileFormatError(f"{self.path} is damaged: {e}") from None
        except BaseException:
            self.f.close()
            raise

    def _validate(self) -> None:
        """What this format checks beyond the required groups."""


def described(obj) -> str:
    """What an HDF5 object is, for a message: "<dtype> of shape <shape>", or "a group"."""
    return f"{obj.dtype} of shape {obj.shape}" if isinstance(obj, h5py.Dataset) else "a group"


def check_whole_steps(ds, where: str) -> None:
    """A /steps dataset holds whole numbers, one a row; a FileFormatError naming ``where``
    otherwise."""
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.dtype.kind not in "iu":
        raise FileFormatError(f"{where}: expected whole steps, one a row, got {described(ds)}")
