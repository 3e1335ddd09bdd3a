"""Issue 19: Ctrl-C, SIGTERM and kill -9 mid-run, and inputs refused mid-run. Each ends with one line
("interrupted during <stage> ...", no traceback), rc 130 / 143, no temporary and no lock left, and a rerun
that resumes; a refused input leaves no empty work folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lssd.config import DubConfig
from lssd.dub import transcribe
from lssd.dub.pipeline import Pipeline
from lssd.languages import parse_langs
from lssd.samples import make_sample_clip

from .helpers import run_cli

FAST = ["--separator", "dsp", "--asr", "vad", "--source-lang", "en", "--translator", "pseudo", "--vc", "none"]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Long enough (40 s) that each stage takes a moment to hit."""
    lines = tuple((0.5 + 5.0 * i, "The boats come back before the evening storm.") for i in range(8))
    return make_sample_clip(tmp_path_factory.mktemp("long") / "long.mp4", duration=40.0, lines=lines).path


def start(clip: Path, out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lssd.cli", "dub", str(clip), "--langs", "es", "-o", str(out), *FAST, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(pattern: str, where: Path, proc: subprocess.Popen, timeout: float = 300.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = next(where.rglob(pattern), None) if where.exists() else None
        if found is not None:
            return found
        time.sleep(0.005)
    raise AssertionError(f"{pattern} never appeared (rc {proc.poll()})")


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix == ".lock" or "lssd-tmp" in p.name]


def assert_interrupted(proc: subprocess.Popen, code: int, stage: str) -> None:
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1 and lines[0].startswith(f"interrupted during {stage}") and "rerun" in lines[0], err


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_separate_is_one_line_and_leaves_nothing(long_clip, tmp_path, sig, code):
    out = tmp_path / "out"
    proc = start(long_clip, out)
    wait_for(".vocals.lssd-tmp-*", out, proc)
    proc.send_signal(sig)
    assert_interrupted(proc, code, "separate")
    assert not leftovers(out)
    resumed = Pipeline(DubConfig(langs=parse_langs("es"), separator="dsp", asr="vad", source_language="eng",
                                 translator="pseudo", vc="none")).run(long_clip, output=out, until="separate")
    assert resumed.skipped == ["input"] and resumed.ran == ["separate"]


@pytest.mark.slow
def test_kill_9_during_separate_leaves_temporaries_the_rerun_removes(long_clip, tmp_path):
    out = tmp_path / "out"
    proc = start(long_clip, out)
    tmp = wait_for(".vocals.lssd-tmp-*", out, proc)
    proc.kill()
    proc.wait()
    assert tmp.exists() and leftovers(out)  # nothing runs on SIGKILL: the next run must clean up
    code = subprocess.run([sys.executable, "-m", "lssd.cli", "separate", str(long_clip), "-o", str(out), *FAST],
                          capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    assert not leftovers(out)


@pytest.mark.slow
def test_sigterm_during_remux_leaves_no_temporary_beside_the_output(long_clip, tmp_path):
    out = tmp_path / "out"
    ready = subprocess.run([sys.executable, "-m", "lssd.cli", "match-loudness", str(long_clip), "--langs", "es",
                            "-o", str(out), *FAST], capture_output=True, text=True)
    assert ready.returncode == 0, ready.stderr
    proc = start(long_clip, out)
    wait_for(".long.dub.lssd-tmp-*", out, proc)
    proc.send_signal(signal.SIGTERM)
    assert_interrupted(proc, 143, "remux")
    assert not leftovers(out) and not (out / "long.dub.mkv").exists()


def test_ctrl_c_that_a_library_turns_into_an_import_error_is_an_interruption(short_clip, tmp_path, capsys,
                                                                             monkeypatch):
    def run(ctx, lang=None, selection=None):  # as CTranslate2's import does when Ctrl-C lands inside it
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise ImportError("initialization failed") from None
        raise AssertionError("no SIGINT arrived")

    monkeypatch.setattr(transcribe, "run", run)
    out = tmp_path / "out"
    code, log = run_cli(["dub", short_clip.path, "--langs", "es", "-o", out, "--background",
                         short_clip.background, *FAST], capsys)
    assert code == 130, log
    assert "Traceback" not in log and "ImportError" not in log
    assert [line for line in log.splitlines() if line.startswith("interrupted")][0].startswith(
        "interrupted during transcribe")
    assert not leftovers(out)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the CLI put the handler back


@pytest.mark.parametrize("kind", ["empty", "no-audio", "truncated"])
def test_a_refused_input_leaves_no_work_folder(short_clip, tmp_path, capsys, kind):
    bad = tmp_path / "in" / f"{kind}.mp4"
    bad.parent.mkdir()
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "no-audio":
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(short_clip.path), "-an", "-c", "copy", str(bad)], check=True)
    else:
        whole = tmp_path / "whole.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(short_clip.path), "-c", "copy", "-movflags", "+faststart",
                        str(whole)], check=True)
        bad.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "out"
    code, log = run_cli(["dub", bad, "--langs", "es", "-o", out], capsys)
    assert code == 2 and log.count("error:") == 1 and "Traceback" not in log, log
    assert not out.exists() or not any(out.iterdir()), list(out.rglob("*"))


SECOND_CTRL_C = """
import os, signal, sys, time
from lssd import cli
second, hang = sys.argv[1], float(sys.argv[2])

def app(args, prog_name, standalone_mode):  # a command interrupted, whose clean-up may get more Ctrl-Cs
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    finally:
        for _ in range({"clean-up": 1, "force": 2}.get(second, 0)):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        time.sleep(hang)  # a clean-up that hangs
        print("cleaned up", file=sys.stderr)
    raise AssertionError("no SIGINT arrived")

printing = cli.err_console.print
def print_line(*args, **kwargs):  # or the second while the one line is printed
    if second == "line":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    printing(*args, **kwargs)

cli.app, cli.err_console.print = app, print_line
sys.argv = ["lssd", "dub"]
code = cli.main()  # as the console script calls it
os.kill(os.getpid(), signal.SIGINT)  # and one more on the way out
time.sleep(0.05)
sys.exit(code)
"""


@pytest.mark.parametrize("second", ["clean-up", "line"])
def test_a_second_ctrl_c_during_clean_up_the_line_or_the_exit_is_harmless(second: str):
    proc = subprocess.run([sys.executable, "-c", SECOND_CTRL_C, second, "0"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and "cleaned up" in proc.stderr, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("interrupted")] == [
        "interrupted (SIGINT); temporary files were removed and finished work is kept: rerun the same command "
        "to resume"], proc.stderr


def test_a_third_ctrl_c_stops_a_hanging_clean_up_at_once():
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", SECOND_CTRL_C, "force", "30"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 130 and time.monotonic() - start < 25, proc.stderr
    assert "cleaned up" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "interrupted 3 times (SIGINT): stopping now, without finishing the clean-up"), proc.stderr


@pytest.mark.slow
def test_ctrl_c_twice_quickly_during_separate_is_one_line(long_clip, tmp_path):
    out = tmp_path / "out"
    proc = start(long_clip, out)
    wait_for(".vocals.lssd-tmp-*", out, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert_interrupted(proc, 130, "separate")
    assert not leftovers(out)
