"""One lock rule for everything two processes could share: a clip's work directory, a training run
directory, a dataset clip claimed by one of several builders.

A lock is an ``fcntl.flock`` on a small file next to the thing it guards. The kernel drops it when the
holding process dies (``kill -9`` included), so a stale lock is never a problem: the next process simply
takes it. The lock file records the holder (host, pid) for the error message and is removed on release,
so a finished run leaves nothing behind. Removing a lock file races with a process that opened it just
before; after acquiring, :func:`_acquire` therefore checks that the file it locked is still the one at
the path and retries otherwise (the usual flock + inode check).

Why not the ``filelock`` package: it never removes its lock files on Unix (a dataset build would leave
ten thousand of them) and cannot tell who holds a lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lssd.errors import LssdError


class LockedError(LssdError):
    """Another process holds the lock."""

    exit_code = 5


def holder(lock_path: Path) -> str:
    """Who holds (or last held) a lock, as written in its file; '' when unknown."""
    try:
        return Path(lock_path).read_text().strip()
    except OSError:
        return ""


def _acquire(lock_path: Path, blocking: bool) -> int | None:
    """Open and flock ``lock_path``; the file descriptor, or None when another process holds it."""
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a finished run removed the (empty) folder just now: make it again
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # we locked a file its previous holder had already unlinked: try the new one


def try_lock(lock_path: Path) -> int | None:
    """Take the lock without waiting; the descriptor to pass to :func:`unlock`, or None if it is held."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(lock_path, blocking=False)
    if fd is not None:
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} pid {os.getpid()}\n".encode())
    return fd


def unlock(lock_path: Path, fd: int) -> None:
    """Release a lock taken by :func:`try_lock` and remove its file (while still holding it)."""
    try:
        os.unlink(lock_path)
    except FileNotFoundError:
        pass
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextmanager
def exclusive(lock_path: Path, what: str, wait: float = 0.0, poll: float = 0.2) -> Iterator[None]:
    """Hold ``lock_path`` for the block. ``what`` names the guarded thing in the one-sentence error
    raised when another process still holds it after ``wait`` seconds (0: refuse at once)."""
    lock_path = Path(lock_path)
    deadline = time.monotonic() + wait
    while (fd := try_lock(lock_path)) is None:
        if time.monotonic() >= deadline:
            who = holder(lock_path)
            raise LockedError(f"{what} is in use by another lssd process{f' ({who})' if who else ''}; "
                              f"wait for it to finish, or stop it (a killed process releases its lock)")
        time.sleep(poll)
    try:
        yield
    finally:
        unlock(lock_path, fd)
