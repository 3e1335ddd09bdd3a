"""Known speech (espeak-ng) over a known music-like background, mixed at known times; built once per session."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lssd.dsp import testsignals as ts

SR = 48_000
SHARED_MEDIA = Path(__file__).resolve().parents[2].parent / "shared" / "media"

LINES = (
    (1.0, "The quick brown fox jumps over the lazy dog, and then it ran away.", "en", 50),
    (7.5, "Counterfactual pairs need the same pictures with different speech.", "en-us", 30),
    (14.0, "Nobody expected the music to keep playing all night long.", "en", 70),
)


def need_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (./install.sh installs it)")


@dataclass
class Scene:
    mix: np.ndarray  # (2, n)
    background: np.ndarray  # (2, n) the truth
    speech: np.ndarray  # (2, n) the truth
    spans: list[tuple[float, float]]  # where speech really is (seconds)
    sr: int = SR


@pytest.fixture(scope="session")
def scene() -> Scene:
    """20 s stereo: chords/bass/hi-hat/noise bed, three sentences at 0 dB speech-to-background (RMS)."""
    need_espeak()
    duration = 20.0
    background = ts.music_bed(duration, SR, seed=1)
    clips = [(start, ts.espeak(text, voice=voice, pitch=pitch, sr=SR)) for start, text, voice, pitch in LINES]
    mono = ts.place(background.shape[1], clips, SR)
    active = np.abs(mono) > 1e-4
    mono *= np.sqrt(np.mean(background ** 2) / np.mean(mono[active] ** 2))
    speech = np.stack([mono, mono]).astype(np.float32)
    spans = [(start, start + clip.size / SR) for start, clip in clips]
    return Scene(mix=(background + speech).astype(np.float32), background=background, speech=speech, spans=spans)


@pytest.fixture(scope="session")
def vad_model():
    from lssd.dsp.separation import load_vad

    return load_vad()


@pytest.fixture(scope="session")
def jfk() -> np.ndarray:
    """Real speech (stereo, 48 kHz) from ../shared/media, when present."""
    import soundfile as sf

    from lssd.media import resample

    path = SHARED_MEDIA / "jfk.flac"
    if not path.is_file():
        pytest.skip(f"real media not available ({SHARED_MEDIA})")
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(data.T, sr, SR)
