"""Weights-free speech/background separation, guided by a voice-activity detector.

Why: the pipeline must run where no separation model (Demucs) is installed. This fallback needs only the
Silero VAD model that ships inside its pip wheel.

Method:

1. **Where is speech.** Silero VAD gives a speech probability per 32 ms of a 16 kHz mono downmix;
   hysteresis thresholding, minimum durations and padding turn it into speech spans. Outside the spans
   nothing is touched: background = mixture and vocals = 0 exactly — the best estimate where nobody
   speaks.
2. **What the background sounds like under the speech.** For each STFT frame inside a span, the
   background magnitude is predicted from *nearby non-speech frames* (the ``context_s`` worth of them
   nearest in time, either side, at most ``max_reach_s`` away): the ``n_refs`` frames whose mel-band log
   spectra best explain the frame, where reference energy the
   mixture lacks is penalised ten times more than mixture energy the reference lacks (that excess is the
   speech). Their per-bin median is the estimate. This is REPET-SIM-style repetition: a repeating
   chord, loop or steady noise is matched to the part actually playing, not averaged over the song.
   Frames with no references in reach (a monologue over 2 × ``max_reach_s``, an all-speech input) use a
   minimum-statistics noise floor instead (Martin 2001: smoothed power, minimum over ``floor_window_s``,
   bias-compensated).
3. **Masking.** A Wiener gain from the estimated speech power (mixture minus ``over_subtraction`` ×
   background) and background power, smoothed over 3 frames × 3 bins against musical noise and zero
   below ``low_cut_hz`` (no voice lives there), shapes the vocals; spans fade in/out over ``ramp_s``.
   The background is the mixture minus the vocals, so vocals + background is the mixture (to float32
   rounding inside spans, exactly outside them).
4. **Blocks.** Work proceeds in blocks of ``block_s`` with enough context that each block's result
   equals a whole-signal computation, so memory is bounded for feature-length input.
"""

from __future__ import annotations

from functools import cache

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from math import gcd
from typing import Any

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter, uniform_filter1d

from lssd.errors import BadInputError
from lssd.media import array_blocks, read_span

VAD_RATE = 16_000  # Silero VAD runs at 16 kHz ...
VAD_WINDOW = 512  # ... on windows of 32 ms
MAX_CHANNELS = 16
_EPS = 1e-10


@dataclass(frozen=True)
class SeparatorSettings:
    vad_threshold: float = 0.5  # speech probability that starts a span (stays on down to threshold - 0.15)
    min_speech_s: float = 0.2  # shorter detections are dropped (clicks, laughs)
    min_silence_s: float = 0.25  # shorter pauses do not split a span
    pad_s: float = 0.1  # spans grow this much each side: VAD onsets are late and offsets early
    ramp_s: float = 0.02  # raised-cosine fade of the vocals at span edges (no clicks)
    guard_s: float = 0.05  # non-speech frames this close to a span are not background references
    context_s: float = 4.0  # seconds of nearest non-speech frames a speech frame chooses references from
    max_reach_s: float = 20.0  # references are never farther away than this
    n_refs: int = 8  # references whose median predicts one frame's background (fewer nearby → noise floor)
    n_bands: int = 64  # mel bands used to compare frames
    over_weight: float = 10.0  # penalty of reference energy missing from the mixture vs. the opposite
    over_subtraction: float = 1.2  # background magnitude is scaled by this before the Wiener gain
    floor_window_s: float = 1.5  # minimum-statistics window
    floor_bias: float = 2.0  # power bias compensation of the minimum (≈ +3 dB)
    low_cut_hz: float = 70.0  # no vocals below the lowest voice F0
    frame_s: float = 0.04  # STFT window ≈ this long, rounded to a power of two (2048 at 48 kHz)
    block_s: float = 30.0  # samples processed per block

    def stft_size(self, sr: int) -> tuple[int, int]:
        n_fft = int(2 ** round(np.log2(self.frame_s * sr)))
        return n_fft, n_fft // 4


def load_vad() -> Any:
    """Silero VAD (:mod:`lssd.dsp.silero`: the wheel's ONNX file, no torch), loaded once per process."""
    from lssd.dsp import silero

    return silero.load()


def as_channels(mix: np.ndarray) -> np.ndarray:
    """(n,) or (channels, n) → float32 (channels, n); anything else is a user error. A whole work track
    (a map from :func:`lssd.media.open_wav`) stays a map, read a block at a time."""
    x = mix if isinstance(mix, np.memmap) and mix.dtype == np.float32 else np.asarray(mix, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] > MAX_CHANNELS:  # many "channels" = a (samples, channels) array
        raise BadInputError(f"audio must be (channels, samples), got shape {np.shape(mix)}")
    step = 1 << 20  # checked a block at a time: a memory-mapped hour of audio is never read whole
    if not all(np.all(np.isfinite(block)) for block in array_blocks(x, step)):
        raise BadInputError("audio contains NaN or infinite samples")
    return x


