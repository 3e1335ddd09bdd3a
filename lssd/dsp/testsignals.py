"""Signals with a known truth, for tests and benchmarks.

Separation, voice conversion and loudness matching can only be *measured* against material whose parts
are known: real synthetic speech (espeak-ng) and a music-like background (a repeating chord progression
with a bass line, percussive noise bursts and a noise floor), mixed at known times.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from lssd.media import SAMPLE_RATE, require_tool, resample

# C major I-V-vi-IV, as semitones above A4 (440 Hz) of three chord tones
_PROGRESSION = ((-9, -5, -2), (-2, 2, 5), (0, 3, 7), (-4, 0, 3))


def espeak(text: str, voice: str = "en", pitch: int = 50, speed: int = 160, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 speech from espeak-ng at ``sr``; ``pitch`` 0-99 moves the voice's F0 (50 = default)."""
    exe = require_tool("espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(out), text],
                       check=True, capture_output=True)
        data, file_sr = sf.read(str(out), dtype="float32")
    return resample(data, file_sr, sr).astype(np.float32)


def music_bed(duration: float, sr: int = SAMPLE_RATE, channels: int = 2, bpm: float = 100.0,
              noise_db: float = -30.0, seed: int = 0) -> np.ndarray:
    """A stereo music-like background (channels, n): chords changing each beat, bass, hi-hat, noise.

    Peak level is about -6 dBFS. The chords repeat every four beats, like most accompaniment.
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    beat = 60.0 / bpm
    out = np.zeros(n)
    for k in range(int(np.ceil(duration / beat))):
        start = int(k * beat * sr)
        stop = min(n, int((k + 1) * beat * sr))
        if start >= n:
            break
        tt = t[start:stop] - t[start]
        env = np.exp(-tt / (0.6 * beat)) * np.minimum(1.0, tt / 0.01)
        chord = _PROGRESSION[k % len(_PROGRESSION)]
        for semis in chord:
            f = 440.0 * 2 ** (semis / 12)
            for h in range(1, 6):
                out[start:stop] += env * np.sin(2 * np.pi * f * h * tt) / h ** 1.5 * 0.12
        bass = 440.0 * 2 ** ((chord[0] - 24) / 12)
        out[start:stop] += env * np.sin(2 * np.pi * bass * tt) * 0.25
        hat = min(stop - start, int(0.04 * sr))
        out[start:start + hat] += rng.standard_normal(hat) * np.exp(-np.arange(hat) / (0.008 * sr)) * 0.15
    noise = rng.standard_normal((channels, n)) * 10 ** (noise_db / 20)
    pans = np.linspace(0.9, 1.1, channels)[:, None] if channels > 1 else np.ones((1, 1))
    bed = out[None, :] * pans + noise
    return (bed / np.max(np.abs(bed)) * 0.5).astype(np.float32)


def place(length: int, clips: list[tuple[float, np.ndarray]], sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mono track of ``length`` samples with each (start seconds, mono clip) added in place."""
    out = np.zeros(length, dtype=np.float32)
    for start, clip in clips:
        i = int(round(start * sr))
        seg = clip[: max(0, length - i)]
        out[i:i + len(seg)] += seg
    return out
