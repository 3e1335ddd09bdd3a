"""Cutting media into the model's windows and decoding them exactly as training does, minus augmentation.

The authors embed with non-overlapping 3 s windows (the recipe's ``data.window``). Frames come from
the trainer's :class:`~lssd.train.data.MediaReader` at 25 fps, shorter side at the low end of the
training scale range, centre crop; audio is the trainer's log-mel without masking, on the video's clock,
mono duplicated to two channels (App. B.3.1). Which audio stream is read follows the index's rule
for the original language (sidecar, then stream flags), or a language the caller names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lssd import sidecar
from lssd.errors import BadInputError
from lssd.languages import get_language
from lssd.train.augment import (AudioConfig, VideoConfig, audio_features, frame_times, sample_crop,
                                sample_scale, scaled_size, video_tensor)
from lssd.train.data import MediaReader

UNTAGGED = "und"
_EVAL_RNG = np.random.default_rng(0)  # the augmentation functions take a Generator; eval never draws


def window_starts(duration: float, window: float) -> np.ndarray:
    """Starts (s) of non-overlapping windows from 0. A remainder of at least half a window gets one
    more window aligned to the end (so a 5 s clip is not embedded from its first 3 s only); media
    shorter than a window gets one window at 0, padded by the decoder."""
    if window <= 0:
        raise BadInputError(f"window must be positive, got {window}")
    if duration <= window:
        return np.zeros(1)
    count = int(np.floor(duration / window + 1e-9))
    starts = np.arange(count) * window
    if duration - count * window >= window / 2:
        starts = np.append(starts, duration - window)
    return starts.astype(np.float64)


@dataclass(frozen=True)
class MediaInfo:
    """What embedding one file needs to know about it."""

    path: Path
    video_stream: int
    duration: float  # seconds
    fps: float
    audio_index: int  # ffmpeg a:N
    language: str  # ISO 639-2/T of that stream, "und" when untagged


def probe_media(path: Path, language: str | None = None) -> MediaInfo:
    """Streams, duration and the audio stream to read: ``language`` if given, else the original."""
    from lssd.train.index import probe_title, resolve_original, stated_original

    path = Path(path)
    side = sidecar.read(path)
    try:
        probe = probe_title(path, side)
    except BadInputError as err:
        raise BadInputError(f"{path.name}: {err}") from None
    except Exception as err:  # noqa: BLE001 - PyAV raises many types for broken files
        raise BadInputError(f"{path.name} cannot be opened ({type(err).__name__}: {err})") from None
    tracks = probe.tracks
    if language is not None:
        wanted = get_language(language).iso3
        match = [t for t in tracks if t.language == wanted]
        if not match:
            have = ", ".join(t.language for t in tracks) or "untagged audio only"
            raise BadInputError(f"{path.name} has no {wanted} audio stream ({have})")
        return MediaInfo(path, probe.video_stream, probe.duration, probe.fps, match[0].audio_index, wanted)
    if not tracks:  # a plain download: one untagged stream is the original
        return MediaInfo(path, probe.video_stream, probe.duration, probe.fps, 0, UNTAGGED)
    original, _ = resolve_original(tracks, stated_original(path, path.name, side, {}))
    track = next(t for t in tracks if t.language == original)
    return MediaInfo(path, probe.video_stream, probe.duration, probe.fps, track.audio_index, original)


def video_input(reader: MediaReader, info: MediaInfo, start: float, window: float,
                cfg: VideoConfig) -> torch.Tensor:
    """(3, T, crop, crop) float32: the training transform without its randomness."""
    times = np.minimum(frame_times(start, window, cfg), max(0.0, info.duration - 0.5 / info.fps))
    src_h, src_w = reader.video.codec_context.height, reader.video.codec_context.width
    height, width = scaled_size(src_h, src_w, sample_scale(_EVAL_RNG, cfg, False))
    frames = reader.frames(times, (height, width))
    top, left = sample_crop(_EVAL_RNG, height, width, cfg.crop, False)
    return video_tensor(frames, top, left, cfg)


def audio_input(reader: MediaReader, info: MediaInfo, start: float, window: float,
                cfg: AudioConfig) -> torch.Tensor:
    """(channels, n_mels, frames) float32 log-mel of the chosen stream, unmasked."""
    wave = reader.audio(info.audio_index, start, window, cfg.sample_rate)
    return audio_features(wave, _EVAL_RNG, cfg, train=False)


def waveform_input(wave: np.ndarray, cfg: AudioConfig) -> torch.Tensor:
    """A mono or (C, N) waveform already cut to one window → the model's log-mel input."""
    wave = np.asarray(wave, dtype=np.float32)
    return audio_features(wave[None] if wave.ndim == 1 else wave, _EVAL_RNG, cfg, train=False)
