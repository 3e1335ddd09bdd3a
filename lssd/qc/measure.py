"""The measurements of one dub track against the original track of the same container.

Both tracks share the background, so ``r = dub − original`` cancels it and leaves the dub's speech minus
the original's. With the three signals' energies the parts separate without a separator, assuming speech,
background and the other language's speech are uncorrelated: the dub's speech energy in any region is
``Σ dub·(dub − original)``, and the original speech still in the dub follows from ``Σ dub·original`` once
the background's power (measured outside all speech) is taken away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lssd.dsp.metrics import span_mask, median_f0
from lssd.qc import background as bed
from lssd.qc.thresholds import CHEAP, MODEL

SR = 16_000  # analysis rate of everything but loudness and true peak
TOLERANCE_S = 0.2  # speech spans are widened by this much before asking "inside or outside"
FRAME_S = 0.02
FLOOR_DB = -60.0  # levels below this are reported as this (the measure's floor)
_EPS = 1e-12
MAX_OFFSET_S = 0.1  # a dub track further off than this is not measured as offset: it is just different
SYNC_SPAN_S = 120.0  # seconds of audio the offset is estimated from
MIN_PROMINENCE = 8.0  # correlation peak, in standard deviations over all lags, that counts as an offset
PHAT_FLOOR = 1e-9  # of the largest cross-spectrum magnitude: only exactly empty bins are kept from dividing by ~0

Span = tuple[float, float]


@dataclass
class Track:
    """One decoded audio track: full-rate audio for loudness, mono 16 kHz for the rest, its speech spans."""

    audio: np.ndarray  # (channels, n) at ``sr``
    sr: int
    mono: np.ndarray  # (n16,) at SR
    spans: list[Span]

    @property
    def duration(self) -> float:
        return self.mono.size / SR


def track(audio: np.ndarray, sr: int, length: int | None = None) -> Track:
    """Decode-side preparation: fit to ``length`` samples, mono 16 kHz, Silero VAD speech spans."""
    from lssd.backends.vad import speech_spans, to_mono16k

    if length is not None:
        audio = audio[:, :length] if audio.shape[1] >= length else np.pad(audio, ((0, 0), (0, length - audio.shape[1])))
    mono = to_mono16k(audio, sr)
    return Track(audio=audio, sr=sr, mono=mono, spans=speech_spans(mono))


def sync_offset(dub: np.ndarray, orig: np.ndarray, sr: int, speech: list[Span],
                max_s: float = MAX_OFFSET_S) -> int | None:
    """Samples by which ``dub`` lags ``orig`` (negative: it is early), from their cross-correlation where
    only the background plays (outside the original's ``speech`` ± tolerance), within ``max_s``; None when
    the tracks share too little there to tell.

    The correlation is phase-transformed (GCC-PHAT: every frequency weighted alike): a music bed of steady
    chords correlates with itself at every period of its notes, so a plain correlation has no peak that
    stands out (``sync`` was n/a on every real clip tried), while the whitened one is a spike at the shared
    part's offset. Cancelling the background needs sample accuracy: 0.3 ms off already leaves broadband
    noise at full level."""
    from scipy.fft import irfft, next_fast_len, rfft

    n = min(dub.shape[-1], orig.shape[-1], int(SYNC_SPAN_S * sr))
    quiet = ~span_mask(n, speech, sr, TOLERANCE_S)
    d = np.asarray(dub, dtype=np.float64).reshape(-1, dub.shape[-1]).mean(axis=0)[:n] * quiet
    o = np.asarray(orig, dtype=np.float64).reshape(-1, orig.shape[-1]).mean(axis=0)[:n] * quiet
    if np.sum(d**2) <= _EPS or np.sum(o**2) <= _EPS:
        return None
    size = next_fast_len(2 * n)
    cross = rfft(d, size) * np.conj(rfft(o, size))
    magnitude = np.abs(cross)
    corr = irfft(cross / (magnitude + PHAT_FLOOR * magnitude.max() + _EPS), size)  # corr[k]: dub lags by k
    reach = min(int(max_s * sr), n - 1)
    window = np.concatenate([corr[size - reach:], corr[:reach + 1]])  # lags -reach … +reach
    best = int(np.argmax(window))
    # judged against the correlation's spread over all lags (unrelated tracks peak around 4 sigma)
    prominence = (window[best] - window.mean()) / (window.std() + _EPS)
    return best - reach if prominence >= MIN_PROMINENCE else None


def length_share(n_dub: int, n_orig: int) -> float | None:
    """How much of the original's length the dub track covers (1.0: all of it; a track cut in half: 0.5)."""
    return min(1.0, n_dub / n_orig) if n_orig > 0 else None


def shift(audio: np.ndarray, lag: int) -> np.ndarray:
    """Move (channels, n) audio ``lag`` samples earlier (positive) or later, keeping its length."""
    if lag > 0:
        return np.pad(audio[:, lag:], ((0, 0), (0, lag)))
    if lag < 0:
        return np.pad(audio, ((0, 0), (-lag, 0)))[:, :audio.shape[1]]
    return audio


def _mask(n: int, spans: list[Span], tolerance: float = 0.0) -> np.ndarray:
    return span_mask(n, spans, SR, tolerance)


def _db(ratio: float) -> float:
    return max(FLOOR_DB, 10 * np.log10(ratio)) if ratio > 0 else FLOOR_DB


def _concat(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return x[..., mask]


def timing(dub: Track, orig: Track) -> dict[str, float | None]:
    """Share of the dub's speech energy inside the original's speech (± tolerance), and seconds of dub
    speech in the original's pauses. Only where the dub track has speech counts, so a changed background
    is the background metric's business, not this one's."""
    n = min(dub.mono.size, orig.mono.size)
    d, o = dub.mono[:n].astype(np.float64), orig.mono[:n].astype(np.float64)
    dub_speech = _mask(n, dub.spans)
    if not dub_speech.any():
        return {"timing": None, "pause_speech": 0.0}
    inside = _mask(n, orig.spans, TOLERANCE_S)
    energy = np.clip(d * (d - o), 0, None)  # per-sample estimate of the dub's speech power
    e_in = energy[dub_speech & inside].sum()
    e_all = energy[dub_speech].sum()
    # seconds: 20 ms frames where the dub speaks, outside the original's speech, carrying real energy
    hop = int(FRAME_S * SR)
    frames = np.add.reduceat(energy * dub_speech, np.arange(0, n, hop))
    outside = ~np.logical_or.reduceat(inside, np.arange(0, n, hop))
    loud = frames > np.percentile(frames[frames > 0], 95) * 10 ** (-25 / 10) if np.any(frames > 0) else frames > 0
    return {"timing": float(e_in / e_all) if e_all > 0 else None,
            "pause_speech": float(np.sum(loud & outside) * FRAME_S)}


def background(dub: Track, orig: Track) -> float | None:
    """dB of ``dub − original`` relative to the original, outside every speech span of either (± tolerance)."""
    n = min(dub.mono.size, orig.mono.size)
    quiet = ~(_mask(n, orig.spans, TOLERANCE_S) | _mask(n, dub.spans, TOLERANCE_S))
    if quiet.sum() < SR // 2:
        return None
    o = orig.mono[:n][quiet].astype(np.float64)
    r = dub.mono[:n][quiet].astype(np.float64) - o
    ref = float(np.sum(o**2))
    if ref <= _EPS:  # digital silence in the original: any residual is a change
        return 0.0 if np.sum(r**2) > _EPS else FLOOR_DB
    return _db(float(np.sum(r**2)) / ref)


def leakage(dub: Track, orig: Track) -> float | None:
    """Gain (dB) at which the original speech is still in the dub track, inside the original's speech.

    With ``dub = b + s + a·speech`` and ``orig = b + speech``: ``Σ dub·orig − B = a·S`` and
    ``Σ orig² − B = S``, where ``B`` is the background's energy there (its power outside all speech)."""
    n = min(dub.mono.size, orig.mono.size)
    speech = _mask(n, orig.spans)
    quiet = ~(_mask(n, orig.spans, TOLERANCE_S) | _mask(n, dub.spans, TOLERANCE_S))
    if speech.sum() < SR // 4:
        return None
    d, o = dub.mono[:n].astype(np.float64), orig.mono[:n].astype(np.float64)
    bg_power = float(np.mean(o[quiet] ** 2)) if quiet.sum() >= SR // 4 else 0.0
    b = bg_power * speech.sum()
    s = float(np.sum(o[speech] ** 2)) - b
    if s <= 0.1 * b or s <= _EPS:  # speech not clearly above the background: cannot tell
        return None
    a = (float(np.sum(d[speech] * o[speech])) - b) / s
    return _db(a * a) if a > 0 else FLOOR_DB


def loudness(dub: Track, orig: Track) -> tuple[float | None, float]:
    """(BS.1770 loudness of the dub minus the original's, over the original's speech; dub true peak)."""
    from lssd.dsp.loudness import integrated_loudness, true_peak_db

    n = min(dub.audio.shape[1], orig.audio.shape[1])
    mask = span_mask(n, orig.spans, dub.sr, 0.0)
    peak = true_peak_db(dub.audio)
    if mask.sum() < 0.4 * dub.sr:
        return None, peak
    ld = integrated_loudness(dub.audio[:, :n][:, mask], dub.sr)
    lo = integrated_loudness(orig.audio[:, :n][:, mask], orig.sr)
    return (ld - lo if ld is not None and lo is not None else None), peak


def speech_of(t: Track) -> np.ndarray:
    """The track's speech (its VAD spans) joined, mono 16 kHz."""
    return _concat(t.mono, _mask(t.mono.size, t.spans))


def f0_difference(dub: Track, orig: Track) -> float | None:
    """Median F0 of the dub's speech minus the original's, in semitones."""
    fd, fo = median_f0(speech_of(dub), SR), median_f0(speech_of(orig), SR)
    return float(12 * np.log2(fd / fo)) if fd and fo else None


def voice(dub: Track, orig: Track) -> float | None:
    from lssd import speaker

    return speaker.similarity(speech_of(dub), speech_of(orig))


def language(dub: Track, tagged: str | None) -> tuple[float | None, str | None, str | None]:
    """(probability of the tagged language, detected language, status override). Override: ``pass`` when
    the tagged language is Whisper's first choice; a language lssd cannot name is not judged."""
    from lssd import langid
    from lssd.errors import BadInputError

    if dub.mono.size < SR // 2 or not np.any(dub.mono):
        return None, None, None
    found = langid.detect(dub.mono, SR)
    try:
        p = found.probability_of(tagged) if tagged and tagged != "und" else None
    except BadInputError:
        p = None
    return p, found.language, ("pass" if p is not None and _is_top(found, tagged) else None)


def _is_top(found, tagged: str) -> bool:
    from lssd.languages import get_language

    return found.language == get_language(tagged).iso3


def measure(dub: Track, orig: Track, tagged: str | None, costs: tuple[str, ...] = (CHEAP, MODEL),
            reference: str | None = None) -> dict:
    """Every measurement of one dub track (values only; statuses are :mod:`lssd.qc.thresholds`' job).
    ``tagged`` is the language the track speaks; ``reference`` the text it was made to say, if known."""
    values: dict = {}
    extra: dict = {}
    if CHEAP in costs:
        values.update(timing(dub, orig))
        values["loudness"], values["true_peak"] = loudness(dub, orig)
        values["background"] = background(dub, orig)
        values["background_under_speech"] = bed.under_speech(dub.mono, orig.mono, SR, orig.spans)
        values["leakage"] = leakage(dub, orig)
        values["f0"] = f0_difference(dub, orig)
    if MODEL in costs:
        values["language"], extra["detected_language"], extra["language_status"] = language(dub, tagged)
        values["voice"] = voice(dub, orig)
        from lssd.qc import intelligibility

        values["intelligibility"], extra["heard"] = intelligibility.measure(dub.mono, tagged, reference)
    return {"values": values, **extra}
