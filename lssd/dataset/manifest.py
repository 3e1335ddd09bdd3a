"""The dataset manifest: one row per clip id, in ``OUT/manifest.jsonl`` (appended and fsynced as each clip
finishes, so a killed build loses no finished clip) and ``OUT/manifest.parquet`` (rewritten atomically
from the JSONL; the last row of an id wins).

Columns:

==================  ===========================================================================
``id``              the clip id (LVU: the YouTube id; a plain folder: the relative path, no suffix)
``tasks``           list[str], LVU task of each line the id appears on (parallel to ``splits``)
``splits``          list[str], the split of each of those lines
``status``          ``done`` | ``no-speech`` | ``missing`` | ``failed``
``reason``          one line: why a clip failed, is missing or has no speech ('' when done)
``duration``        seconds of the source clip
``source_language`` ISO 639-3 of the original speech ('und' when unknown)
``languages``       list[str], ISO 639-3 of the dub tracks written
``backends``        map stage → backend that ran it
``stage_seconds``   map stage → seconds it took (when it was computed)
``wall_seconds``    seconds the worker spent making the clip (a reused row keeps the original build's)
``cpu_seconds``     CPU seconds of that worker and the tools it ran, for the clip (null when unknown)
``input``           the source file
``output``          the container, relative to OUT ('' when none)
``sidecar``         its sidecar, relative to OUT ('' when none)
``models``          map model file → sha256, every weight file a stage loaded
``licences``        list[str], licence notices that bind the output (e.g. SeamlessM4T's CC-BY-NC-4.0)
``attempts``        how many workers tried the clip in this build
``worker``          host:pid of the worker that made the output
``reused``          True when an earlier or concurrent build had made the output: nothing recomputed
``reused_by``       host:pid of the worker that found the output made ('' when not reused)
``finished``        UTC time the row was written
``qc``              JSON text of the clip's quality summary (``lssd qc``); null until QC has run
``speakers``        how many speakers the diarize stage found (null for outputs without a speakers table)
==================  ===========================================================================
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lssd.errors import LssdError
from lssd.media import atomic_output

JSONL = "manifest.jsonl"
PARQUET = "manifest.parquet"
STATUSES = ("done", "no-speech", "missing", "failed")
FINISHED = ("done", "no-speech")  # a clip with one of these statuses and its files present is not redone


def _schema():
    import pyarrow as pa

    strings = pa.list_(pa.string())
    return pa.schema([
        ("id", pa.string()), ("tasks", strings), ("splits", strings), ("status", pa.string()),
        ("reason", pa.string()), ("duration", pa.float64()), ("source_language", pa.string()),
        ("languages", strings), ("backends", pa.map_(pa.string(), pa.string())),
        ("stage_seconds", pa.map_(pa.string(), pa.float64())), ("wall_seconds", pa.float64()),
        ("input", pa.string()), ("output", pa.string()), ("sidecar", pa.string()),
        ("models", pa.map_(pa.string(), pa.string())), ("licences", strings), ("attempts", pa.int64()),
        ("worker", pa.string()), ("reused", pa.bool_()), ("finished", pa.string()), ("qc", pa.string()),
        ("cpu_seconds", pa.float64()), ("reused_by", pa.string()), ("speakers", pa.int64()),
    ])


COLUMNS = ("id", "tasks", "splits", "status", "reason", "duration", "source_language", "languages", "backends",
           "stage_seconds", "wall_seconds", "input", "output", "sidecar", "models", "licences", "attempts",
           "worker", "reused", "finished", "qc", "cpu_seconds", "reused_by", "speakers")
DEFAULTS: dict[str, Any] = {"tasks": [], "splits": [], "reason": "", "duration": None, "source_language": "",
                            "languages": [], "backends": {}, "stage_seconds": {}, "wall_seconds": None, "input": "",
                            "output": "", "sidecar": "", "models": {}, "licences": [], "attempts": 0, "worker": "",
                            "reused": False, "finished": "", "qc": None, "cpu_seconds": None, "reused_by": "", "speakers": None}


def complete(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every column, in column order."""
    return {col: row.get(col, DEFAULTS.get(col)) for col in COLUMNS}


