"""Video and audio transforms of Appendix A, as small pure functions of arrays and a numpy Generator.

Video: resample to 25 fps, 16 frames uniformly over the window, shorter side random in [256, 320],
random 224x224 crop, then normalised with the Kinetics mean/std (0.45, 0.225) that pytorchvideo's
X3D/MViT recipes use. Audio: log-mel (n_fft 1024, hop 501, 96 mels; torchaudio ``MelSpectrogram``
defaults otherwise: HTK mel scale, no filter normalisation, power 2, centred reflect-padded STFT)
in dB (amin 1e-10, reference 1, no top_db: ``AmplitudeToDB`` defaults), one time and one frequency
mask of up to 50 % of its axis, two channels (mono duplicated to pseudo-stereo, App. B.3.1).
Spectrograms are not normalised further; masked cells take the spectrogram's mean unless
``mask_value`` is set, so a mask reads as "no information" rather than as silence or a loud band.

Everything here is numpy (single-threaded) until the final tensor, so decoding an item never wakes
torch's intra-op thread pool in the training process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy import sparse

from lssd.errors import BadInputError


@dataclass(frozen=True)
class VideoConfig:
    fps: float = 25.0
    num_frames: int = 16
    crop: int = 224
    short_side: tuple[int, int] = (256, 320)  # train: uniform in [lo, hi]; eval: lo, centre crop
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)

    def __post_init__(self) -> None:
        for name in ("short_side", "mean", "std"):  # lists from YAML recipes -> hashable tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        lo, hi = self.short_side
        if len(self.mean) != 3 or len(self.std) != 3:
            raise BadInputError(f"video mean and std need 3 values (RGB), got {self.mean}, {self.std}")
        if self.num_frames < 1 or self.fps <= 0:
            raise BadInputError(f"video needs num_frames >= 1 and fps > 0, got {self}")
        if not self.crop <= lo <= hi:
            raise BadInputError(f"video short_side {self.short_side} must be >= crop {self.crop}")


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 48_000  # 44_100 for the SEP variant (Demucs' rate, App. B.3)
    n_fft: int = 1024
    hop_length: int = 501
    n_mels: int = 96
    channels: int = 2
    max_time_mask: float = 0.5  # fraction of the time axis
    max_freq_mask: float = 0.5  # fraction of the mel axis
    mask_value: float | None = None  # None: the spectrogram's mean

    def __post_init__(self) -> None:
        if self.channels not in (1, 2):
            raise BadInputError(f"audio channels must be 1 or 2, got {self.channels}")
        if not (0 <= self.max_time_mask <= 1 and 0 <= self.max_freq_mask <= 1):
            raise BadInputError("audio mask fractions must lie in [0, 1]")

    def num_samples(self, window: float) -> int:
        return int(round(window * self.sample_rate))

    def num_frames(self, window: float) -> int:
        """Spectrogram frames of a window (centred STFT)."""
        return self.num_samples(window) // self.hop_length + 1


# -------------------------------------------------------------------------------------------- video

def frame_times(start: float, window: float, cfg: VideoConfig) -> np.ndarray:
    """Times of the sampled frames: ``num_frames`` spread uniformly over the window's 25 fps grid."""
    grid = max(1, int(round(window * cfg.fps)))
    idx = np.round(np.linspace(0, grid - 1, cfg.num_frames))
    return start + idx / cfg.fps


def scaled_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(height, width) with the shorter side equal to ``short``, aspect kept."""
    if height <= width:
        return short, max(short, int(round(width * short / height)))
    return max(short, int(round(height * short / width))), short


def sample_scale(rng: np.random.Generator, cfg: VideoConfig, train: bool) -> int:
    lo, hi = cfg.short_side
    return int(rng.integers(lo, hi + 1)) if train else lo


def sample_crop(rng: np.random.Generator, height: int, width: int, crop: int,
                train: bool) -> tuple[int, int]:
    """Top-left corner of the crop: random when training, centred otherwise."""
    if train:
        return int(rng.integers(height - crop + 1)), int(rng.integers(width - crop + 1))
    return (height - crop) // 2, (width - crop) // 2


def video_clip(frames: Sequence[np.ndarray], top: int, left: int, cfg: VideoConfig) -> torch.Tensor:
    """T frames (H, W, 3) uint8 -> the cropped (T, crop, crop, 3) uint8 clip, as the loaders yield it:
    frames as decoded (a row copy each, no transpose on the CPU) and a quarter of float32's bytes
    through worker queues and to the GPU, where :func:`normalise_video` turns a batch into the
    model's channels-first input."""
    return torch.from_numpy(np.stack([f[top:top + cfg.crop, left:left + cfg.crop] for f in frames]))


