"""Bad input: one clear line, a non-zero exit, no traceback, nothing half-written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from lssd.media import SAMPLE_RATE, decode_audio, probe, write_audio
from lssd.samples import make_clip_from_audio, music_background

from .helpers import run_cli, track


def _assert_one_line_error(code: int, log: str, expected: str) -> None:
    assert code != 0
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, log
    assert expected in errors[0], errors[0]


def _no_outputs(directory: Path) -> None:
    assert not list(directory.glob("*.dub.*")), list(directory.iterdir())


def test_missing_file(tmp_path, capsys):
    code, log = run_cli(["dub", tmp_path / "nope.mp4", "--langs", "es"], capsys)
    _assert_one_line_error(code, log, "input file not found")


def test_corrupt_file(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    code, log = run_cli(["dub", bad, "--langs", "es"], capsys)
    _assert_one_line_error(code, log, "cannot read broken.mp4")
    _no_outputs(tmp_path)


def test_video_without_audio(tmp_path, capsys):
    silent_video = tmp_path / "mute.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2",
                    "-pix_fmt", "yuv420p", str(silent_video)], check=True)
    code, log = run_cli(["dub", silent_video, "--langs", "es", "--workdir", tmp_path / "w"], capsys)
    _assert_one_line_error(code, log, "has no audio stream")
    _no_outputs(tmp_path)


def test_silent_audio(tmp_path, capsys):
    wav = tmp_path / "silence.wav"
    write_audio(wav, np.zeros((1, SAMPLE_RATE * 3), dtype=np.float32))
    video = make_clip_from_audio(wav, tmp_path / "silence.mp4")
    code, log = run_cli(["dub", video, "--langs", "es", "--workdir", tmp_path / "w"], capsys)
    _assert_one_line_error(code, log, "silent")
    _no_outputs(tmp_path)


def test_unknown_language_lists_supported_ones(tmp_path, capsys):
    code, log = run_cli(["dub", tmp_path / "x.mp4", "--langs", "es,xx"], capsys)
    _assert_one_line_error(code, log, "unknown language code 'xx'; supported: en/eng, es/spa")


def test_bad_subtitles_option(sample_clip, capsys):
    code, log = run_cli(["dub", sample_clip.path, "--langs", "es", "--subtitles", "es"], capsys)
    _assert_one_line_error(code, log, "--subtitles wants LANG=PATH")


def test_background_of_another_length(sample_clip, tmp_path, capsys):
    short = tmp_path / "short.wav"
    write_audio(short, music_background(4.0))
    code, log = run_cli(["dub", sample_clip.path, "--langs", "es", "-o", tmp_path, "--workdir", tmp_path / "w",
                         "--background", short], capsys)
    _assert_one_line_error(code, log, "--background short.wav lasts 4.00 s")
    _no_outputs(tmp_path)


def test_ratio_bounds_are_checked(sample_clip, capsys):
    code, log = run_cli(["dub", sample_clip.path, "--langs", "es", "--min-ratio", "1.2"], capsys)
    _assert_one_line_error(code, log, "--min-ratio")


def test_no_speech_gives_dubs_equal_to_the_original_with_a_warning(tmp_path, capsys):
    wav = tmp_path / "music.wav"
    write_audio(wav, music_background(6.0, level_db=-20))
    video = make_clip_from_audio(wav, tmp_path / "music.mp4")
    output = tmp_path / "music.dub.mkv"
    code, log = run_cli(["dub", video, "--langs", "es,ja", "-o", output, "--workdir", tmp_path / "w"], capsys)
    assert code == 0, log
    assert "no speech found" in log
    streams = probe(output).audio
    assert [s.language for s in streams][1:] == ["spa", "jpn"]
    original = decode_audio(video, SAMPLE_RATE, timeline=True)
    for s in streams[1:]:
        dub = track(output, s.index)[:, : original.shape[1]]
        corr = np.corrcoef(dub.ravel(), original[:, : dub.shape[1]].ravel())[0, 1]
        assert corr > 0.99, corr


def test_usage_errors_are_one_message_not_a_traceback(tmp_path, capsys):
    code, log = run_cli(["dub", tmp_path / "x.mp4"], capsys)
    assert code == 2 and "Traceback" not in log and "langs" in log
    code, log = run_cli(["dubb", tmp_path / "x.mp4"], capsys)
    assert code == 2 and "Traceback" not in log and "No such command" in log
