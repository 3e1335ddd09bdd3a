"""Settings of one dubbing run. Every stage reads only the fields it declares (see each stage's
``SETTINGS``), so changing one setting invalidates exactly the stages that depend on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lssd.languages import Language

STAGES = ("separate", "transcribe", "translate", "synthesize", "align", "voice-convert", "match-loudness", "remux")
PER_LANGUAGE_STAGES = ("translate", "synthesize", "align", "voice-convert", "match-loudness")


@dataclass
class DubConfig:
    langs: list[Language]
    # backend choice per stage: "auto" = best available, or a backend name
    separator: str = "auto"
    asr: str = "auto"
    translator: str = "auto"
    tts: str = "auto"
    vc: str = "auto"
    strict: bool = False  # refuse labelled fallbacks (and, with profile "paper", any deviation)
    profile: str = "offline"  # "offline" | "paper"
    # user-supplied material
    background: Path | None = None  # a music-and-effects stem: skips separation
    source_subtitles: Path | None = None  # SRT/VTT of the original speech (text + timing)
    subtitles: dict[str, Path] = field(default_factory=dict)  # iso3 -> SRT/VTT per target language
    source_language: str | None = None  # iso3; None = detect (or the ASR model's only language)
    # model choices for model-backed backends (catalog names)
    separator_model: str = "htdemucs"
    asr_model: str = "large-v3"
    seamless_model: str = "seamless-m4t-v2-large"
    seamless_mode: str = "t2st"  # "t2st" (text→speech, the paper's default) | "s2st" (speech→speech)
    vc_model: str = "knn-vc"
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    # alignment
    min_ratio: float = 0.7  # stretch ratio = placed duration / synthesised duration
    max_ratio: float = 1.5
    min_gap: float = 0.05  # seconds kept free before the next segment
    min_segment: float = 0.5  # original segments shorter than this are left untouched (paper: skip < 0.5 s)
    # loudness / EQ
    eq: str = "builtin"  # "builtin" | "matchering" | "none"
    # output
    container: str = "mkv"  # "mkv" | "mp4" (audio-only input always gives .mka)

    @property
    def lang_codes(self) -> list[str]:
        return [lang.iso3 for lang in self.langs]
