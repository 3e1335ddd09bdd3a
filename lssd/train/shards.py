"""Training shards: every shot decoded once, at the training scale, with every audio track, in webdataset tars.

Why: decoding each quadruplet from the source container by random access costs ~90-130 ms of CPU on
a toy 320x180 title and far more on 1080p. The field's trainers stream pre-packed shards (open_clip
reads webdataset tars); none keeps an original track and its dubs of one shot under one key, which is
what dub augmentation needs. Why webdataset and not MosaicML ``streaming``: webdataset is plain POSIX
tar (readable by ``tar``, any HTTP server or object store serves it, ``pipe:`` URLs), installs with
one small dependency, and leaves sampling to us; ``streaming`` 0.13 pins numpy < 2.2 and
transformers < 5 (lssd needs 5) and pulls every cloud SDK. Its deterministic mid-epoch resume and
rank/worker splitting are what :mod:`lssd.train.stream` does itself, from the shard set's sample table.

One sample = one shot, key ``s<shot_id>``:

=================  ==================================================================================
``KEY.json``       the shot's metadata: title, languages, track kinds, times, source (provenance),
                   frame byte offsets
``KEY.mjpeg``      the frames on screen at ``shot_start + k / fps`` (25 fps), short side
                   ``short_side`` (the largest training scale), JPEG, concatenated
``KEY.a<N>.wav``   audio track N over the shot (the index's language tracks, then its control tracks), at
                   ``sample_rate``, 16-bit PCM (``flac``: lossless, about half the bytes, slower)
=================  ==================================================================================

Pre-decoded JPEG frames, not a re-encoded video: any 3 s window is 16 independent JPEG decodes (about
0.4 ms each at 569x320) instead of decoding every frame of the window from a keyframe.

A shard set (``lssd shards INDEX -o SHARDS/``) is ``shard-NNNNNN.tar`` files, one ``.json`` per shard
(its samples; written after the tar, so it marks the shard done), ``samples.parquet`` (the index's
columns for every sample plus ``shard`` and ``position``: what recipes filter and the stream plans on
without opening a tar) and ``stats.json``. Shards hold whole titles, consecutive in the index's order,
a title's shots in a fixed shuffled order (a title larger than a shard spans consecutive shards), so a
streaming reader meets a title's shots together. Building is resumable (a shard whose ``.json`` matches
its planned shots and settings is kept) and parallel (a process pool, like ``lssd index --workers``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lssd.errors import BadInputError

log = logging.getLogger(__name__)

SHARD_FORMAT = "lssd-shards/1"
SAMPLES = "samples.parquet"
STATS = "stats.json"
LOCATION = ("shard", "position")  # the sample table's columns beyond the index's


@dataclass(frozen=True)
class ShardSettings:
    """How shots are stored; the loader reads any of these (and resamples audio if it must)."""

    short_side: int = 320  # the largest training scale (App. A: 256-320)
    fps: float = 25.0
    sample_rate: int = 48_000  # 44_100 for the SEP variant (App. B.3)
    quality: int = 90  # JPEG
    audio_codec: str = "wav"  # or "flac"
    shots_per_shard: int = 256

    def __post_init__(self) -> None:
        if self.audio_codec not in ("wav", "flac"):
            raise BadInputError(f"audio codec must be wav or flac, got {self.audio_codec!r}")
        if not (self.short_side > 0 and self.fps > 0 and self.sample_rate > 0 and self.shots_per_shard > 0
                and 1 <= self.quality <= 100):
            raise BadInputError(f"shard settings out of range: {self}")


def shard_name(i: int) -> str:
    return f"shard-{i:06d}"


# ------------------------------------------------------------------------------------------ planning

def plan_shards(df: pd.DataFrame, shots_per_shard: int) -> list[list[int]]:
    """Rows of ``df`` per shard: whole titles packed in index order, a title's shots shuffled by its id."""
    shards: list[list[int]] = [[]]
    for title, rows in df.groupby("title_id", sort=True).indices.items():
        rows = np.asarray(rows)[_title_rng(title).permutation(len(rows))].tolist()
        if shards[-1] and len(shards[-1]) + len(rows) > shots_per_shard:
            shards.append([])
        while len(rows) > shots_per_shard:  # a title larger than a shard gets shards of its own
            if shards[-1]:
                shards.append([])
            shards[-1].extend(rows[:shots_per_shard])
            rows = rows[shots_per_shard:]
            shards.append([])
        shards[-1].extend(rows)
    return [s for s in shards if s]


