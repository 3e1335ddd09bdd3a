"""``lssd models verify``: re-hash installed files against what the catalog pins or the install recorded."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lssd.hashing import sha256_file

from . import manifest
from .catalog import ModelEntry, ModelFile
from .packages import distribution_version

if TYPE_CHECKING:
    from .layout import StoreLayout


@dataclass(frozen=True)
class FileCheck:
    """``status``: ok (full sha256 matches), prefix (published prefix matches), recorded (source publishes
    no hash; matches what was recorded at install), other-version (bundled package is not the catalogued
    version), mismatch, missing."""

    name: str
    status: str
    sha256: str = ""
    expected: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "prefix", "recorded", "other-version")


@dataclass(frozen=True)
class ModelCheck:
    """``status``: ok, missing (no file at all), partial (some files missing), mismatch."""

    name: str
    status: str
    files: tuple[FileCheck, ...] = ()
    required: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok" or (self.status == "missing" and not self.required)


@dataclass(frozen=True)
class VerifyReport:
    checks: tuple[ModelCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def check_file(entry: ModelEntry, spec: ModelFile, file: Path, rec: manifest.Record | None) -> FileCheck:
    if not file.is_file():
        return FileCheck(spec.name, "missing")
    sha = sha256_file(file)
    if spec.sha256:
        good, expected, label = sha == spec.sha256, spec.sha256, "ok"
    elif spec.sha256_prefix:
        good, expected, label = sha.startswith(spec.sha256_prefix), spec.sha256_prefix, "prefix"
    elif rec is not None:
        good, expected, label = sha == rec.sha256, rec.sha256, "recorded"
    else:
        return FileCheck(spec.name, "recorded", sha)
    if good:
        return FileCheck(spec.name, label, sha, expected)
    if entry.bundled is not None and distribution_version(entry.bundled.distribution) != entry.bundled.version:
        return FileCheck(spec.name, "other-version", sha, expected)
    return FileCheck(spec.name, "mismatch", sha, expected)


def verify_model(store: StoreLayout, entry: ModelEntry, required: bool) -> ModelCheck:
    folder = store.path(entry.name)
    mpath = store.manifest_path(entry)
    records = manifest.read(mpath)
    checks = tuple(check_file(entry, f, folder / f.name, records.get(f.name)) for f in entry.files)
    if all(c.status == "missing" for c in checks):
        return ModelCheck(entry.name, "missing", checks, required)
    if any(c.status == "mismatch" for c in checks):
        return ModelCheck(entry.name, "mismatch", checks, required)
    if any(c.status == "missing" for c in checks):
        return ModelCheck(entry.name, "partial", checks, required)
    verified = {c.name: manifest.record(folder / c.name, c.sha256) for c in checks}
    with contextlib.suppress(OSError):  # verifying a read-only store is fine; the manifest just stays as it was
        manifest.write(mpath, entry.name, "verify", verified)
    return ModelCheck(entry.name, "ok", checks, required)


def verify(store: StoreLayout, name: str | None = None) -> VerifyReport:
    """Re-hash every file of one model (or of all that are at least partly present)."""
    if name is not None:
        return VerifyReport((verify_model(store, store.entry(name), required=True),))
    return VerifyReport(tuple(verify_model(store, e, required=False) for e in store.entries()))
