"""Issue 9, done means 2 and 3: a builder or one worker killed with SIGKILL loses no finished clip, and two
builders on the same OUT dub every clip exactly once. Builders run as real processes here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lssd import locks
from lssd.dataset import manifest
from tests.dataset.conftest import FAST, make_mini_lvu

pytestmark = pytest.mark.slow


def start(root: Path, out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lssd.cli", "build-dataset", str(root), "-o", str(out), "--langs", "es", *FAST, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def jsonl_rows(out: Path) -> list[dict]:
    path = out / manifest.JSONL
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def wait_for(what, timeout: float = 400.0, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(poll)
    raise AssertionError("timed out")


def leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.suffix == ".lock" or "lssd-tmp" in p.name]


@pytest.fixture
def speech_only(tmp_path, clip_bank):
    lvu = make_mini_lvu(tmp_path / "lvu", clips_from=clip_bank)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join([*lvu.speech, lvu.missing]) + "\n")  # no corrupt file: a clean build exits 0
    return lvu, ids


def test_builder_killed_after_first_clip_resumes_without_redoing_it(speech_only, tmp_path):
    lvu, ids = speech_only
    out = tmp_path / "out"
    proc = start(lvu.root, out, "--workers", "1", "--ids", str(ids))
    first = wait_for(lambda: next((r for r in jsonl_rows(out) if r["status"] == "done"), None))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    output = out / first["output"]
    mtime = output.stat().st_mtime_ns
    again = start(lvu.root, out, "--workers", "1", "--ids", str(ids))
    assert again.wait(timeout=600) == 0, again.stderr.read()
    rows = jsonl_rows(out)
    final = {r["id"]: r for r in rows}
    assert all(final[vid]["status"] == "done" for vid in lvu.speech)
    assert output.stat().st_mtime_ns == mtime  # the finished clip was not redone
    assert sum(1 for r in rows if r["id"] == first["id"] and r["status"] == "done") == 1
    assert not leftovers(out) and not (out / ".lssd-work").exists()


def test_worker_killed_on_a_clip_is_retried(speech_only, tmp_path):
    lvu, ids = speech_only
    out = tmp_path / "out"
    proc = start(lvu.root, out, "--workers", "1", "--ids", str(ids))

    def held_clip() -> tuple[Path, int] | None:
        for lock in (out / ".lssd-work").glob("*.claim.lock") if (out / ".lssd-work").exists() else []:
            words = locks.holder(lock).split()
            if len(words) == 3 and words[1] == "pid":
                return lock, int(words[2])
        return None

    lock, pid = wait_for(held_clip, poll=0.05)
    os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    victim = lock.name[: -len(".claim.lock")]
    final = {r["id"]: r for r in jsonl_rows(out)}
    assert final[victim]["status"] == "done" and final[victim]["attempts"] == 2
    assert all(final[vid]["status"] == "done" for vid in lvu.speech)
    assert not leftovers(out)


def test_two_builders_on_one_out_dub_each_clip_once(speech_only, tmp_path):
    lvu, ids = speech_only
    out = tmp_path / "out"
    procs = [start(lvu.root, out, "--workers", "1", "--ids", str(ids)) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()
    rows = jsonl_rows(out)
    for vid in lvu.speech:
        made = [r for r in rows if r["id"] == vid and r["status"] == "done" and not r["reused"]]
        assert len(made) == 1, [r for r in rows if r["id"] == vid]
    assert {r["id"]: r["status"] for r in rows}[lvu.missing] == "missing"
    assert not leftovers(out) and not (out / ".lssd-work").exists()