def _title_rng(title: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(title.encode()).digest()[:8], "little"))


# ------------------------------------------------------------------------------------------- writing

@dataclass(frozen=True)
class _ShardJob:
    index: int
    out: Path
    rows: list[dict[str, Any]]
    settings: ShardSettings


def _job_record(job: _ShardJob) -> dict[str, Any]:
    return {"format": SHARD_FORMAT, "settings": dataclasses.asdict(job.settings),
            "shots": [int(r["shot_id"]) for r in job.rows]}


def _done(job: _ShardJob) -> dict[str, Any] | None:
    """The shard's record when it was finished with the same shots and settings, else None."""
    meta, tar = job.out / f"{shard_name(job.index)}.json", job.out / f"{shard_name(job.index)}.tar"
    try:
        record = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    same = {k: record.get(k) for k in ("format", "settings", "shots")} == _job_record(job)
    return record if same and tar.is_file() and tar.stat().st_size == record.get("bytes") else None


def _write_shard(job: _ShardJob) -> dict[str, Any]:
    """Encode one shard's shots into ``shard-N.tar`` (temp name, then rename), then its ``.json``."""
    import webdataset as wds

    name = shard_name(job.index)
    tar, tmp = job.out / f"{name}.tar", job.out / f".{name}.tar.tmp-{os.getpid()}"
    cpu = time.process_time()
    frames = 0
    try:
        with open(tmp, "wb") as stream:
            writer = wds.TarWriter(stream, mtime=0.0)  # fixed mtime: the same shots give the same bytes
            try:
                for row in job.rows:
                    sample = encode_shot(row, job.settings)
                    frames += json.loads(sample["json"])["frames"]
                    writer.write(sample)
            finally:
                writer.close()
        os.replace(tmp, tar)
    finally:
        tmp.unlink(missing_ok=True)
    record = {**_job_record(job), "bytes": tar.stat().st_size, "frames": frames,
              "cpu_seconds": round(time.process_time() - cpu, 3)}
    meta = job.out / f"{name}.json"
    tmp_meta = job.out / f".{name}.json.tmp-{os.getpid()}"
    tmp_meta.write_text(json.dumps(record))
    os.replace(tmp_meta, meta)
    return record


def encode_shot(row: dict[str, Any], settings: ShardSettings) -> dict[str, Any]:
    """One shot as a webdataset sample (see the module docstring for the members)."""
    import cv2
    import soundfile as sf

    from lssd.train.augment import scaled_size
    from lssd.train.data import MediaReader

    start, end = float(row["shot_start"]), float(row["shot_end"])
    n_frames = max(1, math.ceil((end - start) * settings.fps - 1e-6))
    reader = MediaReader(row["media_path"], int(row["video_stream"]))
    try:
        ctx = reader.video.codec_context
        size = scaled_size(ctx.height, ctx.width, settings.short_side)
        frames = reader.frames(start + np.arange(n_frames) / settings.fps, size)
        audio = [reader.audio(int(a), start, end - start, settings.sample_rate) for a in _streams(row)]
    finally:
        reader.close()
    jpegs, offsets, last, last_bytes = [], [0], None, b""
    for frame in frames:
        if frame is not last:  # a held frame (the source ran out, or a lower frame rate) is encoded once
            ok, buf = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, settings.quality])
            if not ok:
                raise BadInputError(f"cannot encode a frame of {row['title_id']} as JPEG")
            last, last_bytes = frame, buf.tobytes()
        jpegs.append(last_bytes)
        offsets.append(offsets[-1] + len(last_bytes))
    key = f"s{int(row['shot_id']):09d}"
    sample: dict[str, Any] = {"__key__": key, "mjpeg": b"".join(jpegs)}
    for i, wave in enumerate(audio):
        buf = io.BytesIO()
        sf.write(buf, wave.T, settings.sample_rate, format=settings.audio_codec.upper(), subtype="PCM_16")
        sample[f"a{i}.{settings.audio_codec}"] = buf.getvalue()
    meta = {
        "shot_id": int(row["shot_id"]), "title_id": row["title_id"], "shot_idx": int(row["shot_idx"]),
        "shot_start": start, "shot_end": end, "fps": settings.fps, "frames": n_frames,
        "height": size[0], "width": size[1], "frame_offsets": offsets,
        "sample_rate": settings.sample_rate, "audio_codec": settings.audio_codec,
        "audio_languages": list(row["audio_languages"]), "track_kinds": list(row["track_kinds"]),
        "is_synthetic": [bool(x) for x in row["is_synthetic"]],
        "original_language": row["original_language"],
        "control_tracks": list(row.get("control_tracks", [])),
        "source": {"media_path": row["media_path"], "video_stream": int(row["video_stream"]),
                   "audio_stream_index": [int(a) for a in row["audio_stream_index"]],
                   "control_stream_index": [int(a) for a in row.get("control_stream_index", [])],
                   "fps": float(row["fps"]), "duration": float(row["duration"]),
                   "bytes": _size(row["media_path"])},
    }
    sample["json"] = json.dumps(meta, sort_keys=True).encode()
    return sample


