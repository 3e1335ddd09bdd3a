"""Dubs with known faults, for QC's tests and benchmark: one container, one original track, one dub track
per case, built from espeak-ng speech over a known background and muxed with ffmpeg (no pipeline run).

Every case is the good dub with exactly one thing wrong, so each must be flagged by its own metric.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lssd import sidecar
from lssd.media import SAMPLE_RATE, atomic_output, require_tool, write_audio
from lssd.samples import music_background, speak

ORIGINAL = (
    (0.6, "The boats come back before the evening storm."),
    (4.4, "Nobody knows where the old keeper went last winter."),
)
DUB = (
    "Los barcos vuelven antes de la tormenta de la tarde.",
    "Nadie sabe adónde fue el viejo guardián el invierno pasado.",
)
ENGLISH_AGAIN = (
    "The water was cold and the sky was grey all day long.",
    "We walked along the beach and talked about the summer.",
)
PERIOD = 9.0  # seconds: the two lines, then a pause
SPEECH_DB = -22.0
BACKGROUND_DB = -32.0

# case → the metric that must flag it
CASES = {
    "good": None,
    "late": "timing",
    "loud": "loudness",
    "leak": "leakage",
    "background": "background",
    "english": "language",
    "voice": "voice",
    "offset": "sync",  # the whole track 30 ms late
    "short": "length",  # cut off at half the original's length
    "ducked": "background_under_speech",  # the bed ducked by 10 dB under the speech (a gating separator)
    "noisy": "intelligibility",  # the good dub buried in noise inside the speech spans
    "other_text": "intelligibility",  # Spanish, fluent, but not the text it was made to say
}
OTHER_TEXT = (
    "El tren sale a las ocho de la mañana todos los días.",
    "Mi hermana compró tres manzanas rojas en el mercado.",
)
OFFSET_S = 0.03
DUCK_DB = -10.0
NOISE_SNR_DB = -6.0  # speech-to-noise ratio of the noisy case inside the speech spans (the noise is louder)


@dataclass
class SyntheticDub:
    path: Path
    cases: list[str]  # audio track i + 1 is cases[i]
    spans: list[tuple[float, float]]  # original speech, seconds
    duration: float

    def track(self, case: str) -> int:
        """The audio track (0-based; 0 is the original) holding ``case``."""
        return self.cases.index(case) + 1


def _level(x: np.ndarray, db: float) -> np.ndarray:
    return (x * (10 ** (db / 20) / (np.sqrt(np.mean(x**2)) + 1e-12))).astype(np.float32)


def _place(n: int, pieces: list[tuple[float, np.ndarray]], sr: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    for start, x in pieces:
        a = round(start * sr)
        b = min(n, a + x.size)
        out[a:b] += x[: b - a]
    return out


def _fitted(text: str, voice: str, pitch: int, seconds: float, sr: int) -> np.ndarray:
    """espeak-ng speech spoken at the rate that fills ``seconds`` (pitch kept), cut or padded to it."""
    rate = 160
    x = speak(text, voice, rate, pitch)
    rate = int(np.clip(rate * x.size / (seconds * sr), 80, 450))
    x = speak(text, voice, rate, pitch)[: int(seconds * sr)]
    return np.pad(x, (0, int(seconds * sr) - x.size))


def build(path: Path, cases: list[str] | None = None, duration: float = 9.0) -> SyntheticDub:
    """Write ``path`` (mkv): testsrc2 picture, the original mix, one dub track per case, and a sidecar."""
    cases = list(cases or CASES)
    sr = SAMPLE_RATE
    n = int(duration * sr)
    bg = music_background(duration, sr, seed=0, level_db=BACKGROUND_DB)
    said = [(t, _level(speak(text), SPEECH_DB)) for t, text in ORIGINAL]
    # the lines repeat every PERIOD seconds for as long as they fit (a longer clip for the benchmark)
    orig_lines = [(t + k * PERIOD, x) for k in range(max(1, int(duration // PERIOD))) for t, x in said
                  if t + k * PERIOD + x.size / sr <= duration]
    spans = [(t, t + x.size / sr) for t, x in orig_lines]
    orig_speech = _place(n, orig_lines, sr)

    def dub_speech(texts=DUB, voice="es", pitch=50, shift=0.0, gain_db=0.0) -> np.ndarray:
        pieces = []
        for (a, b), text in zip(spans, texts * len(spans)):
            x = _fitted(text, voice, pitch, b - a, sr)
            pieces.append((a + shift, _level(x, SPEECH_DB + gain_db)))
        return _place(n, pieces, sr)

    good = dub_speech()
    inside = np.zeros(n, dtype=np.float32)
    for a, b in spans:
        inside[int(a * sr):int(b * sr)] = 1.0
    rng = np.random.default_rng(3)
    from scipy.signal import butter, sosfilt

    band = sosfilt(butter(4, (300, 3400), btype="bandpass", fs=sr, output="sos"), rng.standard_normal(n))
    noise = _level(band.astype(np.float32), SPEECH_DB - NOISE_SNR_DB) * inside  # telephone-band: where speech is
    duck = np.convolve(inside, np.ones(int(0.05 * sr)) / int(0.05 * sr), mode="same")  # 50 ms ramps
    duck = 1.0 - (1.0 - 10 ** (DUCK_DB / 20)) * duck
    lag = int(round(OFFSET_S * sr))
    tracks = {
        "good": bg + good,
        "late": bg + dub_speech(shift=1.0),
        "loud": bg + dub_speech(gain_db=6.0),
        "leak": bg + good + orig_speech * 10 ** (-6 / 20),
        "background": music_background(duration, sr, seed=7, level_db=BACKGROUND_DB)[:, ::-1].copy() + good,
        "english": bg + dub_speech(texts=ENGLISH_AGAIN, voice="en"),
        "voice": bg + dub_speech(voice="es+f3", pitch=85),
        "offset": np.pad(bg + good, ((0, 0), (lag, 0)))[:, :n],
        "short": (bg + good)[:, : n // 2],
        "ducked": bg * duck[None, :].astype(np.float32) + good,
        "noisy": bg + good + noise,
        "other_text": bg + dub_speech(texts=OTHER_TEXT),
    }
    entries = [sidecar.track_entry(0, "eng", sidecar.KIND_ORIGINAL, "English (original)")]
    entries += [sidecar.track_entry(i + 1, "spa", sidecar.KIND_SYNTHETIC_DUB, f"Spanish ({c})",
                                    sidecar.TEXT_TRANSLATION) for i, c in enumerate(cases)]
    segments = [{"id": i, "start": a, "end": b, "text": t, "dubbed": True,
                 "targets": {"spa": {"text": d, "start": a, "end": b, "stretch_ratio": 1.1, "policy": "fit",
                                     "borrowed_s": 0.0, "trimmed_s": 0.0}}}
                for i, ((a, b), (_, t), d) in enumerate(zip(spans, ORIGINAL * len(spans), DUB * len(spans)))]
    with tempfile.TemporaryDirectory(prefix="lssd-qc-") as tmp:
        wavs = [Path(tmp) / "original.wav"]
        write_audio(wavs[0], bg + orig_speech[None, :], sr)
        for c in cases:
            wavs.append(Path(tmp) / f"{c}.wav")
            write_audio(wavs[-1], tracks[c], sr)
        _mux(wavs, Path(path), duration, ["eng"] + ["spa"] * len(cases), [e["title"] for e in entries])
    sidecar.write(sidecar.path_for(Path(path)), {"format": sidecar.FORMAT, "output": Path(path).name,
                                                 "duration": duration, "source_language": "eng",
                                                 "tracks": entries, "segments": segments})
    return SyntheticDub(Path(path), cases, spans, duration)


def _mux(wavs: list[Path], out: Path, duration: float, languages: list[str], titles: list[str]) -> None:
    cmd = [require_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
           f"testsrc2=size=320x180:rate=25:duration={duration:.3f}"]
    for w in wavs:
        cmd += ["-i", str(w)]
    cmd += ["-map", "0:v"] + [x for i in range(len(wavs)) for x in ("-map", f"{i + 1}:a")]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "flac"]
    for i, (lang, title) in enumerate(zip(languages, titles)):
        cmd += [f"-metadata:s:a:{i}", f"language={lang}", f"-metadata:s:a:{i}", f"title={title}"]
    with atomic_output(out) as tmp:
        subprocess.run([*cmd, "-f", "matroska", str(tmp)], check=True, capture_output=True)


# ------------------------------------------------------------------ known stems: the bed under the speech

@dataclass
class KnownStems:
    """A clip's parts, each known: the music bed, the original speech, a dub's speech, where speech is."""

    bed: np.ndarray  # (2, n)
    speech: np.ndarray  # (n,) the original speech
    dub_speech: np.ndarray  # (n,) Spanish speech of the same spans
    spans: list[tuple[float, float]]
    sr: int

    @property
    def mix(self) -> np.ndarray:
        return self.bed + self.speech[None, :]


def known_stems(duration: float = 18.0, seed: int = 0, sr: int = SAMPLE_RATE) -> KnownStems:
    """The original lines (every :data:`PERIOD` s) over a music bed of its own ``seed``, and a dub's speech."""
    n = int(duration * sr)
    bed = music_background(duration, sr, seed=seed, level_db=BACKGROUND_DB + 2.0)
    lines = [(t + k * PERIOD, _level(speak(text), SPEECH_DB)) for k in range(max(1, int(duration // PERIOD)))
             for t, text in ORIGINAL]
    spans = [(t, t + x.size / sr) for t, x in lines]
    dub = [(a, _level(_fitted(text, "es", 50, b - a, sr), SPEECH_DB)) for (a, b), text in zip(spans, DUB * len(spans))]
    return KnownStems(bed, _place(n, lines, sr), _place(n, dub, sr), spans, sr)


def separated_beds(stems: KnownStems) -> dict[str, np.ndarray]:
    """The bed as separators of falling quality would estimate it from the mix, best first: the true bed,
    an ideal ratio mask (oracle), the same mask sharpened (cube: more bed taken with the speech), lssd's DSP
    fallback separator, the bed ducked by 10 dB under speech, and the bed gated off under speech."""
    import librosa

    from lssd.backends.dsp_separator import DspSeparator
    from lssd.dsp.metrics import span_mask

    def mask(power: float) -> np.ndarray:
        out = []
        for c in range(stems.bed.shape[0]):
            m = librosa.stft(stems.mix[c], n_fft=2048, hop_length=512)
            b = librosa.stft(stems.bed[c], n_fft=2048, hop_length=512)
            ratio = (np.abs(b) ** 2 / (np.abs(b) ** 2 + np.abs(m - b) ** 2 + 1e-12)) ** power
            out.append(librosa.istft(m * ratio, hop_length=512, length=stems.mix.shape[1]))
        return np.stack(out).astype(np.float32)

    n, sr = stems.mix.shape[1], stems.sr
    speaking = span_mask(n, stems.spans, sr, 0.1)
    return {
        "true bed": stems.bed,
        "ideal ratio mask": mask(1.0),
        "sharpened mask": mask(3.0),
        "lssd dsp": DspSeparator().separate(stems.mix, sr)[1],
        "ducked 10 dB": stems.bed * np.where(speaking, 10 ** (DUCK_DB / 20), 1.0)[None, :].astype(np.float32),
        "gated": stems.bed * np.where(speaking, 0.0, 1.0)[None, :].astype(np.float32),
    }


def true_bed_error(estimate: np.ndarray, stems: KnownStems) -> float:
    """dB of the estimate's error against the true bed, under the original speech, relative to the bed."""
    from lssd.dsp.metrics import span_mask

    inside = span_mask(stems.bed.shape[1], stems.spans, stems.sr, 0.0)
    err = float(np.sum((estimate - stems.bed)[:, inside].astype(np.float64) ** 2))
    return 10 * np.log10(max(err, 1e-12) / float(np.sum(stems.bed[:, inside].astype(np.float64) ** 2)))
