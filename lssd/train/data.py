"""Quadruplets (v_p, a_p, v_s, a_s) decoded from the shot index with PyAV (App. A).

For one shot: two random 3 s windows (temporal jitter), the primary and the secondary instance. Each
gets its own video augmentation; a_p is decoded from the primary language's audio stream and a_s from
the secondary's (a dub when the policy and the title allow, see :mod:`lssd.train.sampler`).

Decoding seeks to the window and decodes only up to its end, single-threaded (workers are the
parallelism; see :class:`MediaReader`). Containers are opened lazily in the process that reads them
(each DataLoader worker has its own) and kept in a small LRU cache; the dataset holds no other
state, so an item is a pure function of its :class:`SampleKey`.

Batch keys: ``v_p``, ``v_s`` (B, T, H, W, 3) uint8 RGB frames (the crop; the trainer turns them into the
model's (B, 3, T, H, W) float input on its device with :func:`lssd.train.augment.normalise_video`); ``a_p``, ``a_s`` (B, C, n_mels, frames) float32;
``title`` list[str] (title id), ``title_idx`` (B,) int64, ``shot`` (B,) int64 (index ``shot_id``),
``lang_p``, ``lang_s`` list[str]; ``t_p``, ``t_s`` (B,) float64 window starts in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from lssd.errors import BadInputError
from lssd.train.augment import (AudioConfig, VideoConfig, audio_features, frame_times, sample_crop,
                                sample_scale, scaled_size, video_clip)
from lssd.train.device_decode import EncodedClips
from lssd.train.index import read_index
from lssd.train.sampler import (DubPolicy, SampleKey, TitleBatchSampler, choose_languages,
                                parse_policy, sample_seed)
from lssd.train.tables import Codes, per_distinct

WINDOW = 3.0  # seconds per instance (App. A)
_EPS = 1e-3  # timestamp tolerance (s) when matching decoded frames to target times
_AUDIO_PREROLL = 0.1  # s decoded before a window: the first frame after a seek lacks its overlap


class MediaReader:
    """One open container: frames at given times and audio windows of a given stream.

    Times are seconds from the first frame of the indexed video stream (the index's convention);
    audio is read on the same clock so a_p stays in sync with v_p.
    """

    def __init__(self, path: str | Path, video_stream: int = 0) -> None:
        import av

        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, OSError) as err:
            raise BadInputError(f"cannot open {path} ({err})") from None
        self.path = str(path)
        for stream in self.container.streams:
            # No decoder thread pools: loader workers are the parallelism, and a pool inherited by a
            # forked worker deadlocks when the worker frees the codec (libavcodec waits on threads
            # that do not exist in the child).
            stream.thread_count = 1
        self.video = self.container.streams.video[video_stream]
        # One reformatter reused for every frame: a fresh one per frame (what to_ndarray(width=...)
        # does) rebuilds the scaler each time and, from PyAV 17, starts a thread pool each time.
        self._scaler = av.video.reformatter.VideoReformatter()
        self._scale_kw = {"threads": 1} if int(av.__version__.split(".")[0]) >= 17 else {}
        self.origin = float(self.video.start_time * self.video.time_base) if self.video.start_time else 0.0

    def close(self) -> None:
        self.container.close()

    def frames(self, times: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
        """T (height, width, 3) uint8 RGB frames, scaled while converting; each time gets the frame
        on screen at that time (what ffmpeg's fps filter does), so any source rate becomes 25 fps."""
        targets = self.origin + np.asarray(times, dtype=np.float64)
        stream = self.video
        self._seek(stream, targets[0])
        height, width = size
        out: list[np.ndarray] = []
        prev = last_src = last_arr = None
        for frame in self.container.decode(stream):
            if frame.pts is None:
                continue
            while len(out) < len(targets) and frame.time > targets[len(out)] + _EPS:
                src = prev if prev is not None else frame
                if src is not last_src:
                    last_src, last_arr = src, self._rgb(src, height, width)
                out.append(last_arr)
            if len(out) == len(targets):
                break
            prev = frame
        if prev is None and not out:
            raise BadInputError(f"no video frame decodable at {targets[0]:.2f} s in {self.path}")
        if len(out) < len(targets):  # the stream ended: hold the last frame
            if prev is not last_src:
                last_arr = self._rgb(prev, height, width)
            out.extend([last_arr] * (len(targets) - len(out)))
        return out

    def audio(self, audio_index: int, start: float, duration: float, sample_rate: int) -> np.ndarray:
        """(C, round(duration * sample_rate)) float32 of audio stream ``a:audio_index``, C <= 2."""
        import av

        stream = self.container.streams.audio[audio_index]
        t0 = self.origin + start
        t_end = t0 + duration
        native = stream.codec_context.sample_rate
        resampler = None
        if stream.codec_context.channels > 2:
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=native)
        self._seek(stream, t0 - _AUDIO_PREROLL)
        chunks: list[np.ndarray] = []
        first = None
        for frame in self.container.decode(stream):
            if frame.pts is None:
                continue
            first = frame.time if first is None else first  # same-rate resampling adds no delay
            parts = resampler.resample(frame) if resampler else [frame]
            chunks += [_planar_float(part) for part in parts]
            if frame.time + frame.samples / native >= t_end:
                break
        if not chunks:
            raise BadInputError(f"no audio decodable at {start:.2f} s in {self.path} (a:{audio_index})")
        data = np.concatenate(chunks, axis=1)
        data = _fit(data, int(round((t0 - first) * native)), int(round(duration * native)))
        if native != sample_rate:
            import soxr

            data = np.ascontiguousarray(soxr.resample(data.T, native, sample_rate).T)
        return _fit(data, 0, int(round(duration * sample_rate)))

    def _rgb(self, frame: Any, height: int, width: int) -> np.ndarray:
        """Scale and convert in one swscale pass; AREA is fast and does not alias when downscaling."""
        return self._scaler.reformat(frame, width, height, "rgb24", interpolation="AREA",
                                     **self._scale_kw).to_ndarray()

    def _seek(self, stream: Any, t: float) -> None:
        """Seek so decoding starts at the last keyframe at or before ``t``."""
        floor = stream.start_time or 0
        self.container.seek(max(floor, int(t / stream.time_base)), stream=stream, backward=True)


def _planar_float(frame: Any) -> np.ndarray:
    """An audio frame as (channels, samples) float32 in [-1, 1], whatever its sample format."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        arr = arr.reshape(-1, channels).T
    if arr.dtype.kind == "i":
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max + 1)
    elif arr.dtype.kind == "u":
        arr = (arr.astype(np.float32) - 128.0) / 128.0
    return arr.astype(np.float32, copy=False)


def _fit(data: np.ndarray, offset: int, length: int) -> np.ndarray:
    """``data[:, offset:offset + length]``, zero-padded where the stream has no samples."""
    if offset < 0:
        data = np.pad(data, ((0, 0), (-offset, 0)))
        offset = 0
    data = data[:, offset:offset + length]
    if data.shape[1] < length:
        data = np.pad(data, ((0, 0), (0, length - data.shape[1])))
    return data


class QuadrupletDataset(Dataset):
    """Map-style dataset over the shots of an index.

    Index it with a :class:`SampleKey` (what :class:`TitleBatchSampler` yields: exact, resumable) or
    with a plain row number (languages then chosen by ``policy`` from (seed, row)). ``video_cfg`` or
    ``audio_cfg`` set to None leaves that modality out (audio-only variants, App. B.3). Without
    ``secondary`` an item is the primary instance alone, ``v_p`` and ``a_p`` (App. B.3 SEP: "There is
    no secondary audio here").
    """

    def __init__(self, index: pd.DataFrame, policy: str | DubPolicy = "random",
                 video_cfg: VideoConfig | None = VideoConfig(),
                 audio_cfg: AudioConfig | None = AudioConfig(), *, train: bool = True, seed: int = 0,
                 window: float = WINDOW, primary: str | None = None, secondary: bool = True) -> None:
        if len(index) == 0:
            raise BadInputError("the shot index is empty (nothing left after filtering?)")
        if window <= 0:
            raise BadInputError(f"window must be positive, got {window}")
        self.policy = parse_policy(policy, primary)
        self.video_cfg, self.audio_cfg = video_cfg, audio_cfg
        self.train, self.seed, self.window, self.secondary = train, seed, window, secondary
        # millions of shots: small codes, views of the index's arrays, one dict per distinct track list
        self._paths = Codes(index["media_path"])
        self._video_stream = index["video_stream"].to_numpy()
        self._streams = per_distinct(lambda langs, idx: dict(zip(langs, idx)), index["audio_languages"],
                                     index["audio_stream_index"])
        self._original = Codes(index["original_language"])
        self._start = index["shot_start"].to_numpy(np.float64)
        self._end = index["shot_end"].to_numpy(np.float64)
        self._fps = index["fps"].to_numpy(np.float64)
        self._title = Codes(index["title_id"])
        self._title_idx = index["title_idx"].to_numpy()
        self._shot_id = index["shot_id"].to_numpy()

    def __len__(self) -> int:
        return len(self._paths)

    def key(self, row: int, epoch: int = 0) -> SampleKey:
        """The key of ``row`` outside the sampler: languages by the policy, seeded by (seed, epoch, row)."""
        seed = sample_seed(self.seed, epoch, row, 2**31 - 1)
        lang_p, lang_s = choose_languages(self.policy, list(self._streams[row]), self._original[row],
                                          np.random.default_rng(seed), row)
        return SampleKey(row, lang_p, lang_s, seed)

    def __getitem__(self, key: int | SampleKey) -> dict[str, Any]:
        if not isinstance(key, SampleKey):
            key = self.key(int(key))
        row = key.row
        for lang in (key.lang_p, key.lang_s):
            if lang not in self._streams[row]:
                raise BadInputError(f"{self._title[row]} has no {lang} audio stream")
        rng = np.random.default_rng(key.seed)
        t_p, t_s = self.window_starts(row, rng)
        reader = self._reader(row)
        item: dict[str, Any] = {}
        instances = (("p", t_p, key.lang_p), ("s", t_s, key.lang_s))[: 2 if self.secondary else 1]
        try:
            for tag, start, lang in instances:
                if self.video_cfg is not None:
                    item[f"v_{tag}"] = self._video(reader, row, start, rng)
                if self.audio_cfg is not None:
                    wave = reader.audio(self._streams[row][lang], start, self.window,
                                        self.audio_cfg.sample_rate)
                    item[f"a_{tag}"] = audio_features(wave, rng, self.audio_cfg, self.train)
        finally:
            reader.close()
        item.update(title=self._title[row], title_idx=int(self._title_idx[row]), shot=int(self._shot_id[row]),
                    lang_p=key.lang_p, t_p=t_p)
        if self.secondary:
            item.update(lang_s=key.lang_s, t_s=t_s)
        return item

    def window_starts(self, row: int, rng: np.random.Generator) -> tuple[float, float]:
        return instance_starts(float(self._start[row]), float(self._end[row]), self.window, rng, self.train)

    def _video(self, reader: MediaReader, row: int, start: float,
               rng: np.random.Generator) -> torch.Tensor:
        cfg = self.video_cfg
        end_s = float(self._end[row])
        # never past the shot's last frame, even when the shot is shorter than the window
        times = np.minimum(frame_times(start, self.window, cfg), end_s - 0.5 / self._fps[row])
        src_h, src_w = reader.video.codec_context.height, reader.video.codec_context.width
        height, width = scaled_size(src_h, src_w, sample_scale(rng, cfg, self.train))
        frames = reader.frames(times, (height, width))
        top, left = sample_crop(rng, height, width, cfg.crop, self.train)
        return video_clip(frames, top, left, cfg)

    def _reader(self, row: int) -> MediaReader:
        """A fresh container per item: an AAC decoder's output after a seek still depends on what it decoded
        before (up to ~0.03 in sample value for ~0.5 s), so a reused container would make an item depend on
        the items before it and a resumed run would not see the same audio. Opening costs ~2 ms."""
        return MediaReader(self._paths[row], int(self._video_stream[row]))


def instance_starts(start: float, end: float, window: float, rng: np.random.Generator,
                    train: bool) -> tuple[float, float]:
    """Two independent windows inside the shot when training (temporal jitter), the centred one
    twice otherwise. A shot shorter than the window starts both at the shot start."""
    room = max(0.0, end - start - window)
    if not train:
        return start + room / 2, start + room / 2
    t_p, t_s = start + room * rng.random(2)
    return float(t_p), float(t_s)


def collate_quadruplets(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; ints -> int64 tensor, floats -> float64 tensor, strings stay lists. Tensors are
    stacked by torch's ``default_collate``: in a loader worker straight into shared memory, so a batch
    crosses to the trainer without another copy of its frames."""
    out: dict[str, Any] = {}
    for name, first in items[0].items():
        values = [item[name] for item in items]
        if isinstance(first, torch.Tensor):
            out[name] = default_collate(values)
        elif isinstance(first, EncodedClips):
            out[name] = EncodedClips.collate(values)
        elif isinstance(first, str):
            out[name] = values
        elif isinstance(first, (bool, int, np.integer)):
            out[name] = torch.tensor(values, dtype=torch.int64)
        else:
            out[name] = torch.tensor(values, dtype=torch.float64)
    return out


class QuadrupletLoader(DataLoader):
    """A DataLoader whose ``set_epoch(epoch, start_batch)`` reaches the title-aware batch sampler."""

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.batch_sampler.set_epoch(epoch, start_batch)

    @property
    def steps_per_epoch(self) -> int:
        return self.batch_sampler.steps_per_epoch

    @property
    def group_size(self) -> int:
        return self.batch_sampler.group_size


def build_loader(index: str | Path | pd.DataFrame, *, batch_size: int, group_size: int | None = None,
                 policy: str | DubPolicy = "random", primary: str | None = None, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0, seed: int = 0,
                 video_cfg: VideoConfig | None = VideoConfig(),
                 audio_cfg: AudioConfig | None = AudioConfig(), train: bool = True,
                 window: float = WINDOW, steps_per_epoch: int | None = None,
                 pin_memory: bool = False, prefetch_factor: int | None = None, accum: int = 1,
                 secondary: bool = True) -> QuadrupletLoader:
    """The training loader: title-aware batches of quadruplets for one rank.

    ``index`` is an index path or an (already filtered) DataFrame. Call ``set_epoch`` before each
    epoch; ``len(loader)`` is the number of batches per epoch for this rank: ``accum`` micro-batches
    of ``batch_size`` per step.
    """
    df = read_index(Path(index)) if isinstance(index, (str, Path)) else index
    dataset = QuadrupletDataset(df, policy, video_cfg, audio_cfg, train=train, seed=seed,
                                window=window, primary=primary, secondary=secondary)
    sampler = TitleBatchSampler(df, batch_size, group_size, policy=dataset.policy, rank=rank,
                                world_size=world_size, seed=seed, steps_per_epoch=steps_per_epoch,
                                accum=accum)
    return QuadrupletLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                            collate_fn=collate_quadruplets, pin_memory=pin_memory,
                            persistent_workers=num_workers > 0,
                            prefetch_factor=prefetch_factor if num_workers > 0 else None)