def _mono(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """Samples a..b of a mono (n,) or (channels, n) signal, mixed down (the same values as mixing the
    whole signal down first, without holding it)."""
    part = read_span(x, a, b)
    return part if part.ndim == 1 else part.mean(axis=0)


# ---------------------------------------------------------------------------------------------- VAD


def resampled_blocks(mono: np.ndarray, sr: int, block_s: float = 60.0) -> Iterator[np.ndarray]:
    """Mono audio at 16 kHz, ``block_s`` at a time, each block a whole number of VAD windows except the last.
    ``mono`` may also be (channels, n): each block is mixed down as it is read.

    Each block is resampled with a margin on both sides, so the blocks join as one resampled signal would.
    """
    from scipy.signal import resample_poly

    g = gcd(int(sr), VAD_RATE)
    up, down = VAD_RATE // g, int(sr) // g
    unit = int(np.lcm(VAD_WINDOW, up))  # whole windows and whole resampling periods per block
    in_block = unit * max(1, int(block_s * VAD_RATE // unit)) // up * down
    margin = (unit // up) * down  # ≥ 0.03 s of input: covers the resampling filter's reach
    n = mono.shape[-1]
    for a in range(0, n, in_block):
        lo = max(0, a - margin)
        seg = resample_poly(_mono(mono, lo, a + in_block + margin).astype(np.float64), up, down)
        skip = (a - lo) * up // down
        yield seg[skip:skip + -(-min(in_block, n - a) * up // down)].astype(np.float32)


def speech_probabilities(mono: np.ndarray, sr: int, model: Any) -> np.ndarray:
    """Silero's speech probability per 32 ms window, one continuous model state over the whole signal."""
    return model.probabilities(resampled_blocks(mono, sr))


def spans_from_probabilities(probs: np.ndarray, duration: float, settings: SeparatorSettings,
                             window_s: float = VAD_WINDOW / VAD_RATE) -> list[tuple[float, float]]:
    """Speech spans (seconds) from per-window probabilities: hysteresis, merge short pauses, drop short
    detections, pad, merge overlaps."""
    on, off = settings.vad_threshold, max(settings.vad_threshold - 0.15, 0.01)
    runs: list[list[float]] = []
    active = False
    for i, p in enumerate(probs):
        if not active and p >= on:
            active = True
            runs.append([i * window_s, (i + 1) * window_s])
        elif active and p < off:
            active = False
        elif active:
            runs[-1][1] = (i + 1) * window_s
    merged: list[list[float]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < settings.min_silence_s:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    spans: list[tuple[float, float]] = []
    for start, end in merged:
        if end - start < settings.min_speech_s:
            continue
        start, end = max(0.0, start - settings.pad_s), min(duration, end + settings.pad_s)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def detect_speech(mix: np.ndarray, sr: int, model: Any, settings: SeparatorSettings = SeparatorSettings()
                  ) -> list[tuple[float, float]]:
    """Speech spans (start, end) in seconds of a (channels, n) mixture, padded by ``settings.pad_s``."""
    x = as_channels(mix)
    probs = speech_probabilities(x, sr, model)  # mixed down block by block
    return spans_from_probabilities(probs, x.shape[1] / sr, settings)


# --------------------------------------------------------------------------------------- separation


def separate(mix: np.ndarray, sr: int, model: Any, settings: SeparatorSettings = SeparatorSettings(),
             spans: list[tuple[float, float]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(channels, n) mixture → (vocals, background), float32, same shape; see the module docstring.

    ``spans`` (seconds) skips the VAD when the caller already knows where speech is.
    """
    x = as_channels(mix)
    if spans is None:
        spans = detect_speech(x, sr, model, settings)
    vocals = np.zeros_like(x)
    for start, stop, block in separate_blocks(x, sr, spans, settings):
        if block is not None:
            vocals[:, start:stop] = block
    background = x - vocals
    return vocals, background


def separate_blocks(x: np.ndarray, sr: int, spans: list[tuple[float, float]],
                    settings: SeparatorSettings = SeparatorSettings()
                    ) -> Iterator[tuple[int, int, np.ndarray | None]]:
    """The vocals of (channels, n) ``x`` one block at a time, in order: ``(start, stop, vocals)``, with
    ``None`` for a block without speech (silent vocals). :func:`separate` is these blocks put together;
    a caller writing them out never holds a whole track."""
    samples = _span_samples(spans, sr, x.shape[1])
    ramp = int(round(settings.ramp_s * sr))
    block = max(1, int(settings.block_s * sr))
    for start in range(0, x.shape[1], block):
        stop = min(x.shape[1], start + block)
        if not np.any((samples[:, 0] - ramp < stop) & (samples[:, 1] + ramp > start)):
            yield start, stop, None
            continue
        yield start, stop, _vocals_block(x, sr, start, stop, samples, settings)


def _span_samples(spans: list[tuple[float, float]], sr: int, n: int) -> np.ndarray:
    out = [(max(0, int(round(a * sr))), min(n, int(round(b * sr)))) for a, b in sorted(spans)]
    return np.asarray([s for s in out if s[1] > s[0]], dtype=np.int64).reshape(-1, 2)


def _speech_gate(samples: np.ndarray, start: int, stop: int, ramp: int) -> np.ndarray:
    """1 inside spans, 0 outside, raised-cosine ramps of ``ramp`` samples just outside each span."""
    gate = np.zeros(stop - start, dtype=np.float32)
    fade = 0.5 - 0.5 * np.cos(np.pi * (np.arange(1, ramp + 1) / (ramp + 1))) if ramp else np.zeros(0)
    for a, b in samples:
        if b + ramp <= start or a - ramp >= stop:
            continue
        gate[max(a, start) - start:min(b, stop) - start] = 1.0
        for pos, values in ((a - ramp, fade), (b, fade[::-1])):
            idx = np.arange(pos, pos + ramp)
            keep = (idx >= start) & (idx < stop)
            gate[idx[keep] - start] = np.maximum(gate[idx[keep] - start], values[keep])
    return gate


def _slice_padded(x: np.ndarray, a: int, b: int) -> np.ndarray:
    out = np.zeros((x.shape[0], b - a), dtype=np.float32)
    lo, hi = max(a, 0), min(b, x.shape[1])
    if hi > lo:
        out[:, lo - a:hi - a] = read_span(x, lo, hi)
    return out


def _frame_flags(centers: np.ndarray, samples: np.ndarray, reach: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Which frames lie in speech (targets) and which may serve as background references."""
    def near(widen: int) -> np.ndarray:
        hit = np.zeros(centers.size, dtype=bool)
        for a, b in samples:
            hit |= (centers >= a - widen) & (centers < b + widen)
        return hit

    valid = (centers >= 0) & (centers < n)
    return near(0) & valid, valid & ~near(reach)


def _vocals_block(x: np.ndarray, sr: int, start: int, stop: int, samples: np.ndarray,
                  s: SeparatorSettings) -> np.ndarray:
    import librosa

    n_fft, hop = s.stft_size(sr)
    half = n_fft // 2
    ramp = int(round(s.ramp_s * sr))
    reach_frames = int(np.ceil(max(s.max_reach_s, s.floor_window_s) * sr / hop)) + 4
    # analysed frames: the block and every frame in reach of it, but none wholly outside the signal
    edge = half // hop + 2  # frames past either end that still touch it (or its mask smoothing)
    k0 = max(start // hop - reach_frames - half // hop - 1, -edge)
    k1 = min(-(-stop // hop) + reach_frames + half // hop + 1, -(-x.shape[1] // hop) + edge)
    seg = _slice_padded(x, k0 * hop - half, k1 * hop + half)
    spec = librosa.stft(seg, n_fft=n_fft, hop_length=hop, center=False)  # (C, F, T)
    mag = np.abs(spec)
    centers = (k0 + np.arange(spec.shape[-1])) * hop
    span_ramped = samples + np.array([-ramp, ramp])
    speech, refs = _frame_flags(centers, span_ramped, half + int(s.guard_s * sr), x.shape[1])
    # synthesised frames: those overlapping the block; masked frames: one more each side (mask smoothing)
    offset = start - (k0 * hop - half)  # the block's first sample in ``seg``
    j0 = max(0, -(-(offset - n_fft + 1) // hop))
    j1 = min(spec.shape[-1], (offset + stop - start - 1) // hop + 1)
    m0, m1 = max(0, j0 - 1), min(spec.shape[-1], j1 + 1)
    targets = m0 + np.flatnonzero(speech[m0:m1])
    mask = np.zeros(mag.shape[:2] + (m1 - m0,), dtype=np.float32)
    if targets.size:
        valid = (centers >= 0) & (centers < x.shape[1])
        background = _background_estimate(mag, targets, np.flatnonzero(refs), valid, sr, n_fft, hop, s)
        mask[..., targets - m0] = _wiener(mag[..., targets], background, s.over_subtraction)
        mask = uniform_filter(mask, size=(1, 3, 3), mode="constant")
        mask[:, librosa.fft_frequencies(sr=sr, n_fft=n_fft) < s.low_cut_hz, :] = 0.0
    masked = spec[..., j0:j1] * mask[..., j0 - m0:j1 - m0]
    voc = librosa.istft(masked, hop_length=hop, n_fft=n_fft, center=False, length=(j1 - j0 - 1) * hop + n_fft)
    core = voc[:, offset - j0 * hop:offset - j0 * hop + (stop - start)].astype(np.float32)
    return core * _speech_gate(samples, start, stop, ramp)


def _wiener(mag: np.ndarray, background: np.ndarray, over: float) -> np.ndarray:
    noise = (over * background) ** 2
    speech = np.maximum(mag ** 2 - noise, 0.0)
    return (speech / (speech + noise + _EPS)).astype(np.float32)


def _band_features(mag: np.ndarray, sr: int, n_fft: int, n_bands: int) -> np.ndarray:
    """Per-frame mel-band levels in dB of the channel-averaged power: (T, bands)."""
    import librosa

    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_bands, fmin=50.0, fmax=min(sr / 2, 16000.0))
    power = np.mean(mag ** 2, axis=0)
    return (10 * np.log10(fb @ power + _EPS)).T.astype(np.float32)


def _background_estimate(mag: np.ndarray, targets: np.ndarray, refs: np.ndarray, valid: np.ndarray, sr: int,
                         n_fft: int, hop: int, s: SeparatorSettings, chunk: int = 32) -> np.ndarray:
    """Background magnitude (C, F, len(targets)) from matching nearby non-speech frames, else the noise floor.

    Each target's candidates are the ``context_s`` worth of non-speech frames nearest to it in time
    (either side, at most ``max_reach_s`` away); the ``n_refs`` whose band levels best explain the
    target are its references.
    """
    feats = _band_features(mag, sr, n_fft, s.n_bands)
    pool = max(s.n_refs, int(round(s.context_s * sr / hop)))
    reach = int(round(s.max_reach_s * sr / hop))
    out = np.empty(mag.shape[:2] + (targets.size,), dtype=np.float32)
    lacking: list[int] = []
    for c0 in range(0, targets.size, chunk):
        tgt = targets[c0:c0 + chunk]
        pos = np.searchsorted(refs, tgt)
        cand = refs[max(0, pos.min() - pool):pos.max() + pool]
        if cand.size < s.n_refs:
            lacking.extend(range(c0, c0 + tgt.size))
            continue
        gap = np.abs(cand[None, :] - tgt[:, None])  # (targets, cands) in frames
        nearest = np.partition(gap, min(pool, cand.size) - 1, axis=1)[:, min(pool, cand.size) - 1]
        near = (gap <= nearest[:, None]) & (gap <= reach)
        enough = near.sum(axis=1) >= s.n_refs
        diff = feats[cand][None, :, :] - feats[tgt][:, None, :]  # (targets, cands, bands)
        dist = np.mean(np.where(diff > 0, s.over_weight * diff ** 2, diff ** 2), axis=2)
        dist[~near] = np.inf
        best = np.argpartition(dist, s.n_refs - 1, axis=1)[:, :s.n_refs]  # (targets, n_refs)
        out[..., c0:c0 + tgt.size] = _median_first_axis(np.moveaxis(mag[:, :, cand[best].T], 2, 0))
        lacking.extend(c0 + np.flatnonzero(~enough))
    if lacking:
        idx = np.asarray(lacking)
        floor = _noise_floor(mag, valid, s.floor_window_s * sr / hop, s.floor_bias)
        out[..., idx] = floor[..., targets[idx]]
    return out


@cache
def _sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd-even merge sort comparators for ``n`` items (padded to a power of two; pairs beyond
    ``n`` dropped, which is valid for padding with +inf)."""
    size = 1 << max(0, (n - 1).bit_length())
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple((a, b) for a, b in pairs if b < n)


def _median_first_axis(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)`` for a short first axis, by a sorting network of elementwise min/max:
    numpy's partition is slow over many tiny rows, and this is where the separator spent most of its time."""
    rows = list(values)
    for a, b in _sorting_network(len(rows)):
        rows[a], rows[b] = np.minimum(rows[a], rows[b]), np.maximum(rows[a], rows[b])
    n = len(rows)
    if n % 2:
        return rows[n // 2]
    return (rows[n // 2 - 1] + rows[n // 2]) / np.asarray(2, dtype=values.dtype)


def _noise_floor(mag: np.ndarray, valid: np.ndarray, window_frames: float, bias: float) -> np.ndarray:
    """Minimum statistics: time-smoothed power, its running minimum, bias-compensated (magnitude).

    Frames outside the signal (zero padding) are excluded so the floor does not collapse near the ends.
    """
    power = uniform_filter1d(mag ** 2, size=5, axis=-1)
    power[..., ~valid] = np.inf
    size = max(3, int(window_frames) | 1)
    floor = minimum_filter1d(power, size=size, axis=-1, mode="nearest")
    return np.sqrt(bias * np.where(np.isfinite(floor), floor, 0.0))


def settings_dict(settings: SeparatorSettings) -> dict:
    return asdict(settings)
