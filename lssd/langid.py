"""Spoken-language identification with a real offline model: Whisper base (multilingual), via faster-whisper.

One home for "which language is this audio?": ``lssd qc`` checks that a ``spa`` track sounds Spanish, and
the transcribe stage detects the source language instead of assuming English. Whisper decides from one
30 s window, so :func:`detect` gives it the loudest 30 s of the track (where the speech most likely is).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lssd.dsp.mono16k import ENERGY_HOP, RATE, frame_energy, to_mono16k  # noqa: F401 (langid's API)
from lssd.errors import LssdError, model_load_error

MODEL = "faster-whisper-base"  # catalog entry; its files ship split across two pip wheels (lssd.store.joined)
WHISPER_SR = RATE
WINDOW_S = 30.0  # Whisper's context: language ID looks at this much audio
_WHISPER_ALIASES = {"jw": "jv"}  # Whisper's old code for Javanese


@dataclass(frozen=True)
class Detection:
    language: str  # ISO 639-2/T (639-3 where 639-2 has none), the code container tags use
    probability: float
    model: str
    probabilities: dict[str, float] = field(default_factory=dict, compare=False)  # every language's, by ISO code

    def probability_of(self, language: str) -> float:
        """How likely the model finds ``language`` (any ISO code lssd knows) in the audio."""
        from lssd.languages import get_language

        return self.probabilities.get(get_language(language).iso3, 0.0)

    def __iter__(self):  # unpacks as (language, probability, model)
        return iter((self.language, self.probability, self.model))


def iso3(whisper_code: str) -> str:
    """Whisper's language code (mostly ISO 639-1) → the ISO 639-2/T code lssd tags tracks with."""
    from lssd.languages import _BY_CODE

    code = _WHISPER_ALIASES.get(whisper_code, whisper_code)
    if code in _BY_CODE:
        return _BY_CODE[code].iso3
    import pycountry

    found = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
    return found.alpha_3 if found is not None else code


def whisper_code(language: str) -> str:
    """An ISO 639 code (1, 2/T or 3) → the code Whisper is given (mostly ISO 639-1)."""
    from lssd.languages import find

    known = find(language)
    if known is not None:
        return "zh" if known.iso1 == "zh" else known.iso1
    import pycountry

    found = pycountry.languages.get(alpha_3=language) if len(language) == 3 else None
    return getattr(found, "alpha_2", None) or language


def model_folder() -> Path:
    """The model's folder in the store, joined from its wheels on first use; one sentence if unavailable."""
    from lssd.store import get_store
    from lssd.store.joined import materialise

    store = get_store()
    try:
        materialise(store, MODEL)
    except OSError:  # a read-only store: require() below says what is missing and how to get it
        pass
    return store.require(MODEL, stage="language ID")


@functools.lru_cache(maxsize=2)
def load_model(folder: str):
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(folder, device="cpu", compute_type="int8")
    except Exception as exc:  # a corrupt or foreign model.bin: say which model, not a CTranslate2 trace
        raise model_load_error("language ID", "Whisper base", MODEL, exc) from None


def loudest_span(energy: np.ndarray, n: int, seconds: float = WINDOW_S) -> tuple[int, int]:
    """[start, stop) in samples of the ``seconds`` with the most energy in a track of ``n`` samples at 16 kHz
    whose :func:`frame_energy` is ``energy`` (all of it when shorter)."""
    width = int(seconds * WHISPER_SR)
    if n <= width:
        return 0, n
    sums = np.convolve(energy, np.ones(width // ENERGY_HOP), mode="valid")
    start = int(np.argmax(sums)) * ENERGY_HOP
    return start, start + width


def loudest_window(audio16k: np.ndarray, seconds: float = WINDOW_S) -> np.ndarray:
    """The ``seconds`` of mono 16 kHz audio with the most energy (all of it when shorter)."""
    start, stop = loudest_span(frame_energy(audio16k), audio16k.size, seconds)
    return audio16k[start:stop]


def identify(window16k: np.ndarray) -> Detection:
    """The language spoken in a mono 16 kHz window (Whisper reads its first 30 s)."""
    if window16k.size < WHISPER_SR // 2 or not np.any(window16k):
        raise LssdError("language ID needs at least 0.5 s of non-silent audio")
    model = load_model(str(model_folder()))
    code, probability, every = model.detect_language(window16k)
    return Detection(iso3(code), float(probability), MODEL, {iso3(c): float(p) for c, p in every})


def detect(audio: np.ndarray, sr: int) -> Detection:
    """The language spoken in ``audio`` ((channels, n) or (n,) at ``sr``), its probability, and the model."""
    return identify(loudest_window(to_mono16k(audio, sr)))  # identify refuses short or silent audio
