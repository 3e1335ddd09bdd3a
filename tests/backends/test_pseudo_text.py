"""Pseudo-text: fitting length, deterministic, the target language's script, and never called a translation."""

from __future__ import annotations

import re
import subprocess

import pytest

from lssd.backends.pseudo_text import (
    PHONOTACTICS,
    PseudoTextTranslator,
    _check,
    pseudo_text,
    segment_rng,
    syllable_count,
)
from lssd.config import DubConfig
from lssd.segments import KIND_PSEUDO, Segment, Transcript
from lssd.languages import LANGUAGES, get_language

from .conftest import need

SCRIPTS = {
    "ja": r"[\u3041-\u3096、。]",  # hiragana
    "ko": r"[\uac00-\ud7a3 ,.]",  # Hangul syllables
    "zh": r"[\u4e00-\u9fff，。]",  # hanzi
    "ru": r"[\u0400-\u04ff ,.]",  # Cyrillic
    "es": r"[a-zñáéíóúü ,.]",
}


def _translate(lang: str, durations: list[float], seed: int = 0) -> dict[int, str]:
    segments = [Segment(i, 10.0 * i, 10.0 * i + d, "some English") for i, d in enumerate(durations)]
    return PseudoTextTranslator(seed).translate(Transcript("eng", segments), get_language(lang), None, 48_000).texts


def _syllables(text: str, lang: str) -> int:
    """Exact counts where the script shows syllables: a Hangul block, a hanzi, a kana mora (ん and small kana
    belong to the mora before)."""
    if lang == "ja":
        return len(re.findall(r"[\u3041-\u3096]", text)) - len(re.findall(r"[ゃゅょん]", text))
    return len(re.findall(r"[\uac00-\ud7a3\u4e00-\u9fff]", text))


@pytest.mark.parametrize("lang", ["ja", "ko", "zh"])
def test_length_fits_the_duration(lang):
    texts = _translate(lang, [0.5, 1.0, 2.0, 4.0, 8.0])
    counts = [_syllables(t, lang) for t in texts.values()]
    language = get_language(lang)
    assert counts == [syllable_count(d, language) for d in (0.5, 1.0, 2.0, 4.0, 8.0)]
    assert counts[-1] == pytest.approx(8.0 * language.syllables_per_second * 0.85, abs=1)


def test_latin_text_grows_with_duration_and_looks_like_text():
    texts = list(_translate("es", [1.0, 3.0, 9.0]).values())
    vowel_groups = [len(re.findall(r"[aeiouáéíóú]+", t)) for t in texts]
    assert vowel_groups[0] < vowel_groups[1] < vowel_groups[2]
    assert 2.0 < vowel_groups[2] / vowel_groups[1] < 4.0
    long = texts[2]
    assert long[0].isupper() and long.endswith(".") and len(long.split()) > 10


@pytest.mark.parametrize("lang", list(SCRIPTS))
def test_right_script(lang):
    text = "".join(_translate(lang, [3.0, 6.0]).values()).lower()
    assert re.fullmatch(f"(?:{SCRIPTS[lang]})+", text), text


def test_deterministic_per_segment_language_and_seed():
    assert _translate("ja", [2.0, 2.0]) == _translate("ja", [2.0, 2.0])
    first = _translate("de", [2.0, 2.0])
    assert first[0] != first[1]  # another segment, other syllables
    assert _translate("de", [2.0, 2.0], seed=1) != first
    lang = get_language("it")
    twice = [pseudo_text(2.0, lang, segment_rng(0, lang, 3, 1.0, 3.0)) for _ in range(2)]
    assert twice[0] == twice[1]


def test_every_language_has_an_inventory_and_it_is_labelled():
    assert {lang.iso3 for lang in LANGUAGES} <= set(PHONOTACTICS)
    assert all(_check(DubConfig(langs=[]), lang) is None for lang in LANGUAGES)
    translator = PseudoTextTranslator()
    result = translator.translate(Transcript("eng", [Segment(0, 0.0, 1.0)]), get_language("ko"), None, 48_000)
    assert result.kind == KIND_PSEUDO
    assert "NOT a translation" in translator.provenance()["settings"]["note"]


def test_espeak_reads_the_chinese_pseudo_text_as_mandarin():
    """The hanzi inventory holds only characters espeak-ng's Mandarin dictionary knows; others it spells out
    in English ("(en)" in its phoneme output)."""
    need("espeak-ng")
    text = " ".join(_translate("zh", [4.0, 4.0, 4.0]).values())
    phonemes = subprocess.run(["espeak-ng", "-v", "cmn", "-q", "-x", text], capture_output=True, text=True).stdout
    assert phonemes.strip() and "(en)" not in phonemes
    assert "(en)" in subprocess.run(["espeak-ng", "-v", "cmn", "-q", "-x", "你好"], capture_output=True, text=True).stdout
