"""The pipeline's data model: timestamped speech segments and their per-language texts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from lssd import sidecar
from lssd.media import read_json, write_json


@dataclass
class Word:
    start: float
    end: float
    word: str


@dataclass
class Segment:
    """One stretch of original speech: where it is and what was said."""

    id: int
    start: float
    end: float
    text: str = ""
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None  # diarization's speaker id (S1, S2, …); None before the diarize stage

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Transcript:
    language: str  # ISO 639-2/T of the original speech
    segments: list[Segment]
    backend: str = ""
    detection: dict | None = None  # {"language", "probability", "model"} when the language was detected

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> Transcript:
        data = read_json(path)
        segs = [Segment(**{**s, "words": [Word(**w) for w in s.get("words", [])]}) for s in data["segments"]]
        return cls(language=data["language"], segments=segs, backend=data.get("backend", ""),
                   detection=data.get("detection"))


# What a per-language text is: a sidecar and a track title must never call pseudo-text a translation.
KIND_TRANSLATION = sidecar.TEXT_TRANSLATION
KIND_SUBTITLES = sidecar.TEXT_SUBTITLES
KIND_PSEUDO = sidecar.TEXT_PSEUDO


@dataclass
class Translation:
    language: str  # ISO 639-2/T
    kind: str  # KIND_*
    texts: dict[int, str]  # segment id -> text
    backend: str = ""
    speech: bool = False  # True when the translator also produced audio (S2ST/T2ST); files in speech/

    @property
    def is_translation(self) -> bool:
        return self.kind != KIND_PSEUDO

    def save(self, path: Path) -> None:
        data = asdict(self)
        data["texts"] = {str(k): v for k, v in self.texts.items()}
        data["is_translation"] = self.is_translation
        write_json(path, data)

    @classmethod
    def load(cls, path: Path) -> Translation:
        data = read_json(path)
        data.pop("is_translation", None)
        data["texts"] = {int(k): v for k, v in data["texts"].items()}
        return cls(**data)
