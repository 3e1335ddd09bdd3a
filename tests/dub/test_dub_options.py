"""`lssd dub` options: audio-only input, mp4, --strict, user subtitles, text-less speech, stage commands."""

from __future__ import annotations

import json
import subprocess

import pytest

from lssd.media import probe
from lssd.subtitles import Cue, read_subtitles, write_srt

from .helpers import run_cli, sidecar


def test_audio_only_input_gives_a_multitrack_mka(short_clip, tmp_path, capsys):
    wav = tmp_path / "boats.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(short_clip.path), "-vn", str(wav)], check=True)
    code, log = run_cli(["dub", wav, "--langs", "es", "--workdir", tmp_path / "w"], capsys)
    assert code == 0, log
    output = tmp_path / "boats.dub.mka"
    info = probe(output)
    assert not info.video and [s.language for s in info.audio] == ["eng", "spa"]


def test_mp4_container_titles_tracks_with_handler_name(short_clip, tmp_path, capsys):
    output = tmp_path / "boats.dub.mp4"
    code, log = run_cli(["dub", short_clip.path, "--langs", "fr", "--container", "mp4", "-o", output,
                         "--workdir", tmp_path / "w", "--background", short_clip.background], capsys)
    assert code == 0, log
    audio = probe(output).audio
    assert [s.language for s in audio] == ["eng", "fra"]
    assert audio[1].title == "French (synthetic dub)"  # read back from handler_name: mp4 drops `title`
    assert [s.codec for s in probe(output).video] == ["h264"]


def test_strict_refuses_labelled_fallbacks(short_clip, tmp_path, capsys):
    code, log = run_cli(["dub", short_clip.path, "--langs", "ja", "--strict", "-o", tmp_path,
                         "--workdir", tmp_path / "w", "--background", short_clip.background], capsys)
    assert code != 0 and "Traceback" not in log
    assert "--strict refuses Japanese from any source language: only a labelled fallback could serve it" in log  # before any stage
    assert not (tmp_path / "w").exists()
    code, log = run_cli(["dub", short_clip.path, "--langs", "es", "--strict", "-o", tmp_path,
                         "--workdir", tmp_path / "w2"], capsys)
    assert code != 0 and "--strict refuses the labelled fallback 'dsp'" in log
    assert not list(tmp_path.glob("*.dub.*"))


def test_user_subtitles_are_the_translation(short_clip, tmp_path, capsys):
    srt = tmp_path / "boats.ja.srt"
    write_srt(srt, [Cue(0.5, 3.5, "嵐の前に船が戻ってくる。")])
    output = tmp_path / "boats.dub.mkv"
    code, log = run_cli(["dub", short_clip.path, "--langs", "ja", "--subtitles", f"ja={srt}", "-o", output,
                         "--workdir", tmp_path / "w", "--background", short_clip.background], capsys)
    assert code == 0, log
    meta = sidecar(output)
    assert meta["stages"]["translate:jpn"]["backend"] == "subtitles"
    assert meta["segments"][0]["targets"]["jpn"]["text"] == "嵐の前に船が戻ってくる。"
    assert probe(output).audio[1].title == "Japanese (synthetic dub)"
    assert read_subtitles(output.with_name("boats.dub.jpn.srt"))[0].text == "嵐の前に船が戻ってくる。"


def test_source_subtitles_replace_speech_recognition(short_clip, tmp_path, capsys):
    srt = tmp_path / "boats.en.srt"
    write_srt(srt, [Cue(0.6, 3.4, "The ships return before the storm.")])
    output = tmp_path / "boats.dub.mkv"
    code, log = run_cli(["dub", short_clip.path, "--langs", "es", "--source-subtitles", srt, "-o", output,
                         "--workdir", tmp_path / "w", "--background", short_clip.background], capsys)
    assert code == 0, log
    meta = sidecar(output)
    assert meta["stages"]["transcribe"]["backend"] == "subtitles"
    assert meta["segments"][0]["text"] == "The ships return before the storm."
    assert "barcos" in meta["segments"][0]["targets"]["spa"]["text"].lower()


def test_speech_no_offline_asr_understands_gets_pseudo_text(short_clip, tmp_path, capsys):
    """Spanish speech (said to be) located without text (the VAD recognizer): pseudo-text, labelled."""
    output = tmp_path / "boats.dub.mkv"
    code, log = run_cli(["dub", short_clip.path, "--langs", "fr", "--source-lang", "es", "--asr", "vad", "-o", output,
                         "--workdir", tmp_path / "w", "--background", short_clip.background], capsys)
    assert code == 0, log
    meta = sidecar(output)
    assert meta["stages"]["transcribe"]["backend"] == "vad"
    assert meta["stages"]["translate:fra"]["backend"] == "pseudo"
    assert any("no text" in reason for reason in meta["stages"]["translate:fra"]["passed_over"])
    assert "not a translation" in probe(output).audio[1].title


def test_stage_command_runs_up_to_its_stage(short_clip, tmp_path, capsys):
    workdir = tmp_path / "w"
    args = [short_clip.path, "--langs", "es", "--workdir", workdir, "--background", short_clip.background]
    code, log = run_cli(["align", *args], capsys)
    assert code == 0, log
    assert (workdir / "align" / "spa" / "done.json").exists()
    assert not (workdir / "voice-convert").exists()
    first = json.loads((workdir / "align" / "spa" / "done.json").read_text())["output_id"]
    code, log = run_cli(["align", *args, "--force"], capsys)
    assert code == 0, log
    assert json.loads((workdir / "align" / "spa" / "done.json").read_text())["output_id"] != first
    assert json.loads((workdir / "synthesize" / "spa" / "done.json").read_text())  # reused, not redone
    assert "cached" in log


@pytest.mark.parametrize("option", ["--separator", "--asr", "--translator", "--tts", "--vc"])
def test_unknown_backend_lists_the_choices(short_clip, tmp_path, capsys, option):
    code, log = run_cli(["dub", short_clip.path, "--langs", "es", option, "nope", "--workdir", tmp_path / "w",
                         "--background", short_clip.background], capsys)
    assert code != 0 and "Traceback" not in log
    assert f"unknown {option} 'nope'; choose from: auto" in log
