"""Subtitles as a transcriber (original-language SRT/VTT: text + timing) and as a translator (target-language
SRT/VTT: a human translation, matched to the segments by time).

Preferred over every model when given: a human wrote them. The transcribe stage extracts a text subtitle
stream from the input container into ``cfg.source_subtitles`` before choosing a backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lssd import stages
from lssd.backends.protocols import TranslationResult
from lssd.backends.registry import Backend, register
from lssd.backends.vad import hug, track_speech_spans
from lssd.config import DubConfig
from lssd.segments import KIND_SUBTITLES, Segment, Transcript
from lssd.errors import BadInputError
from lssd.hashing import sha256_file
from lssd.languages import Language, find, get_language
from lssd.subtitles import Cue, read_subtitles, speech_text


def language_from_name(path: Path) -> str | None:
    """``movie.en.srt`` / ``movie.spa.vtt`` → ISO 639-2/T, the usual way players tag sidecar files."""
    tag = Path(path).suffixes[-2:-1]
    lang = find(tag[0].lstrip(".")) if tag else None
    return lang.iso3 if lang else None


def spoken_cues(path: Path) -> list[Cue]:
    """Cues with their sound descriptions removed; cues that were only descriptions are dropped."""
    cues = [Cue(c.start, c.end, speech_text(c.text)) for c in read_subtitles(path)]
    return [c for c in cues if c.text]


class SubtitleRecognizer:
    """Cue timings are loose (a cue stays up after the line is spoken), so each is shrunk to the speech
    VAD hears inside it."""

    def __init__(self, path: Path, language: str | None = None):
        self.path = Path(path)
        self.language = language

    def transcribe(self, vocals: np.ndarray, sr: int, language: str | None) -> Transcript:
        cues = spoken_cues(self.path)
        spans = track_speech_spans(vocals, sr) if np.asarray(vocals).size else []
        segments = []
        for cue in cues:
            start, end = hug(cue.start, cue.end, spans)
            segments.append(Segment(len(segments), round(start, 3), round(end, 3), cue.text))
        code = language or self.language or language_from_name(self.path)
        iso3 = get_language(code).iso3 if code and code != "und" else "und"
        return Transcript(language=iso3, segments=segments, backend="subtitles")

    def provenance(self) -> dict:
        return {"backend": "subtitles", "library": "lssd.subtitles", "model": None,
                "files": {self.path.name: sha256_file(self.path)}, "settings": {"timing": "cues shrunk to VAD speech"}}


class SubtitleTranslator:
    """Each cue goes to the segment it overlaps most, so a cue straddling two segments is not spoken twice;
    a segment no cue overlaps gets empty text (nothing is dubbed there)."""

    def __init__(self, files: dict[str, Path]):
        self.files = {get_language(code).iso3: Path(p) for code, p in files.items()}
        self.unmatched: dict[str, int] = {}  # iso3 -> cues that overlapped no segment

    def translate(self, transcript: Transcript, target: Language, vocals: np.ndarray, sr: int) -> TranslationResult:
        path = self.files.get(target.iso3)
        if path is None:
            raise BadInputError(f"no {target.name} subtitles were given")
        assigned: dict[int, list[str]] = {s.id: [] for s in transcript.segments}
        unmatched = 0
        for cue in spoken_cues(path):
            best = _most_overlapping(cue, transcript.segments)
            if best is None:
                unmatched += 1
            else:
                assigned[best.id].append(cue.text)
        self.unmatched[target.iso3] = unmatched
        return TranslationResult(texts={k: " ".join(v) for k, v in assigned.items()}, kind=KIND_SUBTITLES)

    def provenance(self) -> dict:
        return {"backend": "subtitles", "library": "lssd.subtitles", "model": None,
                "files": {p.name: sha256_file(p) for p in self.files.values() if p.is_file()},
                "settings": {"matching": "each cue to the segment it overlaps most",
                             "unmatched_cues": dict(self.unmatched)}}


def _most_overlapping(cue: Cue, segments: list[Segment]) -> Segment | None:
    best, best_overlap = None, 0.0
    for seg in segments:
        overlap = min(cue.end, seg.end) - max(cue.start, seg.start)
        if overlap > best_overlap:
            best, best_overlap = seg, overlap
    return best


def _check_source(cfg: DubConfig, lang: Language | None) -> str | None:
    if cfg.source_subtitles is None:
        return "no subtitles of the original speech (none given, none in the input)"
    return None


def _check_target(cfg: DubConfig, lang: Language | None) -> str | None:
    if lang is None or lang.iso3 not in {get_language(code).iso3 for code in cfg.subtitles}:
        return f"no {lang.name if lang else 'target-language'} subtitles given"
    return None


register(
    Backend(
        stage=stages.TRANSCRIBE,
        name="subtitles",
        label="subtitles of the original speech (text and timing)",
        priority=100,
        load=lambda cfg: SubtitleRecognizer(cfg.source_subtitles, cfg.source_language),
        check=_check_source,
        cache_key=lambda cfg: (str(cfg.source_subtitles), cfg.source_language),
    )
)
register(
    Backend(
        stage=stages.TRANSLATE,
        name="subtitles",
        label="target-language subtitles (human translation)",
        priority=100,
        load=lambda cfg: SubtitleTranslator(cfg.subtitles),
        check=_check_target,
        cache_key=lambda cfg: tuple(sorted((code, str(p)) for code, p in cfg.subtitles.items())),
    )
)