class Manifest:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.jsonl = self.out_dir / JSONL
        self.parquet = self.out_dir / PARQUET

    def rows(self) -> dict[str, dict[str, Any]]:
        """The last row of every id. A torn last line (a builder killed while writing it) is skipped."""
        return RowsReader(self.jsonl).rows(last_line=True)

    def append(self, row: dict[str, Any]) -> None:
        """Append one row and fsync it. O_APPEND makes one write() of a line atomic among builders."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # the manifest is UTF-8 text: a name that is not (lone surrogates) is written escaped, never lost
        data = (json.dumps(complete(row), ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")
        try:
            fd = os.open(self.jsonl, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if _ends_torn(self.jsonl):
                    data = b"\n" + data  # close a line a killed builder left half-written
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            raise LssdError(f"cannot write the manifest {self.jsonl} ({err.strerror or err}); the clips "
                            f"finished so far are kept: free space or fix permissions, then rerun to resume") from None

    def write_parquet(self) -> int:
        """Rewrite ``manifest.parquet`` from the JSONL, atomically; the number of rows."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [complete(r) for r in sorted(self.rows().values(), key=lambda r: r["id"])]
        table = pa.Table.from_pylist(rows, schema=_schema())
        with atomic_output(self.parquet) as tmp:
            pq.write_table(table, tmp)
        return len(rows)


class RowsReader:
    """The last row of every id of a manifest JSONL, kept up to date across calls by reading only the lines
    appended since the last call (builders only append), so a builder that looks up every clip reads the
    file once, not once per clip. A file replaced or cut shorter is read afresh; a line still being
    written (no newline yet) waits for the next call. The dict returned is the reader's own: do not change it."""

    def __init__(self, jsonl: Path) -> None:
        self.jsonl = Path(jsonl)
        self._rows: dict[str, dict[str, Any]] = {}
        self._file: tuple[int, int] | None = None  # (device, inode) read so far
        self._offset = 0  # bytes of whole lines read

    def rows(self, last_line: bool = False) -> dict[str, dict[str, Any]]:
        """``last_line``: also take a last line without its newline when it parses (a one-off read; a
        reader that keeps up waits for the newline, the line may still be being written)."""
        try:
            st = self.jsonl.stat()
        except FileNotFoundError:
            self._rows, self._file, self._offset = {}, None, 0
            return self._rows
        if (st.st_dev, st.st_ino) != self._file or st.st_size < self._offset:
            self._rows, self._file, self._offset = {}, (st.st_dev, st.st_ino), 0
        if st.st_size > self._offset:
            with self.jsonl.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
            whole = data[:data.rfind(b"\n") + 1]
            self._offset += len(whole)
            for line in whole.decode("utf-8").split("\n")[:-1]:  # whole lines; not splitlines (U+2028 in a name)
                self._take(line)
            if last_line and len(whole) < len(data):
                self._take(data[len(whole):].decode("utf-8", errors="replace"))
        return self._rows

    def _take(self, line: str) -> None:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # torn
            return
        if isinstance(row, dict) and "id" in row:
            self._rows[row["id"]] = row


def _ends_torn(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with path.open("rb") as f:
        f.seek(size - 1)
        return f.read(1) != b"\n"


def read(path: Path) -> list[dict[str, Any]]:
    """The rows of a manifest given as ``manifest.parquet``, ``manifest.jsonl`` or the dataset folder."""
    path = Path(path)
    if path.is_dir():
        path = path / PARQUET if (path / PARQUET).exists() else path / JSONL
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        for row in rows:  # map columns come back as lists of pairs
            for col in ("backends", "stage_seconds", "models"):
                row[col] = dict(row[col] or [])
        return rows
    return [complete(r) for r in Manifest(path.parent).rows().values()]
