"""content_rate: the lowest working rate that holds a signal's content, never one that cuts it."""

from __future__ import annotations

import numpy as np
import pytest

from lssd.dsp import testsignals
from lssd.dsp.bandwidth import content_rate
from lssd.media import resample

from .conftest import SR, need_espeak


def _noise(rate: int, seconds: float = 1.0) -> np.ndarray:
    """White noise with content up to ``rate``/2, at 48 kHz."""
    x = np.random.default_rng(0).standard_normal(int(rate * seconds)).astype(np.float32) * 0.1
    return resample(x, rate, SR)


@pytest.mark.parametrize("rate,expected", [(16_000, 24_000), (24_000, 32_000), (32_000, SR), (SR, SR), (12_000, 16_000)])
def test_band_limited_noise_keeps_its_band(rate, expected):
    assert content_rate(_noise(rate), SR) == expected


def test_synthesised_speech_is_stretched_at_its_own_band():
    need_espeak()
    speech = testsignals.espeak("Fishermen count their nets and argue about the weather.", sr=SR)  # 22.05 kHz inside
    assert content_rate(speech, SR) == 24_000
    noise = _noise(SR, seconds=speech.size / SR + 1)[: speech.size]
    assert content_rate(np.stack([speech, noise]), SR) == SR  # any channel counts


def test_silence_and_low_rates_stay():
    assert content_rate(np.zeros(SR, np.float32), SR) == SR
    assert content_rate(np.zeros(0, np.float32), SR) == SR
    assert content_rate(_noise(8_000)[:16_000], 16_000) == 16_000  # nothing lower to go to