def normalise_video(clip: torch.Tensor, cfg: VideoConfig) -> torch.Tensor:
    """A uint8 clip or batch of frames (..., T, H, W, 3) -> the model's float32 input (..., 3, T, H, W),
    ``(x / 255 - mean) / std`` per channel, on the clip's device (the transpose too: a GPU does it for
    nothing). A float tensor is returned as it is (already normalised, channels first)."""
    if clip.is_floating_point():
        return clip
    scale, bias = (torch.from_numpy(a).to(clip.device) for a in _normalisation(cfg.mean, cfg.std))
    return clip.movedim(-1, -4).contiguous().to(torch.float32) * scale + bias


def video_tensor(frames: Sequence[np.ndarray], top: int, left: int, cfg: VideoConfig) -> torch.Tensor:
    """T frames (H, W, 3) uint8 -> cropped, normalised (3, T, crop, crop) float32."""
    return normalise_video(video_clip(frames, top, left, cfg), cfg)


@lru_cache(maxsize=4)
def _normalisation(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(x / 255 - mean) / std as x * scale + bias, shaped to broadcast over (3, T, H, W)."""
    scale = (1.0 / (255.0 * np.array(std))).astype(np.float32).reshape(3, 1, 1, 1)
    bias = (-np.array(mean) / np.array(std)).astype(np.float32).reshape(3, 1, 1, 1)
    return scale, bias


# -------------------------------------------------------------------------------------------- audio

@lru_cache(maxsize=8)
def mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> sparse.csr_matrix:
    """(n_mels, n_fft // 2 + 1) HTK-scale, unnormalised triangles: torchaudio's MelSpectrogram
    defaults. Sparse, because each band touches a few FFT bins."""
    import librosa

    bank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, htk=True, norm=None)
    return sparse.csr_matrix(bank.astype(np.float32))


def log_mel(audio: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """(C, N) float waveform -> (C, n_mels, frames) float32 power mel spectrogram in dB.

    Centred STFT with reflect padding and a periodic Hann window, as torch.stft/torchaudio. Written
    with SciPy's single-threaded FFT and a sparse filterbank so a loader item starts no thread pool:
    in the training process (``num_workers=0``) intra-op threads only add contention. SciPy transforms
    float32 in float32, as torch.stft does: a quarter of numpy's CPU (numpy 2's float32 FFT is slower
    than its float64 one), and the same float32 floor as torchaudio, 100 dB or more under the peak.
    """
    from scipy import fft

    half = cfg.n_fft // 2
    wave = np.pad(np.asarray(audio, dtype=np.float32), ((0, 0), (half, half)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(wave, cfg.n_fft, axis=-1)[:, ::cfg.hop_length]
    power = np.abs(fft.rfft(frames * _hann(cfg.n_fft), axis=-1, workers=1)) ** 2  # (C, frames, bins)
    bank = mel_filters(cfg.sample_rate, cfg.n_fft, cfg.n_mels)
    mel = np.stack([bank @ channel.T for channel in power]).astype(np.float32)
    return 10.0 * np.log10(np.maximum(mel, 1e-10))


@lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def mask_spectrogram(spec: np.ndarray, rng: np.random.Generator, cfg: AudioConfig
                     ) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """One frequency and one time mask, widths uniform in [0, max fraction x axis], same across
    channels. Returns the spectrogram and the (start, width) of the frequency and time masks."""
    n_mels, n_frames = spec.shape[-2:]
    value = float(spec.mean()) if cfg.mask_value is None else cfg.mask_value
    f_mask = _span(rng, n_mels, cfg.max_freq_mask)
    t_mask = _span(rng, n_frames, cfg.max_time_mask)
    spec = spec.copy()
    spec[..., f_mask[0]:f_mask[0] + f_mask[1], :] = value
    spec[..., t_mask[0]:t_mask[0] + t_mask[1]] = value
    return spec, f_mask, t_mask


def _span(rng: np.random.Generator, size: int, max_fraction: float) -> tuple[int, int]:
    width = int(rng.integers(int(size * max_fraction) + 1))
    return int(rng.integers(size - width + 1)), width


def audio_features(wave: np.ndarray, rng: np.random.Generator, cfg: AudioConfig,
                   train: bool) -> torch.Tensor:
    """(C, N) waveform -> (cfg.channels, n_mels, frames) float32: log-mel, masked when training.

    Mono is duplicated to pseudo-stereo after masking (App. B.3.1); stereo is averaged for a mono model.
    """
    if cfg.channels == 1 and wave.shape[0] > 1:
        wave = wave.mean(axis=0, keepdims=True)
    spec = log_mel(wave, cfg)
    if train:
        spec = mask_spectrogram(spec, rng, cfg)[0]
    if spec.shape[0] != cfg.channels:
        spec = np.repeat(spec, cfg.channels, axis=0)
    return torch.from_numpy(np.ascontiguousarray(spec))
