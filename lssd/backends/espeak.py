"""espeak-ng: formant TTS for every language in :mod:`lssd.languages`, offline and fast (≈0.02 s a sentence).

Alignment later stretches each utterance to its original segment, and stretching sounds worse the further
it goes, so the speaking rate is chosen here: speak at the default rate, then again at the rate scaled by
how far the duration missed (and once more if it still misses by over 10 %, since espeak's duration is
not inversely proportional to its rate). Each speaker of a clip gets a voice variant of their own
(:meth:`EspeakSynthesizer.choose_voices`): the unused one whose measured F0 (:func:`variant_f0`) is
nearest the speaker's, so a low speaker gets a low voice and no two speakers share one. Japanese kanji are
turned into hiragana first: espeak-ng reads each kanji as the English words "Chinese letter".
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from functools import cache

import numpy as np
import soundfile as sf

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig
from lssd.errors import BadInputError, LssdError
from lssd.media import require_tool, tool_version
from lssd.languages import Language

ESPEAK_SR = 22_050
DEFAULT_RATE = 175  # words per minute, espeak-ng's own default
MIN_RATE, MAX_RATE = 80, 400  # beyond these espeak-ng is unintelligible or switches to sonic speed-up
TOLERANCE = 0.10  # duration error accepted without another try
KEEP_SILENCE = 0.02  # seconds kept before and after the speech when trimming
SILENCE_DB = -40.0  # below the peak: what counts as silence when trimming
NOT_INSTALLED = "espeak-ng is not installed; run ./install.sh"
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]")
# variants a speaker may get: espeak-ng's plain male and female voices (the others are effects: whisper,
# croak, robots); measured F0 (English probe): m1–m7 83–94 Hz, f1–f5 163–190 Hz
SPEAKER_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
# A variant's F0 is measured once per process, reading PITCH_PROBE in PITCH_LANGUAGE, and serves every target
# language: the variant sets the pitch (the language voices move it by under a semitone: es/ja/en within
# 0.5 st, fr ≈ +1 st, the same order of variants in all four), and measuring per language cost ≈0.6 CPU s each.
PITCH_PROBE = "1, 2, 3, 4, 5."
PITCH_LANGUAGE = "en"


@cache
def variants() -> frozenset[str]:
    """Voice variants (``f3``, ``m2``, ``klatt`` …) this espeak-ng has: unknown ones it silently ignores."""
    out = subprocess.run([require_tool("espeak-ng"), "--voices=variant"], capture_output=True, text=True, check=False).stdout
    return frozenset(line.split()[4].removeprefix("!v/") for line in out.splitlines()[1:] if len(line.split()) > 4)


@cache
def has_voice(voice: str) -> bool:
    return subprocess.run([require_tool("espeak-ng"), "-v", voice, "-q", "a"], capture_output=True, check=False).returncode == 0


@cache
def _kakasi():
    import pykakasi

    return pykakasi.kakasi()


def to_kana(text: str) -> str:
    """Kanji → hiragana (pykakasi); kana, Latin words, digits and punctuation are left as they are."""
    if not _KANJI.search(text):
        return text
    return "".join(item["hira"] if _KANJI.search(item["orig"]) else item["orig"] for item in _kakasi().convert(text))


def trim(audio: np.ndarray, sr: int) -> np.ndarray:
    """Cut leading and trailing silence, keeping KEEP_SILENCE of it so onsets are not clipped."""
    if audio.size == 0:
        return audio
    loud = np.flatnonzero(np.abs(audio) > np.abs(audio).max() * 10 ** (SILENCE_DB / 20))
    if loud.size == 0:
        return audio[:0]
    keep = int(KEEP_SILENCE * sr)
    return audio[max(loud[0] - keep, 0) : loud[-1] + keep + 1]


class EspeakSynthesizer:
    def __init__(self, variant: str = ""):
        if variant and variant not in variants():
            raise BadInputError(f"unknown espeak-ng voice variant {variant!r}; e.g. f1-f5, m1-m7")
        self.variant = variant
        # iso3 -> rate (wpm) per text of the last call only: the engine lives for the process, so
        # provenance() must not carry earlier clips' languages
        self.rates: dict[str, list[int]] = {}

    def voice(self, lang: Language, variant: str | None = None) -> str:
        variant = self.variant if variant is None else variant
        return f"{lang.espeak_voice}+{variant}" if variant else lang.espeak_voice

    def choose_voices(self, lang: Language, speakers: list[dict]) -> dict[str, str]:
        """Speaker id → variant: speakers with the most speech choose first, each the unused variant whose
        F0 (:func:`variant_f0`) is nearest theirs in semitones; a speaker with no F0 takes the first unused.
        An engine made with a fixed ``variant`` gives everybody that one."""
        if self.variant:
            return {s["id"]: self.variant for s in speakers}
        pool = [v for v in SPEAKER_VARIANTS if v in variants()]
        if not pool:
            return {s["id"]: "" for s in speakers}
        chosen: dict[str, str] = {}
        for s in sorted(speakers, key=lambda s: (-s["speech_s"], s["id"])):
            free = [v for v in pool if v not in chosen.values()] or pool
            f0 = s.get("median_f0_hz")
            chosen[s["id"]] = free[0] if not f0 else min(free, key=lambda v: abs(np.log2(variant_f0(v) / f0)))
        return chosen

    def speak(self, text: str, lang: Language, rate: int = DEFAULT_RATE, variant: str | None = None) -> np.ndarray:
        """One utterance at ``rate`` words per minute, trimmed, float32 at ESPEAK_SR."""
        cmd = [require_tool("espeak-ng"), "-v", self.voice(lang, variant), "-s", str(rate), "--stdout"]
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=False)
        if proc.returncode != 0:
            raise LssdError(f"espeak-ng failed for {lang.name} ({proc.stderr.decode(errors='replace').strip()}); "
                            "run ./install.sh")
        audio, _ = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        return trim(audio, ESPEAK_SR)

    def synthesize(self, texts: list[str], lang: Language, durations: list[float],
                   voices: list[str] | None = None) -> tuple[list[np.ndarray], int]:
        """``voices``: a variant per text (:meth:`choose_voices`); None = the engine's own."""
        out, rates = [], []
        for text, target, variant in zip(texts, durations, voices or [None] * len(texts), strict=True):
            spoken = " ".join((to_kana(text) if lang.iso1 == "ja" else text).split())
            if not spoken:
                out.append(np.zeros(0, dtype=np.float32))
                rates.append(0)
                continue
            rate, audio = DEFAULT_RATE, self.speak(spoken, lang, variant=variant)
            for _ in range(2):
                ratio = audio.size / ESPEAK_SR / target if target > 0 else 1.0
                new = int(np.clip(round(rate * ratio), MIN_RATE, MAX_RATE))
                if abs(ratio - 1) <= TOLERANCE or new == rate:
                    break
                rate, audio = new, self.speak(spoken, lang, new, variant)
            out.append(audio)
            rates.append(rate)
        self.rates = {lang.iso3: rates}
        return out, ESPEAK_SR

    def provenance(self) -> dict:
        version = tool_version(require_tool("espeak-ng"), "--version")
        number = re.search(r"\d+\.\d+(\.\d+)?", version)
        return {
            "backend": "espeak",
            "library": f"espeak-ng {number.group() if number else 'unknown version'}",
            "model": None,
            "files": {},
            "settings": {"variant": self.variant or "default", "sample_rate": ESPEAK_SR,
                         "default_rate_wpm": DEFAULT_RATE, "rate_bounds_wpm": [MIN_RATE, MAX_RATE],
                         "rates_wpm": dict(self.rates), "japanese": "kanji read as hiragana (pykakasi)"},
        }


