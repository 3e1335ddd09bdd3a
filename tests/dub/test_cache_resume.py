"""Per-clip cache: a second identical run recomputes nothing, a killed run resumes, --force recomputes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from lssd.config import DubConfig
from lssd.dub.pipeline import Pipeline
from lssd.languages import parse_langs

from .conftest import copy_clip


def _pipeline(**kw) -> Pipeline:
    return Pipeline(DubConfig(langs=parse_langs("es"), **kw))


def test_second_identical_run_recomputes_no_stage(sample_clip, tmp_path):
    clip = copy_clip(sample_clip, tmp_path)
    first = _pipeline(background=sample_clip.background).run(clip, workdir=tmp_path / "w")
    assert "separate" in first.ran and "remux" in first.ran
    mtime = first.output.stat().st_mtime_ns
    second = _pipeline(background=sample_clip.background).run(clip, workdir=tmp_path / "w")
    assert second.ran == []
    assert "remux" in second.skipped and "translate:spa" in second.skipped
    assert first.output.stat().st_mtime_ns == mtime


def test_changed_setting_recomputes_only_downstream_stages(sample_clip, tmp_path):
    clip = copy_clip(sample_clip, tmp_path)
    _pipeline(background=sample_clip.background).run(clip, workdir=tmp_path / "w")
    again = _pipeline(background=sample_clip.background, max_ratio=1.3).run(clip, workdir=tmp_path / "w")
    assert "separate" in again.skipped and "synthesize:spa" in again.skipped
    assert again.ran == ["align:spa", "voice-convert:spa", "match-loudness:spa", "remux"]


def test_force_recomputes_a_stage_and_everything_after_it(sample_clip, tmp_path):
    clip = copy_clip(sample_clip, tmp_path)
    _pipeline(background=sample_clip.background).run(clip, workdir=tmp_path / "w")
    again = _pipeline(background=sample_clip.background).run(clip, workdir=tmp_path / "w", force={"align"})
    assert again.ran == ["align:spa", "voice-convert:spa", "match-loudness:spa", "remux"]


def test_run_killed_after_a_stage_resumes_without_redoing_it(sample_clip, tmp_path):
    clip = copy_clip(sample_clip, tmp_path)
    workdir = tmp_path / "w"
    cmd = [sys.executable, "-m", "lssd.cli", "dub", str(clip), "--langs", "es,fr", "--workdir", str(workdir),
           "--background", str(sample_clip.background)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = workdir / "transcribe" / "done.json"
    deadline = time.time() + 120
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the run never finished transcribing"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    output = clip.with_name("harbour.dub.mkv")
    assert not output.exists()
    assert not any(p.name.startswith(".") and "lssd-tmp" in p.name for p in clip.parent.iterdir())
    resumed = Pipeline(DubConfig(langs=parse_langs("es,fr"), background=sample_clip.background)).run(clip, workdir=workdir)
    assert "separate" in resumed.skipped and "transcribe" in resumed.skipped
    assert "remux" in resumed.ran and resumed.output.exists()
