"""Language codes: one table, ISO 639-1 in, ISO 639-2/T (= 639-3 here) on every tag we write.

The paper's seven languages (EN ES FR JA DE IT KO) plus a few that every offline tool here speaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from lssd.errors import BadInputError


@dataclass(frozen=True)
class Language:
    iso1: str  # ISO 639-1, what Whisper and espeak-ng mostly use
    iso3: str  # ISO 639-2/T, what containers are tagged with and SeamlessM4T uses
    name: str
    espeak_voice: str
    seamless: str  # SeamlessM4T v2 language code
    syllables_per_second: float  # typical speaking rate, for pseudo-text of fitting length
    aliases: tuple[str, ...] = ()

    def work_dir(self, stage: str) -> str:
        """The folder a per-language stage keeps this language's artifacts in (a control track keeps
        its own for the stages it recomputes: :class:`lssd.dub.controls.ControlVoice`)."""
        return self.iso3


LANGUAGES: tuple[Language, ...] = (
    Language("en", "eng", "English", "en", "eng", 6.2),
    Language("es", "spa", "Spanish", "es", "spa", 7.8),
    Language("fr", "fra", "French", "fr", "fra", 7.2, aliases=("fre",)),
    Language("ja", "jpn", "Japanese", "ja", "jpn", 7.8),
    Language("de", "deu", "German", "de", "deu", 5.9, aliases=("ger",)),
    Language("it", "ita", "Italian", "it", "ita", 7.0),
    Language("ko", "kor", "Korean", "ko", "kor", 6.8),
    Language("pt", "por", "Portuguese", "pt", "por", 6.9),
    Language("ca", "cat", "Catalan", "ca", "cat", 7.0),
    Language("nl", "nld", "Dutch", "nl", "nld", 6.0, aliases=("dut",)),
    Language("ru", "rus", "Russian", "ru", "rus", 6.0),
    Language("zh", "zho", "Chinese (Mandarin)", "cmn", "cmn", 5.2, aliases=("cmn", "chi")),
)

_BY_CODE: dict[str, Language] = {}
for _lang in LANGUAGES:
    for _code in (_lang.iso1, _lang.iso3, *_lang.aliases):
        _BY_CODE[_code] = _lang


def supported_codes() -> str:
    return ", ".join(f"{lang.iso1}/{lang.iso3}" for lang in LANGUAGES)


def find(code: str | None) -> Language | None:
    """The language of a code, or None for an empty or unknown one (tags in the wild are often junk)."""
    return _BY_CODE.get(code.strip().lower()) if code else None


def get_language(code: str) -> Language:
    """Look a language up by ISO 639-1, 639-2/T, 639-2/B or 639-3 code (case-insensitive)."""
    lang = find(code)
    if lang is None:
        raise BadInputError(f"unknown language code {code!r}; supported: {supported_codes()}")
    return lang


def parse_langs(spec: str) -> list[Language]:
    """Parse ``es,fr,ja`` (duplicates removed, order kept)."""
    out: list[Language] = []
    for part in spec.split(","):
        if not part.strip():
            continue
        lang = get_language(part)
        if lang not in out:
            out.append(lang)
    if not out:
        raise BadInputError(f"no target languages given; supported: {supported_codes()}")
    return out
