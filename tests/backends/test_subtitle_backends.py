"""Subtitles as transcript (cue text, timing tightened to the speech) and as translation (cues by overlap)."""

from __future__ import annotations

import pytest

from lssd.backends.subtitles import (
    SubtitleRecognizer,
    SubtitleTranslator,
    _check_source,
    _check_target,
    language_from_name,
)
from lssd.config import DubConfig
from lssd.segments import KIND_SUBTITLES, Segment, Transcript
from lssd.errors import BadInputError
from lssd.languages import get_language
from lssd.subtitles import Cue, write_srt

from .conftest import make_speech


def test_source_subtitles_become_segments_hugging_speech(tmp_path, english_speech):
    (a0, a1), (b0, b1) = english_speech.spans
    srt = tmp_path / "clip.en.srt"  # cues start early and linger, as real ones do
    write_srt(srt, [Cue(0.0, 0.2, "[music]"), Cue(a0 - 0.5, a1 + 0.7, "- Good morning, my name is Anna."),
                    Cue(b0 - 0.4, b1 + 0.5, "<i>Thank you</i> (laughs)")])
    transcript = SubtitleRecognizer(srt).transcribe(english_speech.audio, english_speech.sr, None)
    assert transcript.language == "eng"  # from the .en. in the file name
    assert [s.text for s in transcript.segments] == ["Good morning, my name is Anna.", "Thank you"]
    for seg, (start, end) in zip(transcript.segments, english_speech.spans, strict=True):
        assert abs(seg.start - start) <= 0.2 and abs(seg.end - end) <= 0.2
    assert SubtitleRecognizer(srt, "spa").transcribe(english_speech.audio, english_speech.sr, None).language == "spa"


def test_language_from_file_name():
    assert language_from_name("movie.fr.vtt") == "fra"
    assert language_from_name("movie.jpn.srt") == "jpn"
    assert language_from_name("movie.srt") is None
    assert language_from_name("movie.final.srt") is None


def test_missing_source_subtitles(tmp_path):
    assert "no subtitles" in _check_source(DubConfig(langs=[]), None)
    assert _check_source(DubConfig(langs=[], source_subtitles=tmp_path / "x.srt"), None) is None
    with pytest.raises(BadInputError, match="not found"):
        SubtitleRecognizer(tmp_path / "x.srt").transcribe(make_speech(["Hello."]).audio, 22_050, None)


def test_translation_cues_map_to_segments_by_overlap(tmp_path):
    spans = [(0.0, 2.0), (3.0, 5.0), (6.0, 8.0), (9.0, 10.0)]
    segments = [Segment(i, a, b, "original") for i, (a, b) in enumerate(spans)]
    srt = tmp_path / "es.srt"
    write_srt(srt, [
        Cue(0.1, 1.9, "Hola."),
        Cue(1.8, 4.0, "Cruza dos segmentos."),  # 0.2 s over segment 0, 1.0 s over segment 1
        Cue(4.2, 4.9, "<i>Adiós.</i>"),
        Cue(5.1, 5.9, "Entre segmentos."),  # overlaps none
        Cue(9.2, 9.8, "[risas]"),  # not speech
    ])
    translator = SubtitleTranslator({"es": srt})
    result = translator.translate(Transcript("eng", segments), get_language("spa"), None, 48_000)
    assert result.kind == KIND_SUBTITLES
    assert result.texts == {0: "Hola.", 1: "Cruza dos segmentos. Adiós.", 2: "", 3: ""}
    assert translator.provenance()["settings"]["unmatched_cues"] == {"spa": 1}
    with pytest.raises(BadInputError, match="no French subtitles"):
        translator.translate(Transcript("eng", segments), get_language("fr"), None, 48_000)


def test_target_check(tmp_path):
    cfg = DubConfig(langs=[], subtitles={"spa": tmp_path / "es.srt"})
    assert _check_target(cfg, get_language("es")) is None
    assert "no German subtitles" in _check_target(cfg, get_language("de"))
