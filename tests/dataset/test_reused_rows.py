"""A reused clip keeps the timing and worker of the build that made it (ClipWorker._original): the manifest
is read once per build, then only what builders append, not once per reused clip."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lssd.dataset import manifest
from lssd.dataset.manifest import JSONL, Manifest, RowsReader
from lssd.dataset.worker import ClipWorker

N = 40


def made(i: int, seconds: float = 1.0) -> dict:
    return {"id": f"c{i}", "status": "done", "output": f"videos/c{i}.mkv", "wall_seconds": seconds,
            "worker": "host:1", "finished": "2026-01-01T00:00:00+00:00"}


def worker(out: Path) -> ClipWorker:
    w = ClipWorker.__new__(ClipWorker)  # _original needs only the output folder
    w.out_dir = out
    return w


def reused(w: ClipWorker, i: int) -> dict:
    return w._original({"id": f"c{i}", "status": "done", "output": f"videos/c{i}.mkv", "reused": True})


def test_reused_rows_read_the_manifest_once_and_follow_appends(tmp_path, monkeypatch):
    for i in range(N):
        Manifest(tmp_path).append(made(i))
    parsed = []
    loads = json.loads
    monkeypatch.setattr(manifest.json, "loads", lambda line, **kw: parsed.append(line) or loads(line, **kw))
    w = worker(tmp_path)
    assert all(reused(w, i)["wall_seconds"] == 1.0 for i in range(N))
    assert len(parsed) == N  # each line once (it was N * N)

    Manifest(tmp_path).append(made(N, seconds=7.0))  # a concurrent builder's row, after the first read
    assert reused(w, N)["wall_seconds"] == 7.0 and len(parsed) == N + 1

    with (tmp_path / JSONL).open("ab") as f:  # a builder half-way through writing its line
        f.write(json.dumps(made(N + 1, 3.0)).encode()[:20])
    assert "wall_seconds" not in reused(w, N + 1)
    Manifest(tmp_path).append(made(N + 2, seconds=5.0))  # the next appender closes the torn line
    assert reused(w, N + 2)["wall_seconds"] == 5.0 and "wall_seconds" not in reused(w, N + 1)

    replacement = tmp_path / "new.jsonl"  # the manifest replaced (a fresh build into the folder)
    replacement.write_text(json.dumps(manifest.complete(made(0, seconds=9.0))) + "\n", encoding="utf-8")
    os.replace(replacement, tmp_path / JSONL)
    assert reused(w, 0)["wall_seconds"] == 9.0 and "wall_seconds" not in reused(w, 1)


def test_manifest_rows_keep_a_name_with_a_line_separator(tmp_path):
    Manifest(tmp_path).append({**made(0), "id": "a\u2028b"})
    assert list(Manifest(tmp_path).rows()) == ["a\u2028b"]


def test_a_one_off_read_takes_a_whole_last_line_without_its_newline(tmp_path: Path) -> None:
    """Manifest.rows (as it read before RowsReader): a last row that parses counts even without a newline
    (a hand-edited file); a torn one does not. A reader that keeps up waits for the newline."""
    jsonl = tmp_path / JSONL
    jsonl.write_text(json.dumps({"id": "a"}) + "\n" + json.dumps({"id": "b"}))
    assert set(Manifest(tmp_path).rows()) == {"a", "b"}
    assert set(RowsReader(jsonl).rows()) == {"a"}
    jsonl.write_text(json.dumps({"id": "a"}) + '\n{"id": "b", "st')
    assert set(Manifest(tmp_path).rows()) == {"a"}
