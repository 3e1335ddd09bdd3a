"""Silero VAD: the text-less fallback transcriber and the span tightening other backends rely on."""

from __future__ import annotations

import numpy as np
import pytest

from lssd.backends.vad import VadRecognizer, hug

from .conftest import make_speech


def test_hug_shrinks_to_speech_and_ignores_jitter():
    spans = [(0.3, 2.3), (3.3, 4.4)]
    assert hug(2.26, 3.88, spans) == (3.3, 3.88)  # 40 ms at 2.26-2.30 is word-timing jitter
    assert hug(0.0, 0.76, spans) == (0.3, 0.76)
    assert hug(2.5, 3.0, spans) == (2.5, 3.0)  # VAD heard nothing there: keep what we were told
    assert hug(2.25, 2.29, spans) == (2.25, 2.29)  # only jitter overlaps: the largest piece wins
    assert hug(0.0, 10.0, spans) == (0.3, 4.4)


def test_vad_segments_follow_speech_and_have_no_text():
    speech = make_speech(["Hola, buenos días a todos.", "Hoy vamos a hablar del tiempo."], lang="es")
    transcript = VadRecognizer().transcribe(np.stack([speech.audio, speech.audio]), speech.sr, "es")
    assert transcript.language == "spa"
    assert len(transcript.segments) == len(speech.spans)
    for seg, (start, end) in zip(transcript.segments, speech.spans, strict=True):
        assert seg.text == "" and seg.words == []
        assert seg.start == pytest.approx(start, abs=0.2) and seg.end == pytest.approx(end, abs=0.2)


def test_vad_on_silence_finds_nothing_and_unknown_language_is_und():
    silence = np.random.default_rng(1).normal(0, 1e-4, 48_000 * 2).astype(np.float32)
    transcript = VadRecognizer().transcribe(silence, 48_000, None)
    assert transcript.segments == [] and transcript.language == "und"


def test_provenance_names_the_model_files():
    prov = VadRecognizer().provenance()
    assert prov["backend"] == "vad" and prov["files"]["silero_vad.onnx"] and prov["settings"]["text"] == "none"


def test_a_track_is_scanned_once_while_its_array_lives():
    from lssd.backends import vad

    speech = make_speech(["Hola, buenos días a todos."], lang="es")
    audio = np.stack([speech.audio, speech.audio])
    first = vad.scan_track(audio, speech.sr)
    assert vad.scan_track(audio, speech.sr) is first  # the recognizer's scan serves the diarizer
    copy = audio.copy()  # another array (another clip): scanned anew, to the same result
    again = vad.scan_track(copy, speech.sr)
    assert again is not first and np.array_equal(again.probs, first.probs)
    assert vad.scan_track(audio[:, : audio.shape[1] // 2], speech.sr).n < first.n  # a view is another array
