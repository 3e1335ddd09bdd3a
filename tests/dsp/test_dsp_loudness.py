"""Loudness matching (BS.1770) with its peak guard, and the built-in EQ match."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from lssd.dsp import loudness, testsignals
from lssd.dsp.metrics import spectral_distance_db
from lssd.errors import BadInputError, LssdError

from .conftest import SR, need_espeak


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    need_espeak()
    return testsignals.espeak("Hello there, this is a test of loudness matching for dubbed speech.", sr=SR)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return testsignals.espeak("The original speaker says something quite different here.", voice="en+f3", sr=SR)


@pytest.mark.parametrize("target", [-31.0, -23.0, -18.0])
@pytest.mark.parametrize("channels", [1, 2])
def test_match_loudness_hits_the_target(speech, target, channels):
    x = speech if channels == 1 else np.stack([speech, 0.6 * speech])
    y, before, after = loudness.match_loudness(x, SR, target)
    assert y.shape == x.shape
    assert abs(after - target) <= 0.1
    assert abs(loudness.integrated_loudness(y, SR) - target) <= 0.1
    assert before == pytest.approx(loudness.integrated_loudness(x, SR))


def test_peak_guard_limits_softly_and_reports(speech):
    m = loudness.match_loudness_detailed(speech, SR, -12.0)
    assert m.limited
    assert m.true_peak_db <= -1.0 + 0.01
    assert loudness.true_peak_db(m.audio) == pytest.approx(m.true_peak_db)
    assert m.after <= -12.0 + 0.1  # honest: never reports more than it reached
    quiet = loudness.match_loudness_detailed(speech, SR, -30.0)
    assert not quiet.limited


def test_limiter_never_raises_the_level(speech):
    loud = speech * 4
    y = loudness.limit_peaks(loud, SR, -1.0)
    assert loudness.true_peak_db(y) <= -1.0 + 0.01
    assert np.all(np.abs(y) <= np.abs(loud) + 1e-6)


def test_short_clip_is_measured_by_looping(speech):
    clip = speech[int(0.5 * SR):int(0.8 * SR)]  # 0.3 s: under one BS.1770 block
    value = loudness.integrated_loudness(clip, SR)
    assert value is not None and -40 < value < -5
    y, before, after = loudness.match_loudness(clip, SR, -20.0)
    assert y.shape == clip.shape and abs(after + 20.0) <= 0.1


@pytest.mark.parametrize("audio", [np.zeros(SR, np.float32), np.zeros(0, np.float32), np.zeros(200, np.float32) + 0.1,
                                   np.zeros((2, SR), np.float32)], ids=["silent", "empty", "20ms", "silent-stereo"])
def test_silent_or_tiny_input_is_returned_unchanged(audio):
    assert loudness.integrated_loudness(audio, SR) is None
    y, before, after = loudness.match_loudness(audio, SR, -20.0)
    assert before is None and after is None and np.array_equal(y, audio)


def test_eq_match_halves_the_spectral_distance(speech, reference, record_property):
    for dub in (speech, sosfilt(butter(1, 800, "low", fs=SR, output="sos"), speech).astype(np.float32)):
        y, gains = loudness.eq_match(dub, reference, SR)
        before, after = spectral_distance_db(dub, reference, SR), spectral_distance_db(y, reference, SR)
        print(f"EQ match: long-term spectral distance {before:.2f} dB -> {after:.2f} dB "
              f"({1 - after / before:.0%} less)")
        record_property("eq_distance_db", {"before": round(before, 2), "after": round(after, 2)})
        assert after < 0.5 * before
        assert y.shape == dub.shape and y.dtype == np.float32
        assert all(abs(g) <= 12.0 for g in gains.values()) and 1000.0 in gains


def test_eq_adds_no_latency(speech, reference):
    y, _ = loudness.eq_match(speech, reference, SR)
    lags = np.arange(-200, 201)
    corr = [np.dot(y[500 + lag:-500 + lag], speech[500:-500]) for lag in lags]
    assert lags[int(np.argmax(corr))] == 0


def test_eq_is_level_neutral_and_bounded(speech):
    dark = sosfilt(butter(4, 1000, "low", fs=SR, output="sos"), speech).astype(np.float32)
    y, gains = loudness.eq_match(dark, speech, SR, max_db=6.0)
    assert max(gains.values()) == pytest.approx(6.0, abs=0.05) and min(gains.values()) >= -6.0
    stereo = np.stack([speech, speech])
    ys, _ = loudness.eq_match(stereo, speech, SR)
    assert ys.shape == stereo.shape


def test_eq_leaves_silence_and_identity_alone(speech):
    y, gains = loudness.eq_match(speech, speech, SR)
    assert np.array_equal(y, speech) and not any(gains.values())
    silent = np.zeros(SR, np.float32)
    assert np.array_equal(loudness.eq_match(speech, silent, SR)[0], speech)
    assert np.array_equal(loudness.eq_match(silent, speech, SR)[0], silent)


def test_long_term_spectrum_finds_a_tone():
    t = np.arange(2 * SR) / SR
    freqs, power = loudness.long_term_spectrum(np.sin(2 * np.pi * 1000 * t), SR)
    assert abs(freqs[np.argmax(power)] - 1000) <= SR / loudness.eq_fft_size(SR)


@pytest.mark.parametrize("smoothing", ["third octave", "1/0 octave", "2 octave", ""])
def test_bad_smoothing_is_a_user_error(speech, smoothing):
    with pytest.raises(BadInputError):
        loudness.eq_match(speech, speech, SR, smoothing=smoothing)


def test_matchering_is_optional(speech):
    from lssd.dsp import matchering_eq

    try:
        import matchering  # noqa: F401
    except ImportError:
        with pytest.raises(LssdError, match="GPL-3.0"):
            matchering_eq.matchering_match(speech, speech, SR)
    else:
        y = matchering_eq.matchering_match(speech, speech[::-1].copy(), SR)
        assert y.shape == speech.shape


def test_pieces_loudness_and_spectrum_are_the_one_clip_measures(speech, reference):
    """Measured piece by piece (one clip in memory at a time), one piece gives exactly the one-clip figures;
    several pieces give the programme's loudness without the joins of a concatenation."""
    assert loudness.pieces_loudness([speech], SR) == pytest.approx(loudness.integrated_loudness(speech, SR), abs=1e-6)
    short = speech[: int(0.3 * SR)]  # under one gating block: looped, as the one-clip meter does
    assert loudness.pieces_loudness([short], SR) == pytest.approx(loudness.integrated_loudness(short, SR), abs=1e-6)
    assert loudness.pieces_loudness([np.zeros(SR, np.float32)], SR) is None
    quiet = (reference * 0.25).astype(np.float32)  # 12 dB down
    joined = loudness.integrated_loudness(np.concatenate([speech, quiet]), SR)
    together = loudness.pieces_loudness([speech, quiet], SR)
    assert abs(together - joined) < 0.3  # the three blocks across the join of two short clips differ
    assert loudness.pieces_loudness([speech], SR) - together > 0.5  # the quiet piece counts
    freqs, psd = loudness.long_term_spectrum(speech, SR)
    f2, p2 = loudness.pieces_spectrum([speech], SR)
    assert np.array_equal(freqs, f2) and np.allclose(psd, p2, rtol=1e-12)
    half = speech.size // 2
    _, p3 = loudness.pieces_spectrum([speech[:half], speech[half:]], SR)
    band = (freqs > 100) & (freqs < 8000)
    smooth = [loudness.smooth_fractional_octave(freqs, p, 3)[band] for p in (p3, psd)]
    assert np.abs(10 * np.log10(smooth[0] / smooth[1])).max() < 1.0  # 1/3 octave, as the EQ sees them


def test_eq_takes_a_measured_reference_spectrum(speech, reference):
    y1, g1 = loudness.eq_match(speech, reference, SR)
    y2, g2 = loudness.eq_match(speech, loudness.long_term_spectrum(reference, SR), SR)
    assert np.array_equal(y1, y2) and g1 == g2 and any(g1.values())