@cache
def variant_f0(variant: str) -> float:
    """Voiced median F0 (Hz; WORLD DIO, as everywhere in lssd) of ``variant`` reading PITCH_PROBE in
    PITCH_LANGUAGE (once per process: the same for every target language, see PITCH_PROBE)."""
    from lssd.dsp.world_vc import estimate_f0
    from lssd.languages import get_language

    audio = EspeakSynthesizer(variant).speak(PITCH_PROBE, get_language(PITCH_LANGUAGE))
    f0 = estimate_f0(audio.astype(np.float64), ESPEAK_SR)
    return float(np.median(f0[f0 > 0])) if np.any(f0 > 0) else UNMEASURED_F0


UNMEASURED_F0 = 150.0  # a variant whose F0 cannot be measured sorts between the male and the female ones


def _check(cfg: DubConfig, lang: Language | None) -> str | None:
    if shutil.which("espeak-ng") is None:
        return NOT_INSTALLED
    if lang is not None and not has_voice(lang.espeak_voice):
        return f"espeak-ng has no {lang.name} voice ({lang.espeak_voice}); run ./install.sh"
    return None


register(
    Backend(
        stage=stages.SYNTHESIZE,
        name="espeak",
        label="espeak-ng formant TTS",
        priority=10,
        load=lambda cfg: EspeakSynthesizer(),
        check=_check,
    )
)
