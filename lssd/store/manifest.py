"""The per-model manifest: the sha256 of each file as it was when last verified.

Hashing multi-GB weights on every run would cost minutes, so provenance reads the hash from here as
long as the file's size and modification time are unchanged. It is written last and atomically, after
every file has been checked, so its presence also means "this model was installed completely".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lssd import __version__

MANIFEST = ".lssd-manifest.json"


@dataclass(frozen=True)
class Record:
    sha256: str
    size: int
    mtime_ns: int

    def matches(self, path: Path) -> bool:
        """Still describes the file on disk (cheap check: size and modification time)."""
        try:
            st = path.stat()
        except OSError:
            return False
        return st.st_size == self.size and st.st_mtime_ns == self.mtime_ns


def record(path: Path, sha256: str) -> Record:
    st = path.stat()
    return Record(sha256=sha256, size=st.st_size, mtime_ns=st.st_mtime_ns)


def read(path: Path) -> dict[str, Record]:
    """File name → record; empty when there is no readable manifest."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: Record(**rec) for name, rec in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write(path: Path, model: str, how: str, files: dict[str, Record]) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "model": model,
        "how": how,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "lssd": __version__,
        "files": {name: vars(rec) for name, rec in sorted(files.items())},
    }
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
