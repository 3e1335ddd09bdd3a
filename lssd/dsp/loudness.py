"""Loudness and long-term-spectrum matching of dubbed speech to the original speech (paper §6, step 6).

Loudness is ITU-R BS.1770 integrated loudness (pyloudnorm). Two facts of that meter are guarded here:
clips under one 0.4 s gating block make it raise, and silence gives -inf. A short clip is measured by
looping it to one block, which equals the K-weighted mean-square loudness of the clip itself (a 0.3 s
"Yes." is still loud or soft); silence and clips under 50 ms have no loudness (None).

The EQ match is our own (matchering is GPL-3.0, so only ever optional): the ratio of the two long-term
average spectra, smoothed over fractional octaves, normalised so it changes timbre and not level,
bounded, never boosting bands the dub does not contain, applied by a linear-phase FIR whose delay is
removed — same length, no latency. Apply the EQ first, then the loudness match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from lssd.errors import BadInputError

BLOCK_S = 0.4  # BS.1770 gating block
MIN_CLIP_S = 0.05  # below this, a clip has no meaningful loudness
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770 absolute gate: anything quieter is silence
TRUE_PEAK_OVERSAMPLING = 4  # BS.1770-4 Annex 2
EQ_FFT_S = 0.085  # analysis/FIR length ≈ this (4096 at 48 kHz): ≈12 Hz resolution
EMPTY_BAND_DB = 60.0  # bands this far below the dub's strongest band are never boosted
_EPS = 1e-20
# ISO 266 one-third-octave band centres, where the applied EQ curve is reported
ISO_THIRD_OCTAVES = (25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250,
                     1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000, 20000)


def _frames(x: np.ndarray) -> np.ndarray:
    """(n,) or (channels, n) → float64 (n, channels), pyloudnorm's layout."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise BadInputError(f"audio must be (channels, samples), got shape {np.shape(x)}")
    if a.shape[0] > 5:
        raise BadInputError(f"loudness is defined for up to 5 channels (BS.1770), got {a.shape[0]}")
    return a.T


