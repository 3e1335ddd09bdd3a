"""Faults a careless or adversarial user meets: concurrent runs, truncated files, names that look like
options, stale temporaries, outputs that are not ours. Each ends in one line and nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lssd.media import decode_audio, probe

from .helpers import run_cli
from .test_bad_input import _assert_one_line_error


def _dub_cmd(clip, output: Path, *extra: str) -> list:
    return ["dub", clip.path, "--langs", "es", "-o", output, "--background", clip.background, *extra]


def _audio_md5(path: Path) -> str:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-f", "md5", "-"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_two_concurrent_runs_on_one_output_both_end_cleanly(short_clip, tmp_path, capsys):
    out = tmp_path / "both" / "boats.dub.mkv"
    cmd = [sys.executable, "-m", "lssd.cli", *map(str, _dub_cmd(short_clip, out))]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert any("waiting:" in log for log in logs), logs  # the second waited for the first's lock
    single = tmp_path / "single" / "boats.dub.mkv"
    assert run_cli(_dub_cmd(short_clip, single), capsys)[0] == 0
    assert _audio_md5(out) == _audio_md5(single)
    assert not list(out.parent.rglob("*.lock")) and not list(out.parent.rglob("*lssd-tmp*"))


@pytest.mark.parametrize("container", ["mkv", "mp4"])
def test_truncated_input_is_refused_then_dubbed_on_request(short_clip, tmp_path, capsys, container):
    whole = tmp_path / f"whole.{container}"
    flags = ["-movflags", "+faststart"] if container == "mp4" else []
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(short_clip.path), "-c", "copy", *flags, str(whole)], check=True)
    cut = tmp_path / f"cut.{container}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    declared = probe(cut).duration
    code, log = run_cli(["dub", cut, "--langs", "es", "-o", tmp_path / "out"], capsys)
    _assert_one_line_error(code, log, "cut." + container + " is truncated")
    assert "--allow-truncated" in log and not list(tmp_path.glob("out/*.mkv"))
    code, log = run_cli(["dub", cut, "--langs", "es", "-o", tmp_path / "out", "--allow-truncated"], capsys)
    assert code == 0, log
    meta = json.loads((tmp_path / "out" / "cut.dub.lssd.json").read_text())
    decoded = meta["stages"]["input"]["decoded"]
    assert min(decoded.values()) < declared - 1.0
    assert meta["duration"] == pytest.approx(min(decoded.values()), abs=0.05)


def test_names_that_look_like_options(short_clip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(short_clip.path, tmp_path / "-lead.mp4")
    info = probe(Path("-lead.mp4"))
    assert info.has_video and info.duration == pytest.approx(5.0, abs=0.1)
    assert decode_audio(Path("-lead.mp4")).shape[1] > 4 * 48_000


def test_stale_temporaries_of_a_killed_mux_are_removed(short_clip, tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out_dir / f".boats.dub.lssd-tmp-{dead.pid}.mkv"
    stale.write_bytes(b"half a container")
    assert run_cli(_dub_cmd(short_clip, out_dir / "boats.dub.mkv"), capsys)[0] == 0
    assert not stale.exists()


def test_an_unrelated_existing_output_is_not_overwritten(short_clip, tmp_path, capsys):
    precious = tmp_path / "film.mkv"
    precious.write_bytes(b"somebody's film")
    code, log = run_cli(_dub_cmd(short_clip, precious), capsys)
    _assert_one_line_error(code, log, "exists and was not written by lssd")
    assert precious.read_bytes() == b"somebody's film"
    assert run_cli(_dub_cmd(short_clip, precious, "--overwrite"), capsys)[0] == 0
    assert precious.stat().st_size > 1000
    assert run_cli(_dub_cmd(short_clip, precious), capsys)[0] == 0  # now it is ours: rerun is fine


def test_output_naming_an_existing_file_without_suffix(short_clip, tmp_path, capsys):
    (tmp_path / "notes").write_text("x")
    code, log = run_cli(_dub_cmd(short_clip, tmp_path / "notes"), capsys)
    _assert_one_line_error(code, log, "is an existing file, not a directory")


def test_output_folder_that_cannot_be_written(short_clip, tmp_path, capsys):
    code, log = run_cli(_dub_cmd(short_clip, Path("/proc/self/lssd/out.mkv")), capsys)
    _assert_one_line_error(code, log, "cannot create the output folder")
    if os.geteuid() != 0:  # root writes into read-only folders, so this half needs a normal user
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        code, log = run_cli(_dub_cmd(short_clip, locked / "out.mkv"), capsys)
        _assert_one_line_error(code, log, "cannot write to the output folder")
