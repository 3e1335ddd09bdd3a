"""Two-step offline translation for a source Apertium cannot leave: Whisper's ``translate`` task turns the
source *speech* of each segment into English text (the bundled multilingual base model knows 99 languages),
then Apertium takes the English on to the target (English→Spanish directly, →French through Spanish, …).

Registered below Apertium: a direct Apertium pair from the source (French→Spanish) is one rule-based step
and wins; this path serves what would otherwise be pseudo-text (a German clip dubbed to es/fr). The English
of each segment is computed once per process and reused for every target. The sidecar records both steps
(``provenance.steps``) and the English pivot of every segment.
"""

from __future__ import annotations

import hashlib
import shutil
from importlib.metadata import version

import numpy as np

from lssd import stages
from lssd.backends import apertium
from lssd.backends.protocols import TranslationResult
from lssd.backends.faster_whisper import DECODING
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig
from lssd.errors import BadInputError
from lssd.languages import Language, find
from lssd.langid import MODEL, WHISPER_SR
from lssd.segments import KIND_TRANSLATION, Transcript

NAME = "whisper-apertium"
PIVOT = "eng"
WINDOW_S = 28.0  # consecutive segments Whisper hears at once: under its 30 s context
PAD_S = 0.3  # seconds of audio kept around a window's speech


def windows(segments: list, window_s: float = WINDOW_S) -> list[list]:
    """Consecutive segments in groups spanning at most ``window_s`` seconds (a longer one alone)."""
    groups: list[list] = []
    for seg in segments:
        if groups and seg.end - groups[-1][0].start + 2 * PAD_S <= window_s:
            groups[-1].append(seg)
        else:
            groups.append([seg])
    return groups


def whisper_languages() -> set[str]:
    """Whisper's language codes (faster-whisper's tokenizer list)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return set(_LANGUAGE_CODES)


class WhisperApertiumTranslator:
    def __init__(self, model) -> None:
        self.model = model
        self._english: dict[str, str] = {}  # sha1 of a segment's 16 kHz audio + source -> English text
        # what the last translate() call did: the engine lives for the process (registry.engine), so
        # provenance() must describe this clip and language only, not every clip a worker did before
        self.paths: dict[str, list[str]] = {}
        self.pivot: dict[int, str] = {}  # segment id -> English, of the last clip translated

    def english(self, audio16k: np.ndarray, source: str) -> list[tuple[float, float, str]]:
        """Whisper's English translation of a window of speech, as (start, end, text) pieces in seconds
        from the window's start (cached by content)."""
        from lssd.langid import whisper_code

        key = hashlib.sha1(np.ascontiguousarray(audio16k, dtype=np.float32).tobytes() + source.encode()).hexdigest()
        if key not in self._english:
            pieces, _ = self.model.transcribe(audio16k, task="translate", language=whisper_code(source),
                                              vad_filter=False, condition_on_previous_text=False, **DECODING)
            self._english[key] = [(p.start, p.end, " ".join(p.text.split())) for p in pieces if p.text.strip()]
        return self._english[key]

    def translate(self, transcript: Transcript, target: Language, vocals: np.ndarray, sr: int) -> TranslationResult:
        source = transcript.language
        chain = [] if target.iso3 == PIVOT else apertium.find_path(PIVOT, target.iso3)
        if chain is None:
            raise BadInputError(f"Apertium has no path from English to {target.name}")
        english = self.pivot_texts(transcript, vocals, sr)
        texts = [english.get(s.id, "") for s in transcript.segments]
        for mode in chain:
            texts = apertium.translate_texts(texts, mode)
        self.paths = {f"{source}->{target.iso3}": [f"whisper:{source}->{PIVOT}", *chain]}
        self.pivot = english
        return TranslationResult(texts={s.id: t for s, t in zip(transcript.segments, texts, strict=True)},
                                 kind=KIND_TRANSLATION)

    def pivot_texts(self, transcript: Transcript, vocals: np.ndarray, sr: int) -> dict[int, str]:
        """The English of every segment. Whisper translates poorly from a few seconds alone ("Vielen Dank
        für Ihre Hilfe" → "Fee one tank" from its own 2.3 s, "Thank you very much for your help" within
        10 s), so it hears windows of consecutive segments (:func:`windows`) and each English piece goes
        to the segment it overlaps most."""
        from lssd.backends.vad import to_mono16k
        from lssd.media import read_span

        spoken = [s for s in transcript.segments if s.text.strip()]
        out: dict[int, list[str]] = {s.id: [] for s in spoken}
        for group in windows(spoken):
            t0 = max(0.0, group[0].start - PAD_S)
            audio = to_mono16k(read_span(vocals, int(round(t0 * sr)), int(round((group[-1].end + PAD_S) * sr))), sr)
            if audio.size < WHISPER_SR // 10:
                continue
            for start, end, text in self.english(audio, transcript.language):
                a, b = t0 + start, t0 + end
                seg = max(group, key=lambda s: (min(b, s.end) - max(a, s.start), -abs((a + b) / 2 - (s.start + s.end) / 2)))
                out[seg.id].append(text)
        return {k: " ".join(v) for k, v in out.items()}

    def provenance(self) -> dict:
        from lssd.store import get_store

        whisper = get_store().provenance(MODEL)
        modes = sorted({m for chain in self.paths.values() for m in chain if not m.startswith("whisper:")})
        return {
            **whisper,
            "backend": NAME,
            "library": f"faster-whisper {version('faster-whisper')}; {apertium._version()}",
            "model": f"{MODEL} (Whisper base, task=translate) + " + (", ".join(apertium._package(m) for m in modes)
                                                                     or "no Apertium step"),
            "steps": [
                {"step": "source speech → English text", "backend": "faster-whisper", "model": MODEL,
                 "settings": {"task": "translate", **DECODING, "window_s": WINDOW_S}},
                {"step": "English text → target text", "backend": "apertium",
                 "model": [apertium._package(m) for m in modes]},
            ],
            "settings": {"paths": dict(self.paths), "pivot_language": PIVOT,
                         "pivot_texts": {str(k): v for k, v in self.pivot.items()}},
        }


def _check(cfg: DubConfig, lang: Language | None) -> str | None:
    if shutil.which("apertium") is None:
        return apertium.NOT_INSTALLED
    if lang is None:
        return "no target language"
    if not cfg.source_language or cfg.source_language == "und":
        return "the source language is unknown"
    from lssd.langid import whisper_code

    source = find(cfg.source_language)
    source_name = source.name if source else cfg.source_language
    if source is not None and source.iso3 == PIVOT:
        return "the source is English already (Apertium translates it directly)"
    if source is not None and source == lang:
        return f"the speech is already {lang.name}"
    if whisper_code(cfg.source_language) not in whisper_languages():
        return f"Whisper cannot translate {source_name} speech"
    if lang.iso3 != PIVOT and apertium.find_path(PIVOT, lang.iso3) is None:
        return f"no installed Apertium pair leads from English to {lang.name}"
    return None


def _load(cfg: DubConfig) -> WhisperApertiumTranslator:
    from lssd.langid import load_model, model_folder

    return WhisperApertiumTranslator(load_model(str(model_folder())))


register(
    Backend(
        stage=stages.TRANSLATE,
        name=NAME,
        label="Whisper base speech→English (translate task) then Apertium English→target (offline, two steps)",
        priority=40,
        load=_load,
        model=lambda cfg: MODEL,
        check=_check,
        needs_text=True,
    )
)
