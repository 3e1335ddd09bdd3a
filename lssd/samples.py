"""Generated sample clips with known parts: a moving picture, a background of music and noise, and
espeak-ng English speech at known times. Examples, tests and benchmarks use them because every part
is known, so separation, placement and loudness can be measured against the truth."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lssd.dsp.testsignals import espeak
from lssd.media import SAMPLE_RATE, atomic_output, read_audio, require_tool, write_audio

DEFAULT_LINES = (
    (0.8, "Welcome to the harbour. The boats come back before the evening storm."),
    (6.2, "Nobody knows where the old lighthouse keeper went last winter."),
)


@dataclass
class SampleClip:
    path: Path
    background: Path  # the exact background that was mixed in (a WAV)
    speech: Path  # the exact speech that was mixed in (a WAV)
    spans: list[tuple[float, float]] = field(default_factory=list)  # where speech is, seconds
    lines: list[str] = field(default_factory=list)
    duration: float = 0.0
    speakers: list[str] = field(default_factory=list)  # who speaks each line (conversation clips)


def speak(text: str, voice: str = "en", rate: int = 160, pitch: int = 50) -> np.ndarray:
    """espeak-ng speech as mono float32 at SAMPLE_RATE, leading/trailing silence trimmed."""
    audio = espeak(text, voice, pitch=pitch, speed=rate)
    active = np.flatnonzero(np.abs(audio) > 1e-3)
    return audio[active[0] : active[-1] + 1] if active.size else audio


def music_background(duration: float, sr: int = SAMPLE_RATE, seed: int = 0, level_db: float = -26.0) -> np.ndarray:
    """Stereo chords changing every 1.5 s plus soft pink-ish noise: stationary enough to be a
    background, structured enough that a separator cannot just subtract a constant."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    chords = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (164.8, 207.7, 246.9))
    out = np.zeros(n, dtype=np.float64)
    block = int(1.5 * sr)
    env = np.minimum(1.0, np.minimum(np.arange(block), block - np.arange(block)) / (0.05 * sr))
    for b, start in enumerate(range(0, n, block)):
        seg = slice(start, min(start + block, n))
        for f in chords[b % len(chords)]:
            out[seg] += np.sin(2 * np.pi * f * t[seg]) * env[: seg.stop - seg.start] / 3
    noise = np.cumsum(rng.standard_normal(n)) * 0.002
    noise -= np.convolve(noise, np.ones(2048) / 2048, mode="same")
    out = out + noise
    out *= 10 ** (level_db / 20) / (np.sqrt(np.mean(out**2)) + 1e-12)
    stereo = np.stack([out, np.roll(out, int(0.0007 * sr))])
    return stereo.astype(np.float32)


def make_sample_clip(path: Path, *, duration: float = 12.0, lines=DEFAULT_LINES, voice: str = "en",
                     speech_db: float = -18.0, background_db: float = -26.0, size: str = "320x180",
                     fps: int = 25, seed: int = 0, audio_codec: str = "aac") -> SampleClip:
    """Write a video (mp4/mkv by suffix) whose audio is known background + espeak speech at known times."""
    path = Path(path)
    sr = SAMPLE_RATE
    n = int(round(duration * sr))
    background = music_background(duration, sr, seed, background_db)
    speech = np.zeros(n, dtype=np.float32)
    spans, texts = [], []
    for start, text in lines:
        s = speak(text, voice)
        s *= 10 ** (speech_db / 20) / (np.sqrt(np.mean(s**2)) + 1e-12)
        a = int(round(start * sr))
        b = min(n, a + s.size)
        speech[a:b] += s[: b - a]
        spans.append((a / sr, b / sr))
        texts.append(text)
    mix = background + speech[None, :]
    bg_path = path.with_name(f"{path.stem}.background.wav")
    speech_path = path.with_name(f"{path.stem}.speech.wav")
    write_audio(bg_path, background, sr)
    write_audio(speech_path, speech, sr)
    with tempfile.TemporaryDirectory(prefix="lssd-sample-") as tmp:
        mix_path = Path(tmp) / "mix.wav"
        write_audio(mix_path, mix, sr)
        _mux_picture(mix_path, path, duration, size, fps, audio_codec)
    return SampleClip(path=path, background=bg_path, speech=speech_path, spans=spans, lines=texts, duration=duration)


# (espeak-ng voice, pitch 0-99) per speaker of a generated conversation: low man, woman, higher man
CONVERSATION_VOICES = (("en+m3", 25), ("en+f2", 70), ("en-us+m6", 55))
CONVERSATION = (
    (0, "Did you see the boats come back before the storm?"),
    (1, "I did, they were late again tonight."),
    (0, "The old keeper says the sea will be rough tomorrow."),
    (1, "Then nobody should go out until the wind drops."),
)

