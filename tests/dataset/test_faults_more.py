"""Issue 19, the build-dataset cases: a non-UTF-8 file name, two files with one id, a standalone dub into
a running build, a read-only or full OUT, and a dry run over a file cut short. Each ends with one line
(no traceback), the right exit code, nothing finished lost and no temporaries left."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lssd import locks
from lssd.cli import main
from lssd.dataset import manifest
from lssd.dataset.worker import WORK, work_paths
from tests.dataset.conftest import FAST

GOOD = "Aa0_speech1"


def build(root: Path, out: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["build-dataset", str(root), "-o", str(out), "--langs", "es", "--workers", "1", *FAST, *extra])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in manifest.read(out)}


def leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.suffix == ".lock" or "lssd-tmp" in p.name]


def no_traceback(log: str) -> None:
    assert "Traceback" not in log and "Error:" not in log.replace("error:", ""), log


def test_a_non_utf8_file_name_is_a_failed_row_and_the_build_goes_on(tmp_path, clip_bank, capsys):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(clip_bank / f"{GOOD}.mp4", src / f"{GOOD}.mp4")
    bad = os.fsdecode(os.fsencode(str(src)) + b"/caf\xe9.mp4")
    shutil.copy(clip_bank / f"{GOOD}.mp4", bad)
    out = tmp_path / "out"
    code, log = build(src, out, capsys)
    assert code == 1, log  # a failed row makes the build exit 1
    no_traceback(log)
    found = rows(out)
    assert found[GOOD]["status"] == "done"
    assert found["caf\\xe9"]["status"] == "failed" and "not valid UTF-8" in found["caf\\xe9"]["reason"]
    (out / manifest.JSONL).read_text(encoding="utf-8")  # still UTF-8 text
    again, log = build(src, out, capsys)  # a resume reads it back and finds the finished clip
    assert again == 1 and "Traceback" not in log
    assert rows(out)[GOOD]["status"] == "done" and not leftovers(out)


@pytest.mark.parametrize("names", [("x.mp4", "x.mkv"), ("truncated.mkv", "truncated.mp4")])
def test_two_files_with_one_id_are_refused_before_any_work(tmp_path, clip_bank, capsys, names):
    src = tmp_path / "src"
    src.mkdir()
    for name in names:
        shutil.copy(clip_bank / f"{GOOD}.mp4", src / name)
    out = tmp_path / "out"
    code, log = build(src, out, capsys)
    assert code == 2
    assert log.count("\n") == 1 and all(name in log for name in names), log
    assert not out.exists()


def test_dub_into_a_running_build_honours_its_claim(tmp_path, clip_bank, capsys):
    src = tmp_path / "src"
    src.mkdir()
    clip = Path(shutil.copy(clip_bank / f"{GOOD}.mp4", src / f"{GOOD}.mp4"))
    out = tmp_path / "out"
    target = out / "videos" / f"{GOOD}.mkv"
    _, claim = work_paths(out, GOOD)
    fd = locks.try_lock(claim)  # a builder's worker is on this clip
    try:
        code = main(["dub", str(clip), "--langs", "es", "-o", str(target), *FAST])
        log = capsys.readouterr().err
    finally:
        locks.unlock(claim, fd)
    assert code == locks.LockedError.exit_code and "in use by another lssd process" in log, log
    assert not target.exists()
    # with no builder on it, the dub takes the claim itself; a build then reuses its output
    assert main(["dub", str(clip), "--langs", "es", "-o", str(target), *FAST]) == 0
    capsys.readouterr()
    code, log = build(src, out, capsys)
    assert code == 0, log
    row = rows(out)[GOOD]
    assert row["status"] == "done" and row["reused"] is True
    assert not leftovers(out)


def test_read_only_out_is_one_sentence(read_only_dir, clip_bank, capsys):
    src = read_only_dir.parent / "src"
    src.mkdir()
    shutil.copy(clip_bank / f"{GOOD}.mp4", src / f"{GOOD}.mp4")
    for out in (read_only_dir, read_only_dir / "lvu-m"):  # OUT itself, then a new OUT under it
        code, log = build(src, out, capsys)
        assert code == 2, log
        assert "the dataset folder" in log and "Read-only file system" in log
        errors = [line for line in log.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in log, log  # one error line (progress lines may precede it)


def test_a_full_disk_names_itself_and_frees_the_work_dir(small_disk, clip_bank, capsys):
    disk = small_disk("3m")
    src = disk.parent / "src"
    src.mkdir()
    shutil.copy(clip_bank / f"{GOOD}.mp4", src / f"{GOOD}.mp4")
    code, log = build(src, disk / "out", capsys)
    assert code == 1 and "Traceback" not in log, log
    row = rows(disk / "out")[GOOD]
    assert row["status"] == "failed" and row["reason"].startswith("no space left on device"), row
    assert not (disk / "out" / WORK / GOOD).exists()
    assert not leftovers(disk / "out")


def test_dry_run_counts_a_file_cut_short_at_what_it_holds(tmp_path, clip_bank, capsys):
    src = tmp_path / "src"
    src.mkdir()
    whole = clip_bank / f"{GOOD}.mp4"
    cut = src / "cut.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(whole), "-c", "copy", "-movflags", "+faststart",
                    str(cut)], check=True)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 3])  # the header (moved first) still declares the whole length
    code, log = build(src, tmp_path / "out", capsys, "--dry-run")
    assert code == 0, log
    line = next(line for line in log.splitlines() if "estimate with 1 workers" in line)
    h, m, sec = (int(x) for x in re.search(r"(\d+)h(\d+)m(\d+)s", line).groups())
    assert h * 3600 + m * 60 + sec <= 3, line  # the clip declares 4 s, at 1 s of work per second
