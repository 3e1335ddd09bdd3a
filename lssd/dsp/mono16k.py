"""Audio as Silero VAD and Whisper take it: mono float32 at 16 kHz, made block by block, and its energy
per 0.1 s. One home below both users (:mod:`lssd.backends.vad` scans tracks with it, :mod:`lssd.langid`
finds the loudest window with it), so neither imports the other."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lssd.media import BLOCK, array_blocks

RATE = 16_000
ENERGY_HOP = RATE // 10  # samples: the loudest window is found to 0.1 s


def mono16k_blocks(audio: np.ndarray, sr: int) -> Iterator[np.ndarray]:
    """(channels, n) or (n,) at ``sr`` → consecutive blocks of mono float32 at 16 kHz, what both Silero and
    Whisper want. Mixed down and resampled block by block (soxr streaming gives the samples of a one-shot
    ``soxr_hq`` resample), so a long memory-mapped track is never whole in memory."""
    if not isinstance(audio, np.memmap):  # a mapped work track is read from its file block by block
        audio = np.asarray(audio, dtype=np.float32)
    n = audio.shape[-1]
    if sr == RATE:
        for block in array_blocks(audio, BLOCK):
            yield np.ascontiguousarray(block.mean(axis=0) if block.ndim == 2 else block, dtype=np.float32)
        return
    import soxr

    stream = soxr.ResampleStream(sr, RATE, 1, dtype="float32", quality="HQ")
    for a, block in zip(range(0, n, BLOCK), array_blocks(audio, BLOCK)):
        mono = block.mean(axis=0) if block.ndim == 2 else block
        yield stream.resample_chunk(np.ascontiguousarray(mono), last=a + BLOCK >= n)


def to_mono16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """The whole of :func:`mono16k_blocks` as one array (Whisper takes the whole signal)."""
    return np.concatenate([np.zeros(0, dtype=np.float32), *mono16k_blocks(audio, sr)])


def frame_energy(audio16k: np.ndarray) -> np.ndarray:
    """Energy (sum of squares, float64) of each :data:`ENERGY_HOP` samples of mono 16 kHz audio, the last
    frame possibly shorter: what :func:`lssd.langid.loudest_span` ranks."""
    x = np.asarray(audio16k, dtype=np.float64)
    return np.add.reduceat(x**2, np.arange(0, x.size, ENERGY_HOP)) if x.size else np.zeros(0)