# two men's voices (the low m3 and the mid m6) taking nine turns: closer to each other than a man and a woman
MEN_CONVERSATION = ((0, "Did you see the boats come back before the storm?"), (2, "I did, they were late again tonight."),
                    (0, "The old keeper says the sea will be rough tomorrow."),
                    (2, "Then nobody should go out until the wind drops."),
                    (0, "The old keeper says the sea will be rough tomorrow."),
                    (2, "Then nobody should go out until the wind drops."),
                    (2, "Well, I am going out anyway, the fish will not wait for us."),
                    (0, "Take the small boat then, and come back before dark."), (2, "I always do."))


def make_conversation_clip(path: Path, *, lines=CONVERSATION, gap: float = 0.25,
                           start: float = 0.6, music: bool = True, speech_db: float = -18.0,
                           background_db: float = -28.0, seed: int = 0) -> SampleClip:
    """Speakers taking turns (``lines`` = (speaker index, text)), each an espeak-ng voice of its own pitch
    (:data:`CONVERSATION_VOICES`), ``gap`` seconds apart: gaps this short put several turns inside one
    sentence-level segment. ``spans`` and ``speakers`` are the truth per line (speaker ids S1, S2, …)."""
    sr = SAMPLE_RATE
    pieces, spans, who = [], [], []
    t = start
    for index, text in lines:
        voice, pitch = CONVERSATION_VOICES[index]
        s = espeak(text, voice, pitch=pitch, speed=165)
        active = np.flatnonzero(np.abs(s) > 1e-3)
        s = s[active[0]:active[-1] + 1] if active.size else s
        s *= 10 ** (speech_db / 20) / (np.sqrt(np.mean(s**2)) + 1e-12)
        pieces.append((t, s))
        spans.append((t, t + s.size / sr))
        who.append(f"S{index + 1}")
        t += s.size / sr + gap
    duration = round(t - gap + 0.5, 2)  # the default conversation stays under 12 s: one shot the index keeps
    n = int(round(duration * sr))
    speech = np.zeros(n, dtype=np.float32)
    for t0, s in pieces:
        a = int(round(t0 * sr))
        speech[a:a + s.size] += s[: n - a]
    background = music_background(duration, sr, seed, background_db) if music else np.zeros((2, n), np.float32)
    path = Path(path)
    bg_path, speech_path = path.with_name(f"{path.stem}.background.wav"), path.with_name(f"{path.stem}.speech.wav")
    write_audio(bg_path, background, sr)
    write_audio(speech_path, speech, sr)
    with tempfile.TemporaryDirectory(prefix="lssd-sample-") as tmp:
        mix_path = Path(tmp) / "mix.wav"
        write_audio(mix_path, background + speech[None, :], sr)
        _mux_picture(mix_path, path, duration, "320x180", 25, "aac")
    return SampleClip(path=path, background=bg_path, speech=speech_path, spans=spans,
                      lines=[text for _, text in lines], duration=duration, speakers=who)


def make_clip_from_audio(audio_path: Path, path: Path, *, size: str = "320x180", fps: int = 25,
                         audio_codec: str = "aac") -> Path:
    """A video with a generated picture over a given recording (e.g. a real speech file)."""
    audio = read_audio(Path(audio_path), SAMPLE_RATE)
    duration = audio.shape[1] / SAMPLE_RATE
    with tempfile.TemporaryDirectory(prefix="lssd-sample-") as tmp:
        wav = Path(tmp) / "a.wav"
        write_audio(wav, audio, SAMPLE_RATE)
        _mux_picture(wav, Path(path), duration, size, fps, audio_codec)
    return Path(path)


def _mux_picture(audio: Path, out: Path, duration: float, size: str, fps: int, audio_codec: str) -> None:
    ffmpeg = require_tool("ffmpeg")
    picture = f"testsrc2=size={size}:rate={fps}:duration={duration:.3f}"
    acodec = ["-c:a", "aac", "-b:a", "160k"] if audio_codec == "aac" else ["-c:a", audio_codec]
    fmt = "mp4" if out.suffix == ".mp4" else "matroska"
    with atomic_output(out) as tmp:
        subprocess.run(
            [ffmpeg, "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", picture, "-i", str(audio),
             "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
             *acodec, "-metadata:s:a:0", "language=eng", "-t", f"{duration:.3f}", "-f", fmt, str(tmp)],
            check=True, capture_output=True,
        )
