"""The openai-whisper recogniser, loaded as a user's run loads it: registry → model store → whisper.load_model.

A tiny random Whisper checkpoint (OpenAI's file format, real tokenizer) stands in for large-v3: its text is
gibberish, so the engine test checks timing bookkeeping, language codes and provenance, and the segmenting
rules are checked on hand-made word lists. The first word-timestamp call compiles numba (≈8 s): the engine
runs once per language mode, in a module fixture. ``-m weights`` transcribes real speech.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from lssd.backends import registry
from lssd.backends.whisper import build_segments, iso3, loudest_window, whisper_code
from lssd.config import DubConfig
from lssd.errors import BadInputError, MissingWeightsError
from lssd.languages import parse_langs
from lssd.testing.tiny_models import build_whisper, copy_catalog, install

SR = 48_000
SECONDS = 8.0


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("whisper-store")
    catalog, root = copy_catalog(tmp / "catalog"), tmp / "store"
    build_whisper(tmp / "build", "large-v3.pt")
    install(catalog, root, "whisper-large-v3", tmp / "build", stage="transcribe", library="openai-whisper")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSSD_CATALOG_DIR", str(catalog))
        mp.setenv("LSSD_MODEL_DIR", str(root))
        yield root


def _cfg() -> DubConfig:
    return DubConfig(langs=parse_langs("es"), asr="whisper", device="cpu")


@pytest.fixture(scope="module")
def engine(tiny_store):
    cfg = _cfg()
    return registry.engine(registry.select("transcribe", cfg.asr, cfg).backend, cfg)


@pytest.fixture(scope="module")
def vocals() -> np.ndarray:
    rng = np.random.default_rng(0)
    audio = 0.01 * rng.standard_normal((2, int(SECONDS * SR)))
    audio[:, 2 * SR : 6 * SR] += 0.2 * np.sin(2 * np.pi * 180 * np.arange(4 * SR) / SR)
    return audio.astype(np.float32)


@pytest.fixture(scope="module")
def transcripts(engine, vocals):
    return {"forced": engine.transcribe(vocals, SR, "eng"), "detected": engine.transcribe(vocals, SR, None),
            "again": engine.transcribe(vocals, SR, None)}


def _word(start: float, end: float, text: str) -> dict:
    return {"word": text, "start": start, "end": end, "probability": 0.9}


def test_transcript_timing_is_sorted_inside_the_clip_and_snapped_to_words(transcripts):
    for transcript in transcripts.values():
        assert transcript.backend == "whisper"
        previous_end = 0.0
        for i, seg in enumerate(transcript.segments):
            assert seg.id == i and seg.words
            assert previous_end <= seg.start < seg.end <= SECONDS
            assert (seg.start, seg.end) == (seg.words[0].start, seg.words[-1].end)
            assert all(seg.start <= w.start <= w.end <= seg.end for w in seg.words)
            previous_end = seg.end


def test_language_is_forced_or_detected_and_reported_in_iso_639_2(transcripts):
    from whisper.tokenizer import LANGUAGES

    assert transcripts["forced"].language == "eng"
    detected = transcripts["detected"].language
    assert len(detected) == 3 or detected in LANGUAGES  # ISO 639-2/T, or whisper's code when lssd lacks it
    assert transcripts["again"] == transcripts["detected"]  # seeded: a rerun gives the same transcript


def test_provenance_records_the_checkpoint_hash(engine, tiny_store):
    prov = engine.provenance()
    checkpoint = tiny_store / "whisper-large-v3" / "large-v3.pt"
    assert prov["files"] == {"large-v3.pt": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}
    assert prov["model"] == "whisper-large-v3" and prov["library"].startswith("openai-whisper ")
    assert prov["settings"]["fp16"] is False and prov["settings"]["word_timestamps"] is True
    # the tiny model is not shaped like large-v3, so large-v3's tuned alignment heads must not be applied
    assert prov["settings"]["alignment_heads"].startswith("default")


def test_engine_is_loaded_once(engine):
    cfg = _cfg()
    assert registry.engine(registry.select("transcribe", "whisper", cfg).backend, cfg) is engine


def test_segments_split_at_pauses_and_sentence_ends():
    raw = [
        {"words": [_word(0.0, 0.4, " Hello"), _word(0.8, 1.2, " there.")]},
        {"words": [_word(1.6, 2.0, " Come"), _word(2.1, 2.5, " in."), _word(3.4, 3.8, " Now")]},
    ]
    segments = build_segments(raw, 10.0, 0.5)
    # 0.4 s inside a Whisper segment stays; 0.4 s where Whisper ended one splits; 0.9 s always splits
    assert [s.text for s in segments] == ["Hello there.", "Come in.", "Now"]
    assert [(s.start, s.end) for s in segments] == [(0.0, 1.2), (1.6, 2.5), (3.4, 3.8)]


def test_long_segments_are_cut_between_words_never_leaving_a_short_piece():
    words = [_word(0.3 * i, 0.3 * i + 0.25, f" w{i}") for i in range(80)]  # 24 s, no pause over 0.05 s
    words[0]["word"] = " Yes."  # a sentence end, but cutting there would leave a 0.25 s piece
    words[30]["word"] = " end."
    segments = build_segments([{"words": words}], 30.0, 0.5)
    assert [len(s.words) for s in segments] == [31, 49]
    assert all(0.5 <= s.duration <= 15.0 for s in segments)


def test_words_are_kept_inside_the_clip_and_joined_as_written():
    raw = [{"words": [_word(0.0, 0.3, "こんにちは"), _word(0.2, 0.6, "。"), _word(1.9, 2.4, " x")]}]
    segments = build_segments(raw, 2.1, 0.5)
    assert segments[0].text == "こんにちは。"  # no spaces invented between Japanese words
    assert segments[0].words[1].start == 0.3  # overlapping word times are made consecutive
    assert segments[-1].end == 2.1
    assert build_segments([{"words": []}, {"words": [_word(1.0, 1.2, " ")]}], 5.0, 0.5) == []


def test_language_codes_map_both_ways():
    assert whisper_code("fra") == "fr" and whisper_code("zho") == "zh"
    assert whisper_code(None) is None and whisper_code("und") is None
    assert iso3("ja") == "jpn" and iso3("haw") == "haw"
    with pytest.raises(BadInputError):
        whisper_code("xx")


def test_language_detection_listens_to_the_loudest_half_minute():
    audio = np.zeros(90 * 16_000, dtype=np.float32)
    audio[50 * 16_000 : 70 * 16_000] = 1.0
    window = loudest_window(audio)
    assert window.size == 30 * 16_000 and window.sum() == 20 * 16_000
    assert loudest_window(audio[:16_000]).size == 16_000


def test_missing_weights_stop_the_selection_with_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("LSSD_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("LSSD_CATALOG_DIR", raising=False)
    with pytest.raises(MissingWeightsError) as err:
        registry.select("transcribe", "whisper", DubConfig(langs=parse_langs("es"), asr_model="large"))
    assert "'whisper-large-v3'" in str(err.value) and "lssd models pull whisper-large-v3" in str(err.value)


@pytest.mark.weights
def test_real_whisper_transcribes_and_detects_english(user_store, shared_media):
    """With any openai-whisper model in LSSD_MODEL_DIR: JFK's inaugural line, detected as English."""
    from lssd.backends.whisper import WhisperRecognizer
    from lssd.media import read_audio
    from lssd.store import get_store

    store = get_store()
    present = [e.name for e in store.entries("transcribe")
               if e.library == "openai-whisper" and store.is_present(e.name)]
    if not present:
        pytest.skip(f"no openai-whisper model in the model store {os.environ.get('LSSD_MODEL_DIR')}")
    smallest = min(present, key=lambda name: store.disk_size(name))
    transcript = WhisperRecognizer(smallest, "cpu", 0.5).transcribe(read_audio(shared_media / "jfk.flac", SR), SR, None)
    assert transcript.language == "eng"
    text = " ".join(s.text for s in transcript.segments).lower()
    assert "ask not what your country can do for you" in text
