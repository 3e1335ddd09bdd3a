"""Issue 20, done means 2: a build whose stdout is a file prints one plain line per finished clip and a
summary line (what a SLURM log or ``tail -f`` wants); library output goes to the workers' logs, engines
load on a worker's first clip only; rates come from seconds of video."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from lssd.dataset.progress import LOGS, BuildProgress
from tests.dataset.conftest import FAST


def test_a_build_logged_to_a_file_prints_a_line_per_clip_and_a_summary(mini_lvu, tmp_path):
    out = tmp_path / "out"
    log = tmp_path / "slurm.out"
    with log.open("w") as stdout:
        code = subprocess.run([sys.executable, "-m", "lssd.cli", "build-dataset", str(mini_lvu.root), "-o", str(out),
                               "--langs", "es", "--workers", "2", "--no-qc", *FAST], stdout=stdout,
                              stderr=subprocess.PIPE, text=True).returncode
    assert code == 1  # the corrupt clip
    text = log.read_text()
    assert "\x1b[" not in text  # no terminal control codes in a log
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    for clip_id in mini_lvu.speech:
        assert len(re.findall(stamp + rf"done +{re.escape(clip_id)} \(\d+\.\d s video in \d+\.\d s, worker \d\) "
                              r"\[\d/3\]$", text, re.M)) == 1, text
    assert len(re.findall(stamp + r"worker \d up", text, re.M)) == 2
    summary = re.findall(stamp + r"finished: 3/3 clips · 0:00:11/0:00:11 video · (\d+\.\d\d) s video/s · (\d+) "
                                 r"clips/h · ETA 0:00:00 .*built 3, failed 1$", text, re.M)
    assert len(summary) == 1 and float(summary[0][0]) > 0, text
    assert "Warning" not in text  # library warnings went to the workers' logs
    assert (out / LOGS / "build.log").read_text().count("done ") == 3
    workers = sorted((out / LOGS).glob("worker-*.log"))
    assert len(workers) == 2
    loads = [line for w in workers for line in w.read_text().splitlines() if "engine(s) on clip" in line]
    assert len(loads) == 2 and all("on clip 1 of this worker" in line for line in loads)  # once per worker


def test_rates_and_eta_come_from_seconds_of_video(tmp_path):
    counts: Counter = Counter()
    console = Console(file=(tmp_path / "log.txt").open("w"), force_terminal=False, width=200)
    with BuildProgress(console, tmp_path, clips=3, video_seconds=400.0, workers=2, engine="local", mode="dub",
                       counts=counts, summary_every=0.0) as progress:
        assert progress.rate() is None and progress.eta() is None
        progress.worker_took(0, "long", 300.0)
        counts["done"] += 1
        progress.clip_finished(0, {"id": "long", "status": "done", "wall_seconds": 150.0}, 300.0)
        # one worker makes 2 s of video a second, so two make 4: 100 s of video left take 25 s
        assert progress.rate() == 4.0 and progress.eta() == 25.0
        assert progress.clips_per_hour() == 4.0 * 3600 / 50.0  # at the mean length of the clips left
        counts["done"] += 1
        progress.clip_finished(1, {"id": "again", "status": "done", "reused": True, "wall_seconds": 1.0}, 50.0)
        assert progress.rate() == 4.0  # a reused clip measures nothing
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert sum(" progress: " in line for line in lines) == 2 and " finished: 2/3 clips" in lines[-1]


def test_a_stopped_build_does_not_log_finished(tmp_path):
    """A log read line by line: the last summary of an interrupted build says so."""
    console = Console(file=(tmp_path / "log.txt").open("w"), force_terminal=False, width=200)
    with pytest.raises(KeyboardInterrupt):
        with BuildProgress(console, tmp_path, clips=2, video_seconds=20.0, workers=1, engine="local", mode="dub",
                           counts=Counter(), summary_every=3600.0):
            raise KeyboardInterrupt
    last = (tmp_path / "log.txt").read_text().splitlines()[-1]
    assert " interrupted: 0/2 clips" in last and "finished" not in last
