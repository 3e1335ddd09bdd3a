"""`lssd dub` end to end on generated clips (known speech and background) and on a real recording."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest

from lssd.media import SAMPLE_RATE, probe, read_audio

from .helpers import run_cli, sidecar, span_mask, stream_durations, track


def test_container_has_video_and_one_tagged_track_per_language(dubbed_sample):
    info = probe(dubbed_sample.output)
    assert len(info.video) == 1
    assert [s.language for s in info.audio] == ["eng", "spa", "fra", "jpn"]
    titles = [s.title for s in info.audio]
    assert titles[0] == "English (original)"
    assert titles[1] == "Spanish (synthetic dub)"
    assert "not a translation" in titles[3]  # no offline Japanese translator: pseudo-text, labelled
    assert [s.language for s in info.subtitles] == ["eng", "spa", "fra", "jpn"]


def _av_durations(path) -> dict[int, float]:
    """Video and audio streams only: a subtitle stream ends with its last cue."""
    av = {s.index for s in probe(path).streams if s.kind in ("video", "audio")}
    return {i: d for i, d in stream_durations(path).items() if i in av}


def test_every_stream_lasts_as_long_as_the_input_within_one_frame(dubbed_sample):
    frame = 1 / 25
    durations = _av_durations(dubbed_sample.output)
    assert len(durations) == 5
    for index, duration in durations.items():
        assert abs(duration - dubbed_sample.clip.duration) <= frame, (index, duration)


def test_srts_and_sidecar(dubbed_sample):
    out = dubbed_sample.output
    for iso in ("eng", "spa", "fra", "jpn"):
        assert out.with_name(f"{out.stem}.{iso}.srt").read_text().strip()
    meta = sidecar(out)
    assert meta["format"] == "lssd-dub/1" and meta["source_language"] == "eng"
    assert [t["language"] for t in meta["tracks"]] == ["eng", "spa", "fra", "jpn"]
    stages = meta["stages"]
    assert stages["separate"]["backend"] == "given-background"
    assert stages["translate:spa"]["backend"] == "apertium"
    assert stages["translate:jpn"]["kind"] == "pseudo-text" and stages["translate:jpn"]["is_translation"] is False
    seg = meta["segments"][0]
    spa = seg["targets"]["spa"]
    assert spa["text"] and spa["stretch_ratio"] > 0 and "loudness" in spa
    for stage in ("transcribe", "synthesize:spa", "voice-convert:spa", "remux"):
        assert stages[stage]["provenance"], stage


def test_spanish_track_is_a_real_apertium_translation(dubbed_sample):
    meta = sidecar(dubbed_sample.output)
    spanish = " ".join(s["targets"]["spa"]["text"] for s in meta["segments"]).lower()
    assert "barcos" in spanish or "puerto" in spanish, spanish  # boats / harbour


def _dubbed_speech(dubbed, audio_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dub − known background, background, dub) for one dubbed track."""
    clip = dubbed.clip
    background = read_audio(clip.background)
    streams = probe(dubbed.output).audio
    dub = track(dubbed.output, streams[audio_index].index)[:, : background.shape[1]]
    return dub - background[:, : dub.shape[1]], background[:, : dub.shape[1]], dub


@pytest.mark.parametrize("audio_index", [1, 2, 3])
def test_dubbed_speech_lies_inside_the_original_speech_spans(dubbed_sample, audio_index):
    speech, _, _ = _dubbed_speech(dubbed_sample, audio_index)
    energy = (speech.astype(np.float64) ** 2).sum(axis=0)
    inside = span_mask(energy.size, dubbed_sample.clip.spans, pad=0.2)
    fraction = energy[inside].sum() / energy.sum()
    assert fraction >= 0.90, fraction


@pytest.mark.parametrize("audio_index", [1, 2, 3])
def test_outside_speech_the_dub_is_the_given_background(dubbed_sample, audio_index):
    _, background, dub = _dubbed_speech(dubbed_sample, audio_index)
    outside = ~span_mask(dub.shape[1], dubbed_sample.clip.spans, pad=0.2)
    corr = np.corrcoef(dub[:, outside].ravel(), background[:, outside].ravel())[0, 1]
    assert corr >= 0.99, corr


@pytest.mark.parametrize("audio_index", [1, 2, 3])
def test_dubbed_speech_is_as_loud_as_the_original_speech(dubbed_sample, audio_index):
    speech, _, _ = _dubbed_speech(dubbed_sample, audio_index)
    original = read_audio(dubbed_sample.clip.speech)[0]
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    dubbed_lufs = meter.integrated_loudness(speech.mean(axis=0))
    original_lufs = meter.integrated_loudness(original)
    assert abs(dubbed_lufs - original_lufs) <= 1.0, (dubbed_lufs, original_lufs)


@pytest.mark.shared_media
def test_real_speech_recording(jfk_video, tmp_path, capsys):
    output = tmp_path / "jfk.dub.mkv"
    code, log = run_cli(["dub", jfk_video, "--langs", "es,fr,ja", "-o", output, "--workdir", tmp_path / "w"], capsys)
    assert code == 0, log
    info = probe(output)
    assert len(info.video) == 1 and [s.language for s in info.audio] == ["eng", "spa", "fra", "jpn"]
    for duration in _av_durations(output).values():
        assert abs(duration - probe(jfk_video).duration) <= 1 / 25
    meta = sidecar(output)
    text = " ".join(s["text"] for s in meta["segments"]).lower()
    assert "ask not what your country can do for you" in text
    assert meta["stages"]["transcribe"]["backend"] == "faster-whisper"
    assert meta["stages"]["separate"]["backend"] == "dsp"
    spanish = " ".join(s["targets"]["spa"]["text"] for s in meta["segments"]).lower()
    assert "país" in spanish, spanish
