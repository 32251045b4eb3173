"""The status flags of an HDF5 superblock (versions 2 and 3), and clearing those a killed
writer left set.

An HDF5 file with a superblock of version 2 or 3 (every SWMR writer's: grokscan's library
bounds ("v110", "v110") write version 3) has bits in its superblock that say who writes it:
1, opened for writing; 4, by an SWMR writer. They are cleared when the writer closes the file.
A writer killed with SIGKILL (or by a power cut) leaves them set, and then every HDF5 tool
but an SWMR reader refuses the file: "file is already open for write (may use <h5clear file>
to clear file consistency flags)". HDF5's ``h5clear -s -i`` repairs it; :func:`clear_writer_flags`
does the same in place, so that no extra tool is needed: the flags byte set to 0, the
end-of-file address raised to the file's size (space a killed writer had taken but not yet
recorded is then never handed out again), the superblock checksum (Jenkins' lookup3, as HDF5
computes it) written anew. Only the superblock's first 48 bytes change.

:func:`swmr_flags` checks the superblock before a file is opened in SWMR mode: HDF5's SWMR
reader reads metadata whose checksum fails up to 100 times, sleeping twice as long after each
attempt (H5C__load_entry), so that on a damaged superblock it would never return.
"""

from __future__ import annotations

import os
import struct
import time

from grokscan.errors import FileFormatError

SIGNATURE = b"\x89HDF\r\n\x1a\n"
WRITE_ACCESS, SWMR_WRITE_ACCESS = 0x1, 0x4
_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def _mix(a, b, c):
    a = (a - c) & _M; a ^= _rot(c, 4); c = (c + b) & _M  # noqa: E702
    b = (b - a) & _M; b ^= _rot(a, 6); a = (a + c) & _M  # noqa: E702
    c = (c - b) & _M; c ^= _rot(b, 8); b = (b + a) & _M  # noqa: E702
    a = (a - c) & _M; a ^= _rot(c, 16); c = (c + b) & _M  # noqa: E702
    b = (b - a) & _M; b ^= _rot(a, 19); a = (a + c) & _M  # noqa: E702
    c = (c - b) & _M; c ^= _rot(b, 4); b = (b + a) & _M  # noqa: E702
    return a, b, c


def _final(a, b, c):
    for x, y, k in ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14),
                    (2, 1, 24)):
        v = [a, b, c]
        v[x] = ((v[x] ^ v[y]) - _rot(v[y], k)) & _M
        a, b, c = v
    return a, b, c


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``, the checksum of HDF5's metadata."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & _M
    words = lambda i: struct.unpack_from("<3I", data, i)  # noqa: E731
    i = 0
    while n - i > 12:
        x, y, z = words(i)
        a, b, c = _mix((a + x) & _M, (b + y) & _M, (c + z) & _M)
        i += 12
    if n == i:
        return c
    x, y, z = struct.unpack("<3I", data[i:] + bytes(12 - (n - i)))
    return _final((a + x) & _M, (b + y) & _M, (c + z) & _M)[2]


def _fields(raw: bytes, path: str) -> tuple[int, int, int]:
    """(size of offsets, offset of the end-of-file address, offset of the checksum) of a
    version-2 or -3 superblock at the start of the file."""
    if raw[:8] != SIGNATURE:
        raise FileFormatError(f"{path}: no HDF5 superblock at the start of the file")
    if len(raw) < 12:
        raise FileFormatError(f"{path} is truncated inside its HDF5 superblock")
    version, so = raw[8], raw[9]
    if version not in (2, 3) or so not in (4, 8):
        raise FileFormatError(f"{path}: HDF5 superblock version {version}; only versions 2 "
                              "and 3 have writer flags to clear")
    end = 12 + 4 * so
    if len(raw) < end + 4:
        raise FileFormatError(f"{path} is truncated inside its HDF5 superblock")
    return so, 12 + 2 * so, end


def _checksum_matches(raw: bytes, end: int) -> bool:
    return lookup3(raw[:end]) == struct.unpack_from("<I", raw, end)[0]


def _layout(raw: bytes, path: str) -> tuple[int, int, int]:
    """:func:`_fields`, after checking the superblock's checksum."""
    fields = _fields(raw, path)
    if not _checksum_matches(raw, fields[2]):
        raise FileFormatError(f"{path}: the HDF5 superblock checksum does not match")
    return fields


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(48)


def writer_flags(path) -> int:
    """The status flags of the superblock of ``path`` (0: no writer has it open)."""
    path = os.fspath(path)
    raw = _read(path)
    _layout(raw, path)
    return raw[11]


def swmr_flags(path, attempts: int = 5) -> int:
    """The status flags of the superblock of ``path``, after checking its length and its
    checksum (a FileFormatError if either is wrong); 0 unless the file starts with a
    superblock of version 2 or 3, as every SWMR writer writes (versions 0 and 1 have neither
    flags nor a checksum). A writer that rewrites the superblock at that moment can make it
    read torn: a checksum that does not match is read again, ``attempts`` times in all, 10 ms
    apart."""
    path = os.fspath(path)
    raw = _read(path)
    if raw[:8] != SIGNATURE or (len(raw) > 8 and raw[8] not in (2, 3)):
        return 0
    end = _fields(raw, path)[2]
    for _ in range(attempts - 1):
        if _checksum_matches(raw, end):
            break
        time.sleep(0.01)
        raw = _read(path)
    _layout(raw, path)
    return raw[11]


def clear_writer_flags(path) -> bool:
    """Clear the writer flags a killed writer left (see the module docstring). Call only when
    no process writes the file. Returns whether anything was changed."""
    path = os.fspath(path)
    with open(path, "r+b") as fh:
        raw = bytearray(fh.read(48))
        so, eof_at, end = _layout(bytes(raw), path)
        if raw[11] == 0:
            return False
        fmt = "<Q" if so == 8 else "<I"
        eof = struct.unpack_from(fmt, raw, eof_at)[0]
        raw[11] = 0
        struct.pack_into(fmt, raw, eof_at, max(eof, os.fstat(fh.fileno()).st_size))
        struct.pack_into("<I", raw, end, lookup3(bytes(raw[:end])))
        fh.seek(0)
        fh.write(raw[: end + 4])
        fh.flush()
        os.fsync(fh.fileno())
    return True
