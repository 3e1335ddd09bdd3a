"""Which catalog model a weight file recorded in a sidecar belongs to: sidecars record files by name and
sha256, and bare names collide (every CTranslate2 Whisper has a ``model.bin``), so the dataset card and
the manifest name each file by its catalog entry."""

from __future__ import annotations

from functools import lru_cache

from lssd.store.catalog import ModelEntry


@lru_cache(maxsize=1)
def _entries() -> tuple[ModelEntry, ...]:
    from lssd.store import get_store

    return tuple(sorted(get_store().entries(), key=lambda e: -len(e.name)))  # longest name first: prefixes


def identify(file: str, sha256: str, hint: str = "") -> ModelEntry | None:
    """The catalog entry whose file ``file`` has this sha256; else the one the provenance's ``model``
    text starts with (or names) that has such a file; None when neither."""
    entries = _entries()
    for entry in entries:
        if any(f.name == file and f.sha256 == sha256 for f in entry.files):
            return entry
    for entry in entries:
        if (hint.startswith(entry.name) or f"{entry.name} " in hint) and any(f.name == file for f in entry.files):
            return entry
    return None
