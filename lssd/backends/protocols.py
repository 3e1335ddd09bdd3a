"""What each stage asks of its backend's engine.

Engines are plain objects returned by a backend's ``load(cfg)``; they hold loaded models and are reused
across segments, languages and clips. Audio is float32 numpy, (channels, samples) for mixtures and
(samples,) mono for speech segments; each method says which sample rate it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from lssd.segments import Transcript
from lssd.languages import Language


class Engine(Protocol):
    def provenance(self) -> dict:
        """{"backend", "library" ("name version"), "model", "files" {name: sha256}, "settings"}."""
        ...


class Separator(Engine, Protocol):
    def separate(self, mix: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """(channels, n) mixture at ``sr`` → (vocals, background), same shape and rate."""
        ...


class Recognizer(Engine, Protocol):
    def transcribe(self, vocals: np.ndarray, sr: int, language: str | None) -> Transcript:
        """Speech (channels, n) → timestamped segments + detected/forced ISO 639-2/T language."""
        ...


@dataclass
class TranslationResult:
    texts: dict[int, str]  # segment id -> target-language text
    kind: str  # lssd.segments.KIND_*
    speech: dict[int, np.ndarray] = field(default_factory=dict)  # segment id -> mono speech (S2ST/T2ST)
    speech_sr: int = 0


class Translator(Engine, Protocol):
    def translate(self, transcript: Transcript, target: Language, vocals: np.ndarray, sr: int) -> TranslationResult:
        """Translate every segment of ``transcript`` into ``target``. ``vocals`` serves speech input (S2ST)."""
        ...


class Synthesizer(Engine, Protocol):
    def synthesize(self, texts: list[str], lang: Language, durations: list[float]) -> tuple[list[np.ndarray], int]:
        """Texts → mono speech per text and its sample rate. ``durations`` (seconds of the original
        segments) let a backend choose a speaking rate that needs less stretching later."""
        ...


class VoiceConverter(Engine, Protocol):
    min_reference_s: float  # seconds of the speaker the engine needs; the stage adds nearby speech up to this
    last_info: dict  # statistics of the last ``convert`` call ({} for none)
    # optional ``thread_safe = True``: convert_with_info may run on several segments at once (no shared
    # state, the GIL released while working); without it the stage converts one segment at a time

    def convert(self, speech: np.ndarray, reference: np.ndarray, sr: int) -> np.ndarray:
        """Mono ``speech`` → the same words in the voice of mono ``reference`` (original speaker), same length."""
        ...

    def convert_with_info(self, speech: np.ndarray, reference: np.ndarray, sr: int) -> tuple[np.ndarray, dict]:
        """:meth:`convert` and its statistics (recorded per segment), without touching ``last_info``."""
        ...