def integrated_loudness(x: np.ndarray, sr: int) -> float | None:
    """Integrated loudness in LUFS, or None for silence, clips under 50 ms and non-finite audio. Never raises
    for short or silent input. Safe on several threads: pyloudnorm's ``warnings.catch_warnings`` (not
    thread-safe before Python 3.14) can at worst leave a RuntimeWarning filter set or unset, never change a
    value."""
    import pyloudnorm

    data = _frames(x)
    n = data.shape[0]
    if n < MIN_CLIP_S * sr or not np.all(np.isfinite(data)) or not np.any(data):
        return None
    block = int(np.ceil(BLOCK_S * sr)) + 1
    if n < block:
        data = np.tile(data, (-(-block // n), 1))
    value = pyloudnorm.Meter(sr).integrated_loudness(data)
    return float(value) if np.isfinite(value) and value > ABSOLUTE_GATE_LUFS else None


def pieces_loudness(pieces: Iterable[np.ndarray], sr: int) -> float | None:
    """Integrated loudness (LUFS) of several mono clips taken as one programme, one clip in memory at a time:
    BS.1770's gating applied to the 400 ms blocks of every clip together (each clip's blocks measured by
    pyloudnorm; clips under one block looped as in :func:`integrated_loudness`). Blocks never straddle two
    clips, as they would in a concatenation, where the join is not part of either. None when no block is
    above the absolute gate."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sr)
    powers = []
    for piece in pieces:
        data = _frames(piece)
        n = data.shape[0]
        if n < MIN_CLIP_S * sr or not np.all(np.isfinite(data)) or not np.any(data):
            continue
        block = int(np.ceil(BLOCK_S * sr)) + 1
        if n < block:
            data = np.tile(data, (-(-block // n), 1))
        meter.integrated_loudness(data)  # fills meter.blockwise_loudness, -0.691 + 10 log10(mean square)
        powers.append(10 ** ((np.asarray(meter.blockwise_loudness, dtype=np.float64) + 0.691) / 10))
    z = np.concatenate(powers) if powers else np.zeros(0)
    with np.errstate(divide="ignore"):
        level = -0.691 + 10 * np.log10(z)
    gated = z[level >= ABSOLUTE_GATE_LUFS]
    if not gated.size:
        return None
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    gated = z[(level > relative) & (level > ABSOLUTE_GATE_LUFS)]
    value = -0.691 + 10 * np.log10(gated.mean()) if gated.size else float("-inf")
    return float(value) if np.isfinite(value) and value > ABSOLUTE_GATE_LUFS else None


# ------------------------------------------------------------------------------------- peak control


def _peak_envelope(x: np.ndarray, block: int = 1 << 18) -> np.ndarray:
    """Per-sample true-peak estimate (max over channels of the 4x-oversampled |x| around each sample),
    computed in blocks so a feature-length track is never oversampled at once."""
    from scipy.signal import resample_poly

    up = TRUE_PEAK_OVERSAMPLING
    margin = 64
    n = x.shape[1]
    env = np.empty(n)
    for a in range(0, n, block):
        lo, hi = max(0, a - margin), min(n, a + block + margin)
        m = min(block, n - a)
        over = np.abs(resample_poly(x[:, lo:hi], up, 1, axis=1)[:, (a - lo) * up:(a - lo + m) * up])
        peak = np.abs(x[:, a:a + m]).max(axis=0)
        for phase in range(up):  # max over the oversampled phases: strided maxima, not a reduce over a tiny axis
            np.maximum(peak, over[:, phase::up].max(axis=0), out=peak)
        env[a:a + m] = peak
    return env


def true_peak_envelope(x: np.ndarray) -> np.ndarray:
    """Per-sample true-peak estimate of (channels, n) or (n,) audio (linear): what :func:`true_peak_db` maxes."""
    return _peak_envelope(np.atleast_2d(np.asarray(x, dtype=np.float64)))


def true_peak_db(x: np.ndarray) -> float:
    """True peak (dBTP, 4x oversampling) of (channels, n) or (n,) audio; -inf for silence."""
    a = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if a.size == 0:
        return float("-inf")
    return _db(float(_peak_envelope(a).max()))


def _db(peak: float) -> float:
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def limit_peaks(x: np.ndarray, sr: int, ceiling_db: float = -1.0, smooth_s: float = 0.01) -> np.ndarray:
    """Soft, zero-latency peak limiter: a smooth gain that dips only around samples whose true peak exceeds
    ``ceiling_db``.

    The gain is the running minimum of the needed gain over ±``smooth_s``, then smoothed by a Hann kernel
    no wider than that minimum window, so it never exceeds the needed gain at any sample.
    """
    a = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return _limit(x, a, sr, _peak_envelope(a), ceiling_db, smooth_s)


def _ceiling(ceiling_db: float, under: np.ndarray | None) -> float | np.ndarray:
    """The linear ceiling for a signal that will be mixed onto audio whose true-peak envelope is ``under``
    (|a + b| ≤ |a| + |b| at every instant, so the mix stays under ``ceiling_db``), a hair under the dB
    value: oversampled peaks move slightly with the gain. Never below a tenth of the ceiling: where the bed
    alone passes it, silencing the speech would not help."""
    ceiling = 10 ** ((ceiling_db - 0.05) / 20)
    return ceiling if under is None else np.maximum(ceiling - under, 0.1 * ceiling)


def _limit(x: np.ndarray, a: np.ndarray, sr: int, env: np.ndarray, ceiling_db: float, smooth_s: float = 0.01,
           under: np.ndarray | None = None) -> np.ndarray:
    """:func:`limit_peaks` of ``x`` (as float64 (channels, n): ``a``) with its true-peak envelope given,
    leaving room for ``under`` (see :func:`_ceiling`)."""
    from scipy.ndimage import minimum_filter1d
    from scipy.signal import oaconvolve

    need = np.minimum(1.0, _ceiling(ceiling_db, under) / np.maximum(env, _EPS))
    if need.min() >= 1.0:
        return np.asarray(x, dtype=np.float32)
    radius = max(1, int(smooth_s * sr))
    held = minimum_filter1d(need, size=2 * radius + 1, mode="nearest")
    kernel = np.hanning(2 * radius + 3)[1:-1]
    gain = oaconvolve(np.pad(held, radius, mode="edge"), kernel / kernel.sum(), mode="valid")
    out = a * np.minimum(gain, need)[None, :]
    return out.astype(np.float32).reshape(np.shape(x))


@dataclass(frozen=True)
class LoudnessMatch:
    audio: np.ndarray
    before: float | None  # LUFS of the input (None: silent/too short → audio returned unchanged)
    after: float | None  # LUFS of the output
    gain_db: float  # broadband gain applied
    limited: bool  # the peak guard changed the signal
    true_peak_db: float  # of the output


def match_loudness_detailed(x: np.ndarray, sr: int, target_lufs: float, ceiling_db: float = -1.0,
                            max_extra_db: float = 6.0, iterations: int = 5,
                            under: np.ndarray | None = None) -> LoudnessMatch:
    """Gain ``x`` to ``target_lufs``; if its true peak would exceed ``ceiling_db``, limit softly and re-aim.
    ``under``: the true-peak envelope (linear, per sample of ``x``) of the audio ``x`` will be mixed onto
    (a dub's background), so that the mix, not only ``x``, stays under the ceiling.

    Limiting lowers loudness, so the gain is refined by the secant method (≤ ``iterations`` measurements),
    never more than ``max_extra_db`` above the plain gain: beyond that a limiter audibly squashes speech,
    and a dub a little under target is the lesser harm (``after`` says by how much).
    """
    audio = np.asarray(x, dtype=np.float32)
    before = integrated_loudness(audio, sr)
    if before is None:
        return LoudnessMatch(audio.copy(), None, None, 0.0, False, true_peak_db(audio))
    env = _peak_envelope(np.atleast_2d(audio.astype(np.float64)))  # a gain scales it: measured once
    plain = target_lufs - before
    tried: list[tuple[float, float]] = []
    gain_db = plain
    for _ in range(iterations):
        y, limited = _gain_and_limit(audio, sr, gain_db, ceiling_db, env, under)
        after = integrated_loudness(y, sr)
        if not limited or after is None or abs(after - target_lufs) < 0.02:
            break
        tried.append((gain_db, after))
        gain_db = _next_gain(tried, target_lufs, plain + max_extra_db)
        if gain_db == tried[-1][0]:
            break
    peak = true_peak_db(y) if limited else _db(float(env.max()) * 10 ** (gain_db / 20))
    return LoudnessMatch(y, before, after, float(gain_db), limited, peak)


def _gain_and_limit(audio: np.ndarray, sr: int, gain_db: float, ceiling_db: float, env: np.ndarray,
                    under: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """``audio`` gained by ``gain_db``, softly limited if its true peak (``env`` × gain) would pass the ceiling."""
    gain = 10 ** (gain_db / 20)
    y = (audio.astype(np.float64) * gain).astype(np.float32)
    if under is None and _db(float(env.max()) * gain) <= ceiling_db:
        return y, False
    if under is not None and np.all(env * gain <= _ceiling(ceiling_db, under)):
        return y, False
    return _limit(y, np.atleast_2d(y.astype(np.float64)), sr, env * gain, ceiling_db, under=under), True


def _next_gain(tried: list[tuple[float, float]], target: float, cap: float) -> float:
    """Secant step on loudness(gain) towards ``target`` (a plain step from the first point), capped."""
    g1, a1 = tried[-1]
    slope = 1.0
    if len(tried) > 1:
        g0, a0 = tried[-2]
        if abs(g1 - g0) > 1e-6 and (a1 - a0) / (g1 - g0) > 0.05:
            slope = (a1 - a0) / (g1 - g0)
    return float(min(cap, g1 + (target - a1) / slope))


def match_loudness(x: np.ndarray, sr: int, target_lufs: float) -> tuple[np.ndarray, float | None, float | None]:
    """(audio at ``target_lufs`` with true peaks ≤ -1 dBFS, loudness before, after); see
    :func:`match_loudness_detailed` for the gain and whether the peak guard acted."""
    m = match_loudness_detailed(x, sr, target_lufs)
    return m.audio, m.before, m.after


# ------------------------------------------------------------------------------------------ EQ match


def eq_fft_size(sr: int) -> int:
    return int(2 ** round(np.log2(EQ_FFT_S * sr)))


def long_term_spectrum(x: np.ndarray, sr: int, block_s: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, power spectral density averaged over time and channels): Welch, block by block."""
    return pieces_spectrum([x], sr, block_s)


def pieces_spectrum(pieces: Iterable[np.ndarray], sr: int, block_s: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`long_term_spectrum` of several clips together, one in memory at a time: the Welch spectra of
    every clip's blocks, weighted by their lengths."""
    from scipy.signal import welch

    n_fft = eq_fft_size(sr)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    total = np.zeros(freqs.size)
    weight = 0
    step = max(n_fft, int(block_s * sr))
    for piece in pieces:
        a = np.atleast_2d(np.asarray(piece, dtype=np.float64))
        for start in range(0, a.shape[1], step):
            block = a[:, start:start + step]
            if block.shape[1] < n_fft:  # zero padding lowers the level, not the shape
                block = np.pad(block, ((0, 0), (0, n_fft - block.shape[1])))
            _, psd = welch(block, fs=sr, nperseg=n_fft, axis=-1)
            total += psd.mean(axis=0) * block.shape[1]
            weight += block.shape[1]
    return freqs, total / max(weight, 1)


def smooth_fractional_octave(freqs: np.ndarray, power: np.ndarray, fraction: float) -> np.ndarray:
    """Mean of ``power`` over [f·2^(-1/2n), f·2^(1/2n)] around every bin f (n = ``fraction``, 3 = 1/3 octave)."""
    half = 2 ** (1 / (2 * fraction))
    cs = np.concatenate([[0.0], np.cumsum(power)])
    lo = np.searchsorted(freqs, freqs / half, side="left")
    hi = np.maximum(np.searchsorted(freqs, freqs * half, side="right"), lo + 1)
    return (cs[hi] - cs[lo]) / (hi - lo)


def _octave_fraction(smoothing: str) -> float:
    text = smoothing.strip().lower().replace("octaves", "octave")
    words = text.split()
    if not words or words[-1] != "octave" or len(words) > 2:
        raise BadInputError(f"EQ smoothing must look like '1/3 octave', got {smoothing!r}")
    amount = words[0] if len(words) == 2 else "1"
    try:
        num, _, den = amount.partition("/")
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        raise BadInputError(f"EQ smoothing must look like '1/3 octave', got {smoothing!r}") from None
    if not 0 < value <= 1:
        raise BadInputError(f"EQ smoothing must be between 1/48 and 1 octave, got {smoothing!r}")
    return 1 / value


Spectrum = tuple[np.ndarray, np.ndarray]  # (frequencies Hz, power): what long_term_spectrum returns


def eq_curve(x: np.ndarray, reference: np.ndarray | Spectrum, sr: int, max_db: float = 12.0, smoothing: str = "1/3 octave",
             fmin: float = 40.0, fmax: float = 16000.0) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, gain dB per bin) that moves ``x``'s long-term spectrum towards ``reference``'s.

    ``reference`` is audio, or its :func:`long_term_spectrum` already measured. Level-neutral over [fmin, fmax] (both spectra normalised to the same power there), bounded to
    ±``max_db``, 0 dB outside the band, never a boost where the dub is ``EMPTY_BAND_DB`` below its peak.
    """
    fraction = _octave_fraction(smoothing)
    freqs, px = long_term_spectrum(x, sr)
    _, pr = reference if isinstance(reference, tuple) else long_term_spectrum(reference, sr)
    band = (freqs >= fmin) & (freqs <= min(fmax, 0.95 * sr / 2))
    sx, sref = smooth_fractional_octave(freqs, px, fraction), smooth_fractional_octave(freqs, pr, fraction)
    gains = np.zeros(freqs.size)
    if sx[band].sum() <= _EPS or sref[band].sum() <= _EPS:
        return freqs, gains
    level = 10 * np.log10(sref[band].sum() / sx[band].sum())  # removed: loudness is matched separately
    gains[band] = 10 * np.log10((sref[band] + _EPS) / (sx[band] + _EPS)) - level
    empty = 10 * np.log10(sx + _EPS) < 10 * np.log10(sx[band].max()) - EMPTY_BAND_DB
    gains[empty] = np.minimum(gains[empty], 0.0)
    gains = np.clip(gains, -max_db, max_db)
    # smooth the band edges too: no step from the bounded curve to 0 dB
    smoothed = 10 * np.log10(smooth_fractional_octave(freqs, 10 ** (gains / 10), fraction))
    return freqs, np.clip(smoothed, -max_db, max_db)


def apply_eq(x: np.ndarray, sr: int, freqs: np.ndarray, gains_db: np.ndarray) -> np.ndarray:
    """Linear-phase FIR with the given magnitude response; its delay is removed (same length, no latency)."""
    from scipy.signal import firwin2, oaconvolve

    a = np.atleast_2d(np.asarray(x, dtype=np.float64))
    taps = 2 * (freqs.size - 1) + 1  # odd → type I, any gain at Nyquist
    h = firwin2(taps, freqs / (sr / 2), 10 ** (gains_db / 20))
    delay = (taps - 1) // 2
    y = oaconvolve(a, h[None, :], mode="full", axes=-1)[:, delay:delay + a.shape[1]]
    return y.astype(np.float32).reshape(np.shape(x))


def _band_report(freqs: np.ndarray, gains_db: np.ndarray, sr: int) -> dict[float, float]:
    centres = [f for f in ISO_THIRD_OCTAVES if f < sr / 2]
    return {float(f): round(float(g), 2) for f, g in zip(centres, np.interp(centres, freqs, gains_db))}


def eq_match(x: np.ndarray, reference: np.ndarray | Spectrum, sr: int, max_db: float = 12.0, smoothing: str = "1/3 octave"
             ) -> tuple[np.ndarray, dict[float, float]]:
    """(``x`` equalised towards ``reference``'s long-term spectrum, {1/3-octave centre Hz: gain dB}).

    Same shape and length as ``x``; silent input or reference → unchanged, all gains 0.
    """
    audio = np.asarray(x, dtype=np.float32)
    if audio.size == 0:
        return audio.copy(), {}
    freqs, gains = eq_curve(audio, reference, sr, max_db=max_db, smoothing=smoothing)
    if not np.any(gains):
        return audio.copy(), _band_report(freqs, gains, sr)
    return apply_eq(audio, sr, freqs, gains), _band_report(freqs, gains, sr)
