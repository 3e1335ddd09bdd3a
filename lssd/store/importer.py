"""Finding a model's files inside whatever an air-gapped user copied over: a folder, a single file, or an
archive (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .zip).

Files are matched by name wherever they sit (an HF cache snapshot nests them under
``models--org--repo/snapshots/<revision>/``), and archive members are streamed straight into the store,
never extracted, so a hostile archive cannot write outside it.
"""

from __future__ import annotations

import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lssd.errors import BadInputError

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
# what a damaged or truncated archive raises while it is listed or read (gzip's and bz2's errors are OSErrors)
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError)


@dataclass(frozen=True)
class Candidate:
    """One place a wanted file may come from; ``where`` is for messages."""

    where: str
    depth: int
    key: str


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _matches(rel: PurePosixPath, wanted: str) -> bool:
    """``rel`` ends with the wanted relative path (so ``a/b/config.json`` matches ``config.json``)."""
    want = PurePosixPath(wanted).parts
    return rel.parts[-len(want):] == want


def _rank(candidates: list[Candidate], prefer: str | None) -> list[Candidate]:
    """Shallowest first; a path mentioning ``prefer`` (a pinned HF revision) before all others."""
    return sorted(candidates, key=lambda c: (prefer is None or prefer not in c.where, c.depth, c.where))


class Source:
    """A folder, a single file or an archive that files are imported from."""

    def __init__(self, path: Path):
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise BadInputError(f"{self.path} does not exist.")
        if self.path.is_file() and not is_archive(self.path):
            self.kind = "file"
        elif self.path.is_file():
            self.kind = "zip" if self.path.name.lower().endswith(".zip") else "tar"
        else:
            self.kind = "dir"
        self._members = self._list()

    def _list(self) -> list[PurePosixPath]:
        if self.kind == "file":
            return [PurePosixPath(self.path.name)]
        if self.kind == "dir":
            return [
                PurePosixPath(p.relative_to(self.path).as_posix())
                for p in self.path.rglob("*")
                if p.is_file() and not p.name.endswith(".part")
            ]
        try:
            if self.kind == "zip":
                with zipfile.ZipFile(self.path) as zf:
                    return [PurePosixPath(i.filename) for i in zf.infolist() if not i.is_dir()]
            with tarfile.open(self.path) as tf:
                return [PurePosixPath(m.name) for m in tf.getmembers() if m.isfile()]
        except ARCHIVE_ERRORS as exc:
            raise BadInputError(f"cannot read archive {self.path}: {_reason(exc)}.") from None

    def candidates(self, wanted: str, prefer: str | None = None) -> list[Candidate]:
        found = [
            Candidate(where=f"{self.path}/{rel}" if self.kind != "file" else str(self.path),
                      depth=len(rel.parts), key=str(rel))
            for rel in self._members
            if _matches(rel, wanted)
        ]
        return _rank(found, prefer)

    @contextmanager
    def open(self, cand: Candidate) -> Iterator[BinaryIO]:
        """The candidate's bytes; a damaged archive member fails its read with one sentence naming it."""
        with self._open(cand) as fh:
            yield fh if self.kind in ("file", "dir") else _Checked(fh, cand.where)  # type: ignore[misc]

    def _inside(self, cand: Candidate) -> Path:
        """A folder's file, refused when a symbolic link (of the file or a folder on its way) leads out of
        the folder: as in archives, an import copies only what the folder itself holds."""
        path = self.path / cand.key
        real, root = path.resolve(), self.path.resolve()
        if not real.is_relative_to(root):
            raise BadInputError(f"{cand.where} is a symbolic link to {real}, outside {self.path}; refused "
                                f"(copy the file itself into the folder to import it).")
        return path

    @contextmanager
    def _open(self, cand: Candidate) -> Iterator[BinaryIO]:
        if self.kind == "file":
            with open(self.path, "rb") as fh:
                yield fh
        elif self.kind == "dir":
            with open(self._inside(cand), "rb") as fh:
                yield fh
        elif self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf, zf.open(cand.key) as fh:
                yield fh
        else:
            with tarfile.open(self.path) as tf:
                fh = tf.extractfile(cand.key)
                if fh is None:
                    raise BadInputError(f"{cand.where} is not a regular file.")
                with fh:
                    yield fh


def _reason(exc: BaseException) -> str:
    return f"it is damaged or truncated ({type(exc).__name__}: {exc})" if str(exc) else "it is damaged or truncated"


class _Checked:
    """An archive member's stream whose read errors (a bad CRC, a cut-off archive) become one sentence."""

    def __init__(self, fh: BinaryIO, where: str):
        self._fh = fh
        self._where = where

    def read(self, n: int = -1) -> bytes:
        try:
            return self._fh.read(n)
        except ARCHIVE_ERRORS as exc:
            raise BadInputError(f"cannot read {self._where}: {_reason(exc)}.") from None
