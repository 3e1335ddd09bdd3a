"""Pseudo-text: target-language *sounding* text of the right spoken length. NOT a translation.

When no offline translator covers a language pair (or the speech has no text at all), a counterfactual
pair still needs speech that sounds like the target language and fills the original segment's time. So
each segment gets syllables drawn from a small inventory of the target language's phonotactics, in its
own script (kana, Hangul, hanzi, Cyrillic, Latin spelling), as many as a speaker of that language utters
in the segment's duration, grouped into words and sentences like real text. The result means nothing;
every place it shows (kind, track title, sidecar) must say so.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import numpy as np

from lssd import stages
from lssd.backends.protocols import TranslationResult
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig
from lssd.segments import KIND_PSEUDO, Transcript
from lssd.languages import Language

FILL = 0.85  # share of a speech segment that is syllables rather than pauses and lengthening
NOT_A_TRANSLATION = "pseudo-text: NOT a translation; target-language syllables of fitting spoken length"


@dataclass(frozen=True)
class Phonotactics:
    """A syllable is onset + nucleus + coda, each drawn uniformly (repeat an entry to weight it)."""

    onsets: tuple[str, ...]
    nuclei: tuple[str, ...]
    codas: tuple[str, ...] = ("",)
    word_syllables: tuple[int, ...] = (1, 2, 2, 2, 3, 3, 4)
    space: str = " "
    comma: str = ", "
    period: str = ". "
    capitalise: bool = True

    def syllable(self, rng: random.Random) -> str:
        return rng.choice(self.onsets) + rng.choice(self.nuclei) + rng.choice(self.codas)


def _split(text: str) -> tuple[str, ...]:
    return tuple("" if s == "-" else s for s in text.split())


def _hangul(initials: str, medials: str, finals: str) -> tuple[str, ...]:
    """Precomposed Hangul syllables (U+AC00 + (initial*21 + medial)*28 + final) from jamo index lists."""
    ii, mm, ff = ([int(i) for i in s.split()] for s in (initials, medials, finals))
    return tuple(chr(0xAC00 + (i * 21 + m) * 28 + f) for i in ii for m in mm for f in ff)


_HIRAGANA = _split(
    "あ い う え お か き く け こ が ぎ ぐ げ ご さ し す せ そ ざ じ ず ぜ ぞ た ち つ て と だ で ど "
    "な に ぬ ね の は ひ ふ へ ほ ば び ぶ べ ぼ ま み む め も や ゆ よ ら り る れ ろ わ を "
    "きょ しゃ しゅ じょ ちゃ りょ か た な し の て に と ま す"
)
# Hanzi the Mandarin dictionary of espeak-ng 1.51 reads natively (the others it spells in English).
_HANZI = tuple("是我中上说为时生之而于成事只无手十用长知外与实二月种声儿正位重政使世少五水市场师张常受王务制"
               "至物望直爱吃指往治周武城士众程语式识收未持始双越史商找委首失网石谁志争视食")

PHONOTACTICS: dict[str, Phonotactics] = {
    "eng": Phonotactics(_split("b d f g h k l m n p r s t w th sh st br tr - -"),
                        _split("a e i o u a e i ee oo ai ou"), _split("- - - n t s r l d ng ck")),
    "spa": Phonotactics(_split("b c d f g l m n p r s t v ch ll j pr tr br - -"),
                        _split("a e i o u a e o a e o i a ue ie á é ó"), _split("- - - - - n s r l")),
    "fra": Phonotactics(_split("b c d f g j l m n p r s t v ch pr tr br -"),
                        _split("a e i o u ou ai eau an on en é è oi"), _split("- - - - r s t")),
    "deu": Phonotactics(_split("b d f g h k l m n r s t w z sch st sp br gr kr tr pf -"),
                        _split("a e i o u ei au ie ä ö ü e"), _split("- - n r t s ch l m ng"),
                        word_syllables=(1, 1, 2, 2, 2, 3, 3, 4, 5)),
    "ita": Phonotactics(_split("b c d f g l m n p r s t v z ch gl sc pr tr tt ll ss -"),
                        _split("a e i o u a o e ia io"), _split("- - - - - - n l r")),
    "por": Phonotactics(_split("b c d f g j l m n p r s t v ch lh nh pr tr -"),
                        _split("a e i o u a o ão ei ou é"), _split("- - - - s r l m")),
    "cat": Phonotactics(_split("b c d f g j l m n p r s t v ll ny pr tr -"),
                        _split("a e i o u a e i o a e u à è ò"), _split("- - - n s r l t")),
    "nld": Phonotactics(_split("b d f h k l m n p r s t w v z sch st -"),
                        _split("a e i o u aa ee oo ij ou ui e"), _split("- - n r t s k l")),
    "rus": Phonotactics(_split("б в г д ж з к л м н п р с т х ч ш пр ст -"),
                        _split("а е и о у ы я ю а о"), _split("- - - - н т л р с в")),
    "jpn": Phonotactics(_HIRAGANA, ("",), _split("- - - - - - ん"), word_syllables=(2, 2, 3, 3, 4, 5),
                        space="", comma="、", period="。", capitalise=False),
    "kor": Phonotactics(_hangul("0 2 3 5 6 7 9 11 11 12 14 15 16 17 18", "0 4 8 13 18 20 1 5 6 12",
                                "0 0 0 0 4 8 16 21"), ("",), word_syllables=(1, 2, 2, 3, 3, 4)),
    "zho": Phonotactics(_HANZI, ("",), word_syllables=(1, 2, 2, 2, 3), space="", comma="，", period="。",
                        capitalise=False),
}


def syllable_count(duration: float, lang: Language) -> int:
    return max(1, round(duration * lang.syllables_per_second * FILL))


def pseudo_text(duration: float, lang: Language, rng: random.Random) -> str:
    """Words of 1–5 syllables, a comma now and then, a sentence end every 5–12 words."""
    rules = PHONOTACTICS[lang.iso3]
    left = syllable_count(duration, lang)
    out, sentence_words, sentence_len = "", 0, rng.randint(5, 12)
    while left > 0:
        n = min(left, rng.choice(rules.word_syllables))
        left -= n
        word = "".join(rules.syllable(rng) for _ in range(n))
        if sentence_words == 0 and rules.capitalise:
            word = word[0].upper() + word[1:]
        out += word
        sentence_words += 1
        if left == 0:
            out += rules.period.strip()
        elif sentence_words >= sentence_len:
            out += rules.period
            sentence_words, sentence_len = 0, rng.randint(5, 12)
        elif sentence_words > 2 and rng.random() < 0.15:
            out += rules.comma
        else:
            out += rules.space
    return out


def segment_rng(seed: int, lang: Language, segment_id: int, start: float, end: float) -> random.Random:
    """One stream per (seed, language, segment): reruns and other segments do not shift each other."""
    key = f"{seed}|{lang.iso3}|{segment_id}|{start:.3f}|{end:.3f}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


class PseudoTextTranslator:
    def __init__(self, seed: int = 0):
        self.seed = seed

    def translate(self, transcript: Transcript, target: Language, vocals: np.ndarray, sr: int) -> TranslationResult:
        texts = {
            s.id: pseudo_text(s.duration, target, segment_rng(self.seed, target, s.id, s.start, s.end))
            for s in transcript.segments
        }
        return TranslationResult(texts=texts, kind=KIND_PSEUDO)

    def provenance(self) -> dict:
        return {"backend": "pseudo", "library": "lssd", "model": None, "files": {},
                "settings": {"note": NOT_A_TRANSLATION, "fill": FILL, "seed": self.seed}}


def _check(cfg: DubConfig, lang: Language | None) -> str | None:
    if lang is None or lang.iso3 not in PHONOTACTICS:
        return f"no syllable inventory for {lang.name if lang else 'this language'}"
    return None


register(
    Backend(
        stage=stages.TRANSLATE,
        name="pseudo",
        label="pseudo-text (not a translation)",
        priority=0,
        load=lambda cfg: PseudoTextTranslator(),
        fallback=True,
        check=_check,
    )
)
