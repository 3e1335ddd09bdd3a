"""The shared quality measures give the numbers they promise on signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from lssd.dsp import metrics

SR = 16_000


def test_si_sdr_known_values():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(SR)
    noise = rng.standard_normal(SR)
    ref, noise = ref - ref.mean(), noise - noise.mean()  # SI-SDR removes the mean first
    noise -= np.dot(noise, ref) / np.dot(ref, ref) * ref  # orthogonal: the SNR is exact
    noise *= np.linalg.norm(ref) / np.linalg.norm(noise) * 10 ** (-10 / 20)
    assert metrics.si_sdr(ref + noise, ref) == pytest.approx(10.0, abs=1e-6)
    assert metrics.si_sdr(0.3 * ref, ref) > 100  # scale-invariant
    assert metrics.si_sdr(np.stack([ref, ref]), np.stack([ref, ref])) > 100
    with pytest.raises(ValueError):
        metrics.si_sdr(ref[:-1], ref)


def test_energy_inside_and_outside():
    x = np.zeros(10 * SR)
    x[2 * SR:3 * SR] = 1.0
    x[6 * SR:7 * SR] = 1.0
    assert metrics.energy_inside(x, [(2.0, 3.0)], SR) == pytest.approx(0.5)
    assert metrics.energy_inside(x, [(2.0, 3.0), (6.1, 7.0)], SR) == pytest.approx(0.95)
    assert metrics.energy_inside(x, [(2.0, 3.0), (6.1, 7.0)], SR, tolerance=0.1) == pytest.approx(1.0)
    assert metrics.energy_outside(np.stack([x, x]), [(2.0, 3.0)], SR) == pytest.approx(0.5)
    assert metrics.energy_inside(np.zeros(SR), [], SR) == 1.0


def test_levels():
    assert metrics.rms_db(np.full(100, 0.5)) == pytest.approx(20 * np.log10(0.5))
    assert metrics.peak_db(np.array([0.0, -0.25])) == pytest.approx(20 * np.log10(0.25))
    assert metrics.rms_db(np.zeros(10)) == float("-inf")


def test_spectral_distance():
    x = np.random.default_rng(1).standard_normal(2 * SR)
    assert metrics.spectral_distance_db(x, 3 * x, SR) == pytest.approx(0.0, abs=1e-6)
    dull = sosfilt(butter(2, 1000, "low", fs=SR, output="sos"), x)
    assert metrics.spectral_distance_db(dull, x, SR) > 5.0


def test_median_f0_of_a_harmonic_tone():
    t = np.arange(SR) / SR
    tone = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 6))
    assert metrics.median_f0(tone, SR) == pytest.approx(150, rel=0.02)
    assert metrics.median_f0(np.zeros(SR), SR) is None
