"""Objective measures the pipeline and its tests share, so every claim about quality is one number.

Signals are numpy arrays, (samples,) or (channels, samples); multichannel signals are treated as one
signal (channels concatenated), which is what "how much of the background survived" means for stereo.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1)


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019): how well ``estimate`` matches ``reference`` up to gain.

    Both are made zero-mean; the reference is scaled by the least-squares factor before the ratio.
    """
    est = _flat(estimate)
    ref = _flat(reference)
    if est.shape != ref.shape:
        raise ValueError(f"si_sdr needs equal shapes, got {np.shape(estimate)} and {np.shape(reference)}")
    est = est - est.mean()
    ref = ref - ref.mean()
    scale = np.dot(est, ref) / (np.dot(ref, ref) + _EPS)
    target = scale * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + _EPS) / (np.dot(noise, noise) + _EPS)))


def span_mask(n: int, spans: list[tuple[float, float]], sr: int, tolerance: float) -> np.ndarray:
    """True for the samples of an ``n``-sample signal inside ``spans`` (seconds), each widened by ``tolerance``."""
    mask = np.zeros(n, dtype=bool)
    for start, end in spans:
        a = max(0, int(np.floor((start - tolerance) * sr)))
        b = min(n, int(np.ceil((end + tolerance) * sr)))
        mask[a:b] = True
    return mask


def energy_inside(signal: np.ndarray, spans: list[tuple[float, float]], sr: int, tolerance: float = 0.0) -> float:
    """Fraction (0-1) of ``signal``'s energy that lies inside ``spans`` (seconds), each widened by ``tolerance``.

    Answers "did the dub land where the original speech was?"; an all-zero signal gives 1.0 (nothing
    lies outside).
    """
    x = np.atleast_2d(np.asarray(signal, dtype=np.float64))
    power = np.sum(x ** 2, axis=0)
    total = power.sum()
    if total <= 0:
        return 1.0
    return float(power[span_mask(power.size, spans, sr, tolerance)].sum() / total)


def energy_outside(signal: np.ndarray, spans: list[tuple[float, float]], sr: int, tolerance: float = 0.0) -> float:
    """Fraction of energy outside ``spans``: the complement of :func:`energy_inside`."""
    return 1.0 - energy_inside(signal, spans, sr, tolerance)


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS (−inf for silence)."""
    ms = float(np.mean(_flat(x) ** 2)) if np.size(x) else 0.0
    return 10 * np.log10(ms) if ms > 0 else float("-inf")


def peak_db(x: np.ndarray) -> float:
    """Sample peak in dBFS (−inf for silence)."""
    peak = float(np.max(np.abs(x))) if np.size(x) else 0.0
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def spectral_distance_db(x: np.ndarray, reference: np.ndarray, sr: int, fmin: float = 100.0,
                         fmax: float = 8000.0) -> float:
    """RMS difference (dB) between the level-normalised, 1/3-octave-smoothed long-term spectra of two signals.

    Level is removed first (loudness is matched elsewhere), so this measures timbre only: 0 dB means the
    same long-term spectral shape over [fmin, fmax].
    """
    from lssd.dsp.loudness import long_term_spectrum, smooth_fractional_octave

    freqs, px = long_term_spectrum(x, sr)
    _, pr = long_term_spectrum(reference, sr)
    band = (freqs >= fmin) & (freqs <= min(fmax, sr / 2))
    dx = 10 * np.log10(smooth_fractional_octave(freqs, px, 3)[band] + _EPS)
    dr = 10 * np.log10(smooth_fractional_octave(freqs, pr, 3)[band] + _EPS)
    diff = dx - dr
    diff -= diff.mean()
    return float(np.sqrt(np.mean(diff ** 2)))


def median_f0(x: np.ndarray, sr: int) -> float | None:
    """Median F0 (Hz) of the voiced frames of mono speech (pyworld DIO at the full rate + StoneMask), or
    None if unvoiced."""
    from lssd.dsp.world_vc import VCSettings, estimate_f0

    f0 = estimate_f0(np.asarray(x, dtype=np.float64).reshape(-1), sr, VCSettings(dio_speed=1))
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if voiced.size else None
