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
from .download import ChecksumError, check_hash
from .packages import distribution_version

if TYPE_CHECKING:
    from .store import Store


def provenance(store: Store, name: str) -> dict[str, object]:
    entry = store.entry(name)
    folder = store.require(entry.name)
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
        result["package"] = f"{entry.bundled.distribution}=={distribution_version(entry.bundled.distribution)}"
    return result
