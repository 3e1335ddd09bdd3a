"""What a sidecar records about a model: its source, licence, and the sha256 of each file.

Hashing multi-GB weights on every run would cost minutes, so hashes come from the manifest while a file's
size and mtime are unchanged; a changed file is re-hashed and checked against the catalog (or against the
hash recorded at install, for a source that publishes none) before it is trusted again.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from lssd.hashing import sha256_file

from . import manifest
from .download import ChecksumError, DamagedFileError, check_hash
from .packages import distribution_version

if TYPE_CHECKING:
    from pathlib import Path

    from .catalog import ModelEntry
    from .store import Store


def verified_hashes(store: Store, entry: ModelEntry, folder: Path) -> dict[str, str]:
    """The sha256 of each file of ``entry`` in ``folder``, checked against the catalog (or the hash
    recorded at install) whenever the manifest does not vouch for the file as it is now: at first use,
    before any library parses it, and after any change. A mismatch is :class:`DamagedWeightsError`."""
    mpath = store.manifest_path(entry)
    records = manifest.read(mpath)
    hashes: dict[str, str] = {}
    changed = False
    pinned = store.pins_apply(entry)
    for spec in entry.files:
        file = folder / spec.name
        rec = records.get(spec.name)
        if rec is None or not rec.matches(file):
            sha = sha256_file(file)
            if pinned:
                try:
                    check_hash(spec, sha, str(file), entry.name)
                except ChecksumError:
                    raise DamagedFileError(
                        f"{entry.name}: {spec.name} in the model store is damaged or not the published file "
                        f"(sha256 {sha}, the catalog pins {spec.sha256 or spec.sha256_prefix + '…'}); {_mend(entry.name)}"
                    ) from None
                if not spec.pinned and rec is not None and sha != rec.sha256:
                    raise DamagedFileError(
                        f"{entry.name}: {spec.name} changed since it was installed (sha256 {sha}, recorded "
                        f"{rec.sha256}); {_mend(entry.name)}")
            rec = records[spec.name] = manifest.record(file, sha)
            changed = True
        hashes[spec.name] = rec.sha256
    if changed:
        with contextlib.suppress(OSError):  # a read-only store still yields provenance, re-hashing next time
            manifest.write(mpath, entry.name, "provenance", records)
    return hashes


def _mend(name: str) -> str:
    return f"run `lssd models pull {name} --force` or import a good copy (`lssd models verify {name}` checks it)"


def provenance(store: Store, name: str) -> dict[str, object]:
    entry = store.entry(name)
    hashes = verified_hashes(store, entry, store.require(entry.name))
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
        result["package"] = f"{entry.bundled.distribution}=={distribution_version(entry.bundled.distribution)}"
    return result
