"""espeak-ng: every paper language, durations near the originals after rate adaptation, kana for Japanese."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from lssd.backends import espeak
from lssd.backends.espeak import ESPEAK_SR, MAX_RATE, MIN_RATE, EspeakSynthesizer, _check, to_kana, trim
from lssd.backends.pseudo_text import pseudo_text, segment_rng
from lssd.config import DubConfig
from lssd.errors import BadInputError
from lssd.languages import get_language

from .conftest import need

PAPER_LANGUAGES = ["en", "es", "fr", "ja", "de", "it", "ko"]
DURATIONS = [0.8, 2.0, 4.5, 8.0]


@pytest.fixture(scope="module")
def tts() -> EspeakSynthesizer:
    need("espeak-ng")
    return EspeakSynthesizer()


@pytest.mark.parametrize("code", PAPER_LANGUAGES)
def test_durations_track_the_originals(tts, code):
    lang = get_language(code)
    texts = [pseudo_text(d, lang, segment_rng(7, lang, i, 0.0, d)) for i, d in enumerate(DURATIONS)]
    audios, sr = tts.synthesize(texts, lang, DURATIONS)
    assert sr == ESPEAK_SR and len(audios) == len(texts)
    errors = [a.size / sr / d - 1 for a, d in zip(audios, DURATIONS, strict=True)]
    assert max(abs(e) for e in errors) <= 0.25, errors
    assert all(a.dtype == np.float32 and a.ndim == 1 and np.abs(a).max() > 0.05 for a in audios)
    rates = tts.rates[lang.iso3]
    assert len(rates) == len(texts) and all(MIN_RATE <= r <= MAX_RATE for r in rates)


def test_rate_adapts_to_a_real_sentence(tts):
    en = get_language("en")
    text = "The weather is very nice today, so we are going to the beach."
    natural = tts.speak(text, en).size / ESPEAK_SR
    (fast, slow), _ = tts.synthesize([text, text], en, [natural * 0.7, natural * 1.3])
    assert fast.size / ESPEAK_SR == pytest.approx(natural * 0.7, rel=0.15)
    assert slow.size / ESPEAK_SR == pytest.approx(natural * 1.3, rel=0.15)
    assert tts.rates["eng"][0] > espeak.DEFAULT_RATE > tts.rates["eng"][1]


def test_silence_is_trimmed_to_20_ms(tts):
    audio = tts.speak("Hello there.", get_language("en"))
    loud = np.flatnonzero(np.abs(audio) > np.abs(audio).max() * 0.01)
    assert loud[0] <= 0.025 * ESPEAK_SR and audio.size - loud[-1] <= 0.025 * ESPEAK_SR
    padded = np.concatenate([np.zeros(ESPEAK_SR), audio, np.zeros(ESPEAK_SR)]).astype(np.float32)
    assert audio.size <= trim(padded, ESPEAK_SR).size <= audio.size + 2 * int(0.02 * ESPEAK_SR) + 1
    assert trim(np.zeros(100, np.float32), ESPEAK_SR).size == 0


def test_japanese_kanji_are_spoken_as_kana_not_chinese_letter(tts):
    assert to_kana("東京は大きい町です。") == "とうきょうはおおきいまちです。"
    assert to_kana("私はABCテストが好き") == "わたしはABCテストがすき"
    assert to_kana("ひらがなだけ") == "ひらがなだけ"

    def phonemes(text: str) -> str:
        return subprocess.run(["espeak-ng", "-v", "ja", "-q", "-x", text], capture_output=True, text=True).stdout

    kanji = "東京は大きい町です。"
    assert "(en)" in phonemes(kanji)  # what espeak-ng does with kanji: English "Chinese letter"
    assert "(en)" not in phonemes(to_kana(kanji))
    (audio,), _ = tts.synthesize([kanji], get_language("ja"), [2.0])
    assert audio.size / ESPEAK_SR == pytest.approx(2.0, rel=0.25)


def test_empty_text_gives_no_audio(tts):
    audios, _ = tts.synthesize(["", "  "], get_language("es"), [1.0, 1.0])
    assert [a.size for a in audios] == [0, 0] and tts.rates["spa"] == [0, 0]


def test_voice_variant(tts):
    need("espeak-ng")
    female = EspeakSynthesizer("f3")
    assert female.voice(get_language("de")) == "de+f3"
    text, de = "Guten Morgen, wie geht es dir?", get_language("de")
    a, b = tts.speak(text, de), female.speak(text, de)
    assert a.size != b.size or not np.allclose(a, b)
    assert female.provenance()["settings"]["variant"] == "f3"
    assert tts.provenance()["library"].startswith("espeak-ng 1.")
    with pytest.raises(BadInputError, match="unknown espeak-ng voice variant"):
        EspeakSynthesizer("nosuchvoice")


def test_check(monkeypatch):
    need("espeak-ng")
    cfg = DubConfig(langs=[])
    assert all(_check(cfg, get_language(code)) is None for code in PAPER_LANGUAGES)
    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    assert "./install.sh" in _check(cfg, get_language("en"))


def test_provenance_holds_the_last_call_only(tts):
    """The engine lives for the process: a worker's French sidecar once carried the rates of the
    languages of clips it had dubbed before (the sidecar depended on which worker took which clip)."""
    for code in ("es", "fr"):
        tts.synthesize(["Hola a todos."], get_language(code), [1.5])
    assert list(tts.provenance()["settings"]["rates_wpm"]) == ["fra"]