def _streams(row: dict[str, Any]) -> list[int]:
    """The container audio streams a shot's sample holds, as ``a0, a1, ...``: the language tracks in
    the index's order, then the control tracks (:mod:`lssd.train.controls`)."""
    return [int(a) for a in (*row["audio_stream_index"], *row.get("control_stream_index", []))]


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def build_shards(index: Path | pd.DataFrame, out: Path, settings: ShardSettings = ShardSettings(), *,
                 workers: int = 1, progress: bool = False) -> dict[str, Any]:
    """Pack the index's shots into ``out``; returns the stats (also written to ``out/stats.json``).

    A killed build resumes: finished shards (their ``.json`` matches) are kept, the rest are rebuilt.
    """
    from lssd.locks import exclusive
    from lssd.train.index import COLUMNS, read_index

    df = read_index(Path(index)) if not isinstance(index, pd.DataFrame) else index
    if len(df) == 0:
        raise BadInputError("the shot index is empty: no shard to build")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    columns = [c for c in COLUMNS if c in df.columns]
    records = df[columns].to_dict("records")
    jobs = [_ShardJob(i, out, [records[r] for r in rows], settings)
            for i, rows in enumerate(plan_shards(df, settings.shots_per_shard))]
    with exclusive(out / "shards.lock", f"shard directory {out}"):
        done = {job.index: rec for job in jobs if (rec := _done(job)) is not None}
        todo = [job for job in jobs if job.index not in done]
        if done:
            log.info("%d of %d shards already built in %s: kept", len(done), len(jobs), out)
        for job_index, record in _run(todo, workers, progress, len(jobs), len(done)):
            done[job_index] = record
        for stale in out.glob("shard-*.tar"):  # shards of an earlier, larger plan
            if int(stale.stem.split("-")[1]) >= len(jobs):
                stale.unlink()
                stale.with_suffix(".json").unlink(missing_ok=True)
        return _finish(out, df, columns, jobs, done, settings)


def _run(jobs: list[_ShardJob], workers: int, progress: bool, total: int, already: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]shards"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   disable=not progress)
    with bar:
        task = bar.add_task("shards", total=total, completed=already)
        if workers > 1 and len(jobs) > 1:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
                for job, record in zip(jobs, pool.map(_write_shard, jobs)):
                    bar.advance(task)
                    yield job.index, record
        else:
            for job in jobs:
                record = _write_shard(job)
                bar.advance(task)
                yield job.index, record


