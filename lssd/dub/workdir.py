"""A clip's work directory: every stage's artifacts under predictable names, plus a ``done.json`` per
stage (and language) holding the key of the inputs and settings it was computed from.

A stage is fresh when its ``done.json`` key matches; keys chain (each includes its upstream keys), so
changing a setting or an input recomputes exactly the stages downstream of it. ``done.json`` is written
last and atomically: a run killed mid-stage leaves no marker and the stage is redone on the next run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from lssd.media import TEMP_MARK, read_json, write_json

FINGERPRINT_CHUNK = 1 << 20


def fingerprint(path: Path) -> str:
    """Content fingerprint of a (possibly huge) file: size plus hashes of its first and last MiB."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(FINGERPRINT_CHUNK))
        if size > FINGERPRINT_CHUNK:
            f.seek(max(size - FINGERPRINT_CHUNK, FINGERPRINT_CHUNK))
            h.update(f.read(FINGERPRINT_CHUNK))
    return h.hexdigest()


def make_key(*parts: object) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class Workdir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def stage_dir(self, stage: str, lang: str | None = None) -> Path:
        path = self.root / stage / lang if lang else self.root / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _marker(self, stage: str, lang: str | None) -> Path:
        return (self.root / stage / lang if lang else self.root / stage) / "done.json"

    def done(self, stage: str, lang: str | None = None) -> dict | None:
        marker = self._marker(stage, lang)
        return read_json(marker) if marker.exists() else None

    def is_fresh(self, stage: str, key: str, lang: str | None = None) -> bool:
        done = self.done(stage, lang)
        return bool(done) and done.get("key") == key

    def mark_done(self, stage: str, key: str, record: dict, lang: str | None = None) -> None:
        write_json(self._marker(stage, lang), {"key": key, **record})

    def remove_temporaries(self) -> None:
        """Temporaries of a killed earlier run (``kill -9`` runs no ``finally``): the caller holds the
        work directory's lock, so nobody else can be writing them. On a long input they are gigabytes."""
        for tmp in self.root.rglob(f"*{TEMP_MARK}*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)

    def prune(self) -> None:
        """Remove the folders a run made but left empty (a refused input leaves ``input/``), and the work
        directory itself when nothing is in it; never a file."""
        for path in sorted((p for p in self.root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            try:
                path.rmdir()
            except OSError:
                pass
        try:
            self.root.rmdir()
        except OSError:
            pass

    def reset(self, stage: str, lang: str | None = None) -> Path:
        """Forget a stage's previous artifacts before recomputing it (stale per-segment files must not leak)."""
        path = self.root / stage / lang if lang else self.root / stage
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path
