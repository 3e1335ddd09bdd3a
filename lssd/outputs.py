"""Two rules for every file lssd writes where a user points it (``-o``): the folder must take files,
and an existing file there is replaced only when lssd wrote it (or ``--overwrite`` says so). Both are
checked before any work, so a long run never ends in a traceback or over someone else's file."""

from __future__ import annotations

import os
from pathlib import Path

from lssd.errors import BadInputError


def check_writable(folder: Path, what: str = "the output folder") -> None:
    """``folder`` exists (or is made) and a file can be created in it: a real write, since a read-only
    mount or an unwritable parent stops even root, whom permission bits do not."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInputError(f"cannot create {what} {folder} ({err.strerror or err})") from None
    try:
        probe = folder / f".lssd-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise BadInputError(f"cannot write to {what} {folder} ({err.strerror or err})") from None


def check_replaceable(path: Path, overwrite: bool, own: bool, option: str = "--output") -> None:
    """Refuse to replace an existing ``path`` that lssd did not write (``own``) unless ``overwrite``."""
    path = Path(path)
    if path.is_dir():
        raise BadInputError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not overwrite and not own:
        raise BadInputError(f"{path} exists and was not written by lssd; choose another {option}, "
                            f"or pass --overwrite to replace it")
