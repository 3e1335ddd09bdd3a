"""How well a dub keeps the background *under* its speech — where a listener hears a separator's damage
first, and where QC's ``background`` metric (measured outside speech only) cannot look.

Neither stem is known in a finished container, but the dub's speech, the original's speech and the bed are
mutually uncorrelated, and the bed is roughly steady over a few seconds. So within each original speech
span, the dub's and the original's cross-energy ``Σ dub·orig`` is ``g·B``: ``B`` the bed's energy there
(its power in the original just around the span, outside speech, times the span's length) and ``g`` the
part of it the dub kept in step. The metric is the bed energy the dub lost or altered, relative to the bed:
``10·log10(Σ B·(1 − g)² / Σ B)`` over the spans, in dB (−60 = kept). Spans whose bed is buried more than
:data:`BURIED_DB` under the speech, or that have no bed around them to measure, are left out (n/a when none
is left: the bed is inaudible there anyway).

It sees a bed ducked, gated, thinned by a spectral mask, or mixed with the original speech (which also adds
to ``g``); it does not see noise or artefacts that are uncorrelated with the bed, so it reads optimistic in
absolute terms (an ideal ratio mask: −18 dB here for a true error of −8 dB). What it is built to do is rank
separators as the truth does: validated on generated clips with known stems (tests/qc/test_background.py,
benchmarks/background_under_speech.py), where it orders true bed < ideal-mask separator < sharpened mask <
lssd's DSP fallback < ducked < gated, as the true error does.
"""

from __future__ import annotations

import numpy as np

Span = tuple[float, float]

FRAME = 512  # STFT at 16 kHz: 32 ms frames
HOP = 160  # 10 ms
REACH_S = 2.0  # seconds around a span whose speech-free frames estimate the bed under it
TOLERANCE_S = 0.2  # speech spans widened by this much before a frame counts as speech-free
MIN_BED_S = 0.2  # seconds of speech-free bed a span needs around it
BURIED_DB = -15.0  # a bed this far under the original speech is not measured
FLOOR_DB = -60.0


def under_speech(dub: np.ndarray, orig: np.ndarray, sr: int, spans: list[Span]) -> float | None:
    """dB of the bed lost or altered under the original's speech ``spans`` (mono ``dub`` and ``orig`` at
    ``sr``, same timeline); None when no span has a measurable bed."""
    import librosa

    n = min(dub.size, orig.size)
    if n < FRAME or not spans:
        return None
    d = librosa.stft(np.asarray(dub[:n], dtype=np.float32), n_fft=FRAME, hop_length=HOP, center=True)
    o = librosa.stft(np.asarray(orig[:n], dtype=np.float32), n_fft=FRAME, hop_length=HOP, center=True)
    cross = np.real(d * np.conj(o)).sum(axis=0)  # per frame: Σ_f Re(D·O*) ∝ Σ dub·orig
    power = (np.abs(o) ** 2).sum(axis=0)
    t = np.arange(d.shape[1]) * HOP / sr
    speech = np.zeros(t.size, dtype=bool)
    for a, b in spans:
        speech |= (t >= a - TOLERANCE_S) & (t <= b + TOLERANCE_S)
    lost = total = 0.0
    for a, b in spans:
        inside = (t >= a) & (t <= b)
        near = ~speech & (t >= a - REACH_S) & (t <= b + REACH_S)
        if not inside.any() or near.sum() * HOP / sr < MIN_BED_S:
            continue
        bed = float(power[near].mean()) * inside.sum()
        said = float(power[inside].sum()) - bed
        if bed <= 0 or bed < 10 ** (BURIED_DB / 10) * max(said, 0.0):
            continue
        kept = float(cross[inside].sum()) / bed
        lost += bed * (1.0 - kept) ** 2
        total += bed
    if total <= 0:
        return None
    return max(FLOOR_DB, 10 * np.log10(lost / total)) if lost > 0 else FLOOR_DB
