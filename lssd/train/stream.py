"""The streaming loader: title-aware batches of quadruplets read sequentially from webdataset shards.

Planned on the shard set's sample table (:mod:`lssd.train.shards`), never by opening a tar, so every
rank and worker knows, for (seed, epoch), exactly which samples each of its batches holds:

1. **Epoch order.** The shards are shuffled by (seed, epoch); their samples follow in stored order
   (a title's shots together). Of these N samples the first ``steps * G`` are the epoch (G = batch
   x accumulation x ranks, ``steps = N // G``, as the index loader counts an epoch); the rest, fewer
   than one global batch, sit out this epoch (like ``drop_last``). Every sample of the epoch is seen
   exactly once, across all ranks and loader workers.
2. **Ranks and workers.** Rank r takes the r-th contiguous slice of the epoch; within a rank,
   micro-batch m is made by loader worker ``m % workers``, each worker reading its own contiguous
   part of the rank's slice (as many samples as its micro-batches need).
3. **Title-aware batches from a stream.** A worker reads its part through ``streams`` sequential
   cursors (one open tar each). A micro-batch is built group by group: a cursor whose title is not
   yet in the batch is drawn and gives up to ``group_size`` consecutive shots of that title, so a
   batch holds ``group_size`` shots of each of ``batch_size / group_size`` titles, as the index
   loader's do. Cursors are drawn among those with the most left (within one group), so they drain
   level and the last batches of an epoch mix titles too (only there, when too few cursors are left,
   can a title give more than a group). Memory: one micro-batch of samples per worker, whatever the
   dataset's size.
4. **Samples** are decoded as the index loader decodes them: the same window draws, dub policy
   (:func:`lssd.train.sampler.choose_languages`, seeded by (seed, epoch, step, rank, i) and cycling
   round-robin by global step), scale, crop, log-mel and masks (:mod:`lssd.train.augment`). Frames come
   from the shard's 25 fps JPEGs, so no video is decoded from a keyframe.

Resuming mid-epoch replays the plan (metadata only) to the checkpoint's step; each cursor then opens
its shard at the first sample it still needs. The plan depends on the ranks, ``accum`` and the
number of loader workers: resume with the same ones to see exactly the batches the uninterrupted
run would have.

Versus the index loader: every shot once per epoch (without replacement) instead of titles drawn
uniformly with replacement, so titles weigh by their number of shots.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from lssd.errors import BadInputError
from lssd.train.augment import (AudioConfig, VideoConfig, audio_features, frame_times, sample_crop,
                                sample_scale, scaled_size)
from lssd.train.data import WINDOW, collate_quadruplets, instance_starts
from lssd.train.device_decode import DECODE_CHOICES, EncodedClips
from lssd.train.sampler import DubPolicy, SampleKey, choose_languages, parse_policy, sample_seed
from lssd.train.shards import shard_url
from lssd.train.tables import Codes


# -------------------------------------------------------------------------------------------- plan

@dataclass(frozen=True)
class Slot:
    """One sample of a micro-batch: the sample-table row, which cursor reads it, its key's seed parts."""

    row: int
    cursor: int
    step: int
    i: int  # position in the rank's batch of the step (0 .. batch_size * accum - 1)