def _finish(out: Path, df: pd.DataFrame, columns: list[str], jobs: list[_ShardJob],
            done: dict[int, dict[str, Any]], settings: ShardSettings) -> dict[str, Any]:
    """The sample table (index columns + shard, position) and the stats file, both written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    by_shot = df.set_index("shot_id", drop=False)
    order = [(job.index, pos, int(row["shot_id"])) for job in jobs for pos, row in enumerate(job.rows)]
    table = by_shot.loc[[shot for _, _, shot in order], columns].reset_index(drop=True)
    table["shard"] = np.array([s for s, _, _ in order], dtype=np.int64)
    table["position"] = np.array([p for _, p, _ in order], dtype=np.int64)
    # the sample's a0, a1, ...: language tracks in the index's order, then control tracks
    n_lang = [len(langs) for langs in table["audio_languages"]]
    table["audio_stream_index"] = [list(range(n)) for n in n_lang]
    if "control_stream_index" in table.columns:
        table["control_stream_index"] = [list(range(n, n + len(c)))
                                         for n, c in zip(n_lang, table["control_stream_index"])]
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = {"format": SHARD_FORMAT, "settings": dataclasses.asdict(settings), "shards": len(jobs)}
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), b"lssd": json.dumps(meta).encode()})
    tmp = out / f".{SAMPLES}.tmp-{os.getpid()}"
    pq.write_table(arrow, tmp)
    os.replace(tmp, out / SAMPLES)
    stats = shard_stats(table, done, settings)
    (out / f".{STATS}.tmp").write_text(json.dumps(stats, indent=2) + "\n")
    os.replace(out / f".{STATS}.tmp", out / STATS)
    return stats


def shard_stats(table: pd.DataFrame, done: dict[int, dict[str, Any]], settings: ShardSettings
                ) -> dict[str, Any]:
    """Shots, titles, hours, tracks per kind (per shot and per title), bytes and build CPU."""
    per_shot: dict[str, int] = {}
    for kinds in table["track_kinds"]:
        for kind in kinds:
            per_shot[kind] = per_shot.get(kind, 0) + 1
    titles = table.drop_duplicates("title_id")
    per_title: dict[str, int] = {}
    for kinds in titles["track_kinds"]:
        for kind in kinds:
            per_title[kind] = per_title.get(kind, 0) + 1
    hours = float((table["shot_end"] - table["shot_start"]).sum()) / 3600
    cpu = sum(r.get("cpu_seconds", 0.0) for r in done.values())
    return {"format": SHARD_FORMAT, "shards": len(done), "shots": len(table),
            "titles": int(table["title_id"].nunique()), "hours": round(hours, 6),
            "tracks_per_kind": dict(sorted(per_shot.items())),
            "titles_per_track_kind": dict(sorted(per_title.items())),
            "bytes": sum(r["bytes"] for r in done.values()),
            "frames": sum(r["frames"] for r in done.values()),
            "build_cpu_seconds": round(cpu, 3),
            "build_cpu_seconds_per_hour": round(cpu / hours, 1) if hours else None,
            "settings": dataclasses.asdict(settings)}


# ------------------------------------------------------------------------------------------- reading

def read_samples(source: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A shard set's sample table and its settings; ``source`` is a folder or a URL prefix that
    webdataset can open (``https://…/shards``, ``pipe:…`` is not a prefix: use a folder or URL)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lssd.train.tables import read_frame

    where = f"{str(source).rstrip('/')}/{SAMPLES}"
    try:
        if "://" in str(source):
            import webdataset as wds

            with wds.gopen(where, "rb") as f:
                file: Any = io.BytesIO(f.read())
        else:
            file = where
        meta = json.loads((pq.read_schema(file).metadata or {}).get(b"lssd", b"{}"))
        if meta.get("format") != SHARD_FORMAT:
            raise BadInputError(f"{source} is not an {SHARD_FORMAT} shard set (format {meta.get('format')!r})")
        df = read_frame(file)  # millions of samples: shared lists and strings (lssd.train.tables)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise BadInputError(f"{source} is not an lssd shard set ({SAMPLES} unreadable: {err}); "
                            f"build one with lssd shards") from None
    df.attrs["shards"] = meta
    return df, meta


def shard_url(source: str | Path, shard: int) -> str:
    return f"{str(source).rstrip('/')}/{shard_name(shard)}.tar"
