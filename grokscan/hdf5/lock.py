"""One writer per checkpoint file: an advisory lock on a file beside it, ``<run.h5>.lock``.

The writer holds ``flock(LOCK_EX)`` on the lock file for as long as it writes, and the lock
file names it (pid, host, when it started). The kernel drops the lock when the process ends,
however it ends, so a crashed writer never leaves it stuck; a second writer gets a one-line
error naming the process that holds the file. The lock file is removed by a writer that
finishes; one left by a killed writer is harmless and is taken over by the next.

HDF5's own file lock is not enough: an SWMR writer releases it once readers may follow, and a
``--force`` or a resume that replaced the file would not see the first writer at all.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time

from grokscan.errors import GrokscanError


class WriterLock:
    """Hold the writer's lock of ``path`` (a checkpoint file, existing or not)."""

    def __init__(self, path):
        self.path = os.fspath(path) + ".lock"
        self.fd: int | None = None

    def acquire(self) -> WriterLock:
        for _ in range(5):  # a finishing writer may remove the file between open and lock
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise GrokscanError(f"{self.path}: cannot create the writer's lock file "
                                    f"({e.strerror})") from None
            try:
                _flock_exclusive(fd)
            except BlockingIOError:
                who = _read(fd)
                os.close(fd)
                raise busy(self.path[:-5], who) from None
            except OSError as e:  # a file system without flock: say so rather than risk it
                os.close(fd)
                raise GrokscanError(f"{self.path}: cannot lock ({e.strerror}); grokscan needs "
                                    "flock on the folder of a run file it writes") from None
            if _same_file(fd, self.path):
                self.fd = fd
                _write(fd)
                return self
            os.close(fd)  # the lock file was replaced while we waited: lock the new one
        raise GrokscanError(f"{self.path}: the lock file keeps changing; is another grokscan "
                            "starting on the same run?")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def holder(path) -> str | None:
    """Who writes ``path`` now ("process 123 on host, since ..."), or None when no live
    process holds its lock. Never blocks, never takes the lock for long."""
    lock = os.fspath(path) + ".lock"
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(fd)
    except OSError:
        return None
    finally:
        os.close(fd)  # closing drops the shared lock taken to test it
    return None


def check_free(path) -> None:
    """Refuse at once a file that a live process writes (the message of
    :meth:`WriterLock.acquire`): a command that will write ``path`` calls this before its slow
    start (importing torch, building the task); the lock itself is taken later, before the
    file is touched, and is what guarantees one writer."""
    who = holder(path)
    if who is not None:
        raise busy(os.fspath(path), who)


def busy(path: str, who: str) -> GrokscanError:
    return GrokscanError(f"{path} is being written by {who}; wait for it to finish or stop "
                         "it first")


def _flock_exclusive(fd: int, tries: int = 4) -> None:
    """The exclusive lock, without waiting for a writer; a reader that tests the lock holds a
    shared one for a moment (:func:`holder`), so a refusal is retried a few times first."""
    for i in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if i == tries - 1:
                raise
            time.sleep(0.05)


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _write(fd: int) -> None:
    me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                     "since": time.strftime("%Y-%m-%d %H:%M:%S")})
    os.ftruncate(fd, 0)
    os.pwrite(fd, me.encode(), 0)


def _read(fd: int) -> str:
    try:
        d = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"process {d['pid']} on {d['host']} (since {d['since']})"
    except (ValueError, KeyError, OSError):
        return "another process"