def epoch_order(shards: np.ndarray, positions: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """Rows of the sample table in the epoch's reading order: shards shuffled, samples as stored."""
    ids = np.unique(shards)
    rank_of = np.empty(ids.max() + 1, dtype=np.int64)
    rank_of[np.random.default_rng([seed, epoch, 0x5A4D]).permutation(ids)] = np.arange(len(ids))
    return np.lexsort((positions, rank_of[shards]))


class _Cursor:
    """A contiguous run of sample-table rows read in order; ``ends[i]``: where row i's title run ends."""

    def __init__(self, rows: np.ndarray, titles: np.ndarray) -> None:
        self.rows, self.titles, self.at = rows, titles, 0
        change = np.flatnonzero(titles[1:] != titles[:-1]) + 1
        starts = np.concatenate([[0], change])
        self.ends = np.repeat(np.concatenate([change, [len(rows)]]), np.diff(np.concatenate([starts, [len(rows)]])))

    @property
    def left(self) -> int:
        return len(self.rows) - self.at

    def title(self) -> int:
        return int(self.titles[self.at])

    def run(self) -> int:
        """Samples left in the title the cursor is in."""
        return int(self.ends[self.at]) - self.at


def worker_plan(order: np.ndarray, titles: np.ndarray, *, batch_size: int, group_size: int, accum: int,
                steps: int, rank: int, world_size: int, worker: int, workers: int, streams: int,
                seed: int, epoch: int) -> list[list[Slot]]:
    """The micro-batches worker ``worker`` of rank ``rank`` makes this epoch, in order (pure metadata)."""
    per_rank = steps * accum * batch_size
    mine = order[rank * per_rank:(rank + 1) * per_rank]
    micro = steps * accum
    counts = [len(range(w, micro, workers)) for w in range(workers)]
    start = sum(counts[:worker]) * batch_size
    part = mine[start:start + counts[worker] * batch_size]
    n = max(1, min(streams, len(part)))
    bounds = np.linspace(0, len(part), n + 1).round().astype(int)
    cursors = [_Cursor(part[a:b], titles[part[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])]
    rng = np.random.default_rng([seed, epoch, rank, worker, 0x57EA])
    group = min(group_size, batch_size)
    batches: list[list[Slot]] = []
    for m in range(worker, micro, workers):
        step, sub = divmod(m, accum)
        slots: list[Slot] = []
        used: set[int] = set()  # titles in the batch
        while len(slots) < batch_size:
            live = [c for c in range(len(cursors)) if cursors[c].left > 0]
            fresh = [c for c in live if cursors[c].title() not in used] or live
            most = max(cursors[c].left for c in fresh)  # cursors drain level, so the last batches still mix
            level = [c for c in fresh if cursors[c].left > most - group]
            c = level[int(rng.integers(len(level)))]
            cur = cursors[c]
            take = min(group, batch_size - len(slots), cur.run())
            used.add(cur.title())
            for _ in range(take):
                slots.append(Slot(int(cur.rows[cur.at]), c, step, sub * batch_size + len(slots)))
                cur.at += 1
        batches.append(slots)
    return batches


# ----------------------------------------------------------------------------------------- reading

class _TarCursor:
    """Sequential reads of (shard, position) in increasing order; skipped samples are not decoded.
    For URLs (webdataset's readers): every byte of a shard streams past."""

    def __init__(self, source: str) -> None:
        self.source, self.shard, self.pos, self.samples = source, None, -1, None

    def get(self, shard: int, position: int) -> _MemorySample:
        from webdataset.tariterators import tarfile_samples

        if shard != self.shard or position <= self.pos:
            self.close()
            self.shard, self.pos = shard, -1
            self.samples = tarfile_samples(iter([{"url": shard_url(self.source, shard)}]))
        for sample in self.samples:
            self.pos += 1
            if self.pos == position:
                return _MemorySample(sample)
        raise BadInputError(f"{shard_url(self.source, shard)} ends before sample {position}: rebuild the shards")

    def close(self) -> None:
        if self.samples is not None:
            self.samples.close()
        self.samples = None


class _LocalShards:
    """Random access into local shards: a shard's member table (from its tar headers, parsed once per
    process, see :func:`_members`), then only the bytes a quadruplet needs: 2 x 16 JPEG frames and two
    3 s windows of audio, not the whole shot with every track (a tenth of the bytes, and no Python tar
    parsing per byte)."""

    def __init__(self, source: str) -> None:
        self.source, self.shard, self.file, self.keys, self.members = source, None, None, [], {}

    def get(self, shard: int, position: int) -> _TarSample:
        if shard != self.shard:
            self.close()
            url = shard_url(self.source, shard)
            try:
                self.file = open(url, "rb")  # noqa: SIM115 (kept open while the cursor reads the shard)
                self.keys, self.members = _members(url, os.fstat(self.file.fileno()).st_mtime_ns)
            except (OSError, tarfile.TarError) as err:
                self.close()
                raise BadInputError(f"cannot read shard {url} ({err}): rebuild the shards") from None
            self.shard = shard
        if position >= len(self.keys):
            raise BadInputError(f"{shard_url(self.source, shard)} ends before sample {position}: rebuild the shards")
        return _TarSample(self.file, self.members, self.keys[position])

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file, self.shard = None, None


@lru_cache(maxsize=64)
def _members(path: str, mtime_ns: int) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """A tar's sample keys in stored order and each member's (data offset, size); cached per process
    (a cursor per title group opens the same shard), keyed by modification time."""
    with tarfile.open(path, "r:") as tar:
        members = {m.name: (m.offset_data, m.size) for m in tar.getmembers() if m.isfile()}
    return list(dict.fromkeys(name.partition(".")[0] for name in members)), members


def _reader(source: str) -> _TarCursor | _LocalShards:
    return _TarCursor(source) if "://" in source else _LocalShards(source)


class _MemorySample:
    """A sample read whole (webdataset's dict of member bytes)."""

    def __init__(self, members: dict[str, bytes]) -> None:
        self.members = members

    def meta(self) -> dict[str, Any]:
        return json.loads(self.members["json"])

    def jpeg(self, meta: dict[str, Any], k: int) -> bytes:
        offsets = meta["frame_offsets"]
        return memoryview(self.members["mjpeg"])[offsets[k]:offsets[k + 1]]

    def audio(self, name: str) -> Any:
        return io.BytesIO(self.members[name])


class _TarSample:
    """A sample inside a local tar, read member by member and range by range."""

    def __init__(self, file: Any, members: dict[str, tuple[int, int]], key: str) -> None:
        self.file, self.members, self.key = file, members, key

    def _member(self, ext: str) -> tuple[int, int]:
        try:
            return self.members[f"{self.key}.{ext}"]
        except KeyError:
            raise BadInputError(f"sample {self.key} of {self.file.name} has no {ext}: rebuild the shards") from None

    def _read(self, offset: int, size: int) -> bytes:
        self.file.seek(offset)
        return self.file.read(size)

    def meta(self) -> dict[str, Any]:
        return json.loads(self._read(*self._member("json")))

    def jpeg(self, meta: dict[str, Any], k: int) -> bytes:
        offsets, (start, _) = meta["frame_offsets"], self._member("mjpeg")
        return self._read(start + offsets[k], offsets[k + 1] - offsets[k])

    def audio(self, name: str) -> Any:
        return _MemberFile(self.file, *self._member(name))


class _MemberFile(io.RawIOBase):
    """A tar member as a seekable read-only file (what soundfile needs to read one window of a track)."""

    def __init__(self, file: Any, offset: int, size: int) -> None:
        super().__init__()
        self.file, self.offset, self.size, self.pos = file, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        self.pos = min(max(0, {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + pos),
                       self.size)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.size - self.pos)
        self.file.seek(self.offset + self.pos)
        got = self.file.readinto(view[:n])
        self.pos += got
        return got


def decode_sample(sample: dict[str, bytes] | _MemorySample | _TarSample, tracks: dict[str, int], lang_p: str,
                  lang_s: str, seed: int, *, video_cfg: VideoConfig | None, audio_cfg: AudioConfig | None,
                  train: bool = True, window: float = WINDOW, secondary: bool = True,
                  decode: str = "cpu") -> dict[str, Any]:
    """One quadruplet from one shard sample (webdataset's dict of member bytes, or a sample read in
    place), with the index loader's draws in the same order; ``tracks`` maps the shot's audio languages
    (or ``control:<id>``) to the sample's tracks. ``decode="device"``: the clips stay JPEG bytes
    (:class:`lssd.train.device_decode.EncodedClips`) for the trainer's device to decode."""
    sample = _MemorySample(sample) if isinstance(sample, dict) else sample
    meta = sample.meta()
    for lang in (lang_p, lang_s):
        if lang not in tracks:
            raise BadInputError(f"{meta['title_id']} has no {lang} audio track in the shard")
    rng = np.random.default_rng(seed)
    start, end = meta["shot_start"], meta["shot_end"]
    t_p, t_s = instance_starts(start, end, window, rng, train)
    item: dict[str, Any] = {}
    for tag, t0, lang in (("p", t_p, lang_p), ("s", t_s, lang_s))[: 2 if secondary else 1]:
        if video_cfg is not None:
            item[f"v_{tag}"] = (_encoded if decode == "device" else _video)(sample, meta, t0, rng, video_cfg,
                                                                           train, window)
        if audio_cfg is not None:
            wave = _audio(sample, meta, tracks[lang], t0 - start, window, audio_cfg.sample_rate)
            item[f"a_{tag}"] = audio_features(wave, rng, audio_cfg, train)
    item.update(title=meta["title_id"], title_idx=0, shot=meta["shot_id"], lang_p=lang_p, t_p=t_p)
    if secondary:
        item.update(lang_s=lang_s, t_s=t_s)
    return item


def _video(sample: _MemorySample | _TarSample, meta: dict[str, Any], t0: float, rng: np.random.Generator, cfg: VideoConfig,
           train: bool, window: float) -> torch.Tensor:
    """Frames on the 25 fps grid of the shot, each decoded once (to RGB); scale and crop in one affine
    warp per frame, written straight into the (T, crop, crop, 3) clip."""
    import cv2

    index, warp = _clip_plan(meta, t0, rng, cfg, train, window)
    clip = np.empty((len(index), cfg.crop, cfg.crop, 3), dtype=np.uint8)
    first: dict[int, int] = {}
    for t, k in enumerate(index):
        if k in first:  # a held frame (past the shot's end) is decoded once
            clip[t] = clip[first[k]]
            continue
        first[k] = t
        rgb = cv2.imdecode(np.frombuffer(sample.jpeg(meta, k), dtype=np.uint8), cv2.IMREAD_COLOR_RGB)
        if rgb is None:
            raise BadInputError(f"frame {k} of shot {meta['shot_id']} ({meta['title_id']}) is not a JPEG that "
                                "decodes: rebuild the shards")
        cv2.warpAffine(rgb, warp, (cfg.crop, cfg.crop), dst=clip[t], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return torch.from_numpy(clip)


def _encoded(sample: _MemorySample | _TarSample, meta: dict[str, Any], t0: float, rng: np.random.Generator,
             cfg: VideoConfig, train: bool, window: float) -> EncodedClips:
    """The same clip as :func:`_video` (same draws), left as JPEG bytes for the trainer's device."""
    index, warp = _clip_plan(meta, t0, rng, cfg, train, window)
    distinct = list(dict.fromkeys(index))
    return EncodedClips.of_clip([bytes(sample.jpeg(meta, k)) for k in distinct],
                                [distinct.index(k) for k in index], warp, cfg.crop)


def _clip_plan(meta: dict[str, Any], t0: float, rng: np.random.Generator, cfg: VideoConfig, train: bool,
               window: float) -> tuple[list[int], np.ndarray]:
    """The clip's frames (indices of the shot's JPEGs) and the (2, 3) warp from a stored frame to the
    crop (``cv2.warpAffine``'s map): the index loader's scale and crop draws, in its order."""
    start, end, fps = meta["shot_start"], meta["shot_end"], meta["fps"]
    times = np.minimum(frame_times(t0, window, cfg), end - 0.5 / fps)
    index = np.clip(np.floor((times - start) * fps + 1e-3).astype(int), 0, meta["frames"] - 1).tolist()
    src_h, src_w = meta["height"], meta["width"]
    height, width = scaled_size(src_h, src_w, sample_scale(rng, cfg, train))
    top, left = sample_crop(rng, height, width, cfg.crop, train)
    sy, sx = height / src_h, width / src_w
    return index, np.array([[sx, 0, 0.5 * sx - 0.5 - left], [0, sy, 0.5 * sy - 0.5 - top]], dtype=np.float64)


def _audio(sample: _MemorySample | _TarSample, meta: dict[str, Any], track: int, offset: float, window: float,
           sample_rate: int) -> np.ndarray:
    """(C, window * sample_rate) float32 of one track, from ``offset`` s into the shot; zeros past it."""
    import soundfile as sf

    native = meta["sample_rate"]
    with sf.SoundFile(sample.audio(f"a{track}.{meta['audio_codec']}")) as f:
        first = int(round(offset * native))
        f.seek(min(first, f.frames))
        data = f.read(int(round(window * native)), dtype="float32", always_2d=True).T
    if native != sample_rate:
        import soxr

        data = np.ascontiguousarray(soxr.resample(data.T, native, sample_rate).T)
    length = int(round(window * sample_rate))
    if data.shape[1] < length:
        data = np.pad(data, ((0, 0), (0, length - data.shape[1])))
    return np.ascontiguousarray(data[:, :length])


# ------------------------------------------------------------------------------------------ loader

class ShardStream(IterableDataset):
    """This rank's micro-batches of one epoch, already collated (use with ``batch_size=None``)."""

    def __init__(self, source: str, table: pd.DataFrame, *, batch_size: int, group_size: int | None = None,
                 policy: str | DubPolicy = "random", primary: str | None = None, rank: int = 0,
                 world_size: int = 1, workers: int = 0, seed: int = 0,
                 video_cfg: VideoConfig | None = VideoConfig(), audio_cfg: AudioConfig | None = AudioConfig(),
                 train: bool = True, window: float = WINDOW, accum: int = 1, secondary: bool = True,
                 streams: int | None = None, decode: str = "cpu") -> None:
        if decode not in DECODE_CHOICES[1:]:  # "auto" is resolved by the run (device_decode.resolve_decode)
            raise BadInputError(f"decode is cpu or device, not {decode!r}")
        if len(table) == 0:
            raise BadInputError("the shard set has no sample left after filtering")
        step_batch = batch_size * accum
        self.group_size = max(1, step_batch // 8) if group_size is None else group_size
        if batch_size < 1 or not 1 <= self.group_size <= step_batch:
            raise BadInputError(f"need 1 <= group_size <= batch_size, got {self.group_size} and {step_batch}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise BadInputError(f"rank {rank} is not in [0, world_size={world_size})")
        self.steps_per_epoch = len(table) // (step_batch * world_size)
        if self.steps_per_epoch == 0:
            raise BadInputError(f"the shard set has {len(table)} samples, fewer than one global batch of "
                                f"{step_batch * world_size}")
        self.source, self.batch_size, self.accum = str(source), batch_size, accum
        self.rank, self.world_size, self.workers, self.seed = rank, world_size, max(1, workers), seed
        self.policy = parse_policy(policy, primary)
        self.video_cfg, self.audio_cfg, self.train, self.window = video_cfg, audio_cfg, train, window
        self.secondary, self.decode = secondary, decode
        self.streams = streams or 2 * max(1, -(-batch_size // min(self.group_size, batch_size)))
        self._shard = table["shard"].to_numpy(np.int64)
        self._position = table["position"].to_numpy(np.int64)
        self._titles = pd.factorize(table["title_id"])[0]
        self._languages = table["audio_languages"].to_numpy()  # shared lists (lssd.train.tables)
        self._tracks = table["audio_stream_index"].to_numpy()
        self._original = Codes(table["original_language"])
        self._title_idx = table["title_idx"].to_numpy(np.int64)
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        """Micro-batches left in the epoch for this rank (all workers together)."""
        return max(0, self.steps_per_epoch - self.start_batch) * self.accum

    def plan(self, worker: int) -> list[list[Slot]]:
        order = epoch_order(self._shard, self._position, self.seed, self.epoch)
        return worker_plan(order, self._titles, batch_size=self.batch_size, group_size=self.group_size,
                           accum=self.accum, steps=self.steps_per_epoch, rank=self.rank,
                           world_size=self.world_size, worker=worker, workers=self.workers,
                           streams=self.streams, seed=self.seed, epoch=self.epoch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker = 0 if info is None else info.id
        if info is not None and info.num_workers != self.workers:
            raise BadInputError(f"the stream was planned for {self.workers} workers, not {info.num_workers}")
        first = self.start_batch * self.accum  # the rank's micro-batches already trained
        skip = len(range(worker, first, self.workers))
        readers: dict[int, _TarCursor | _LocalShards] = {}
        _single_threaded_opencv()
        try:
            for slots in self.plan(worker)[skip:]:
                items = []
                for s in slots:
                    reader = readers.get(s.cursor) or readers.setdefault(s.cursor, _reader(self.source))
                    items.append(self._item(reader.get(int(self._shard[s.row]), int(self._position[s.row])), s))
                yield collate_quadruplets(items)
        finally:
            for reader in readers.values():
                reader.close()

    def key(self, s: Slot) -> SampleKey:
        """The slot's languages and seed, drawn as the index loader's sampler draws them."""
        seed = sample_seed(self.seed, self.epoch, s.step, self.rank, s.i)
        position = self.epoch * self.steps_per_epoch + s.step  # one secondary language per global batch
        lang_p, lang_s = choose_languages(self.policy, self._languages[s.row], self._original[s.row],
                                          np.random.default_rng(seed), position)
        return SampleKey(s.row, lang_p, lang_s, seed)

    def _item(self, sample: _MemorySample | _TarSample, s: Slot) -> dict[str, Any]:
        key = self.key(s)
        tracks = dict(zip(self._languages[s.row], self._tracks[s.row]))
        item = decode_sample(sample, tracks, key.lang_p, key.lang_s, key.seed, video_cfg=self.video_cfg,
                             audio_cfg=self.audio_cfg, train=self.train, window=self.window,
                             secondary=self.secondary, decode=self.decode)
        item["title_idx"] = int(self._title_idx[s.row])
        return item


def _single_threaded_opencv() -> None:
    """Loader workers are the parallelism: OpenCV's own thread pool per JPEG decode and warp only adds
    CPU (about a quarter more per frame here) and oversubscribes the cores the workers share."""
    import cv2

    cv2.setNumThreads(1)


class ShardLoader(DataLoader):
    """A DataLoader over a :class:`ShardStream`, with the index loader's ``set_epoch`` and step counts."""

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.dataset.set_epoch(epoch, start_batch)

    @property
    def steps_per_epoch(self) -> int:
        return self.dataset.steps_per_epoch

    @property
    def group_size(self) -> int:
        return self.dataset.group_size


def build_stream_loader(source: str, table: pd.DataFrame, *, num_workers: int = 0, pin_memory: bool = False,
                        prefetch_factor: int | None = None, **kw: Any) -> ShardLoader:
    """The training loader over a shard set (``table``: its sample table, already filtered)."""
    stream = ShardStream(source, table, workers=num_workers, **kw)
    return ShardLoader(stream, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                       persistent_workers=False,
                       prefetch_factor=prefetch_factor if num_workers > 0 else None)
