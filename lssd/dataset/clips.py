"""Which clips a build covers: the ids of an LVU release (or every media file of a plain folder), their
task/split memberships, the video file of each (or none: missing), and its duration.

Subsets compose in this order: ``--tasks`` (LVU only), ``--ids FILE``, ``--limit N`` (the first N ids in
release order), then ``--shard i/n``. Shards hash the id, so they partition any subset exactly and do not
depend on the order or the machine.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av

from lssd import lvu
from lssd.errors import BadInputError, LssdError
from lssd.dub.prepare import TRUNCATION_TOLERANCE_S
from lssd.media import probe, video_end

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus")
MEDIA_SUFFIXES = lvu.VIDEO_SUFFIXES + AUDIO_SUFFIXES
PROBE_THREADS = 8  # ffprobe is a subprocess: threads overlap its start-up and I/O


@dataclass
class Clip:
    id: str
    path: Path | None  # None: the video is missing
    tasks: list[str] = field(default_factory=list)  # parallel lists: the LVU task and split of each line
    splits: list[str] = field(default_factory=list)
    duration: float | None = None
    has_video: bool = True
    error: str | None = None  # the file exists but cannot be read


@dataclass
class Selection:
    clips: list[Clip]
    release: Path | None  # the LVU release folder to copy (None: a plain folder of videos)
    videos_dir: Path


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"1/4"`` → (1, 4)."""
    if spec is None:
        return None
    index, sep, count = spec.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise BadInputError(f"--shard wants i/n with 0 ≤ i < n (e.g. 0/4), got {spec!r}")
    return i, n


def in_shard(clip_id: str, shard: tuple[int, int] | None) -> bool:
    if shard is None:
        return True
    digest = hashlib.sha1(clip_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shard[1] == shard[0]


def read_ids(path: Path) -> list[str]:
    """One id per line; blank lines and ``#`` comments ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise BadInputError(f"--ids {path}: cannot be read ({err})") from None
    ids = [line.split("#", 1)[0].strip() for line in lines]
    return [i for i in ids if i]


def folder_media(root: Path) -> dict[str, Path]:
    """Every media file under ``root`` by id (its path relative to ``root`` without the suffix). Two files
    that would share an id (``x.mp4`` and ``x.mkv``) are refused before any work, naming them: keeping one
    would drop the other from the dataset without a row."""
    found: dict[str, Path] = {}
    clashes: list[tuple[Path, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() not in MEDIA_SUFFIXES or name.startswith("."):
                continue
            clip_id = printable(path.relative_to(root).with_suffix("").as_posix())
            if clip_id in found:
                clashes.append((found[clip_id], path))
            else:
                found[clip_id] = path
    if clashes:
        a, b = clashes[0]
        more = f" ({len(clashes)} such clashes)" if len(clashes) > 1 else ""
        raise BadInputError(f"{printable(str(a.relative_to(root)))} and {printable(str(b.relative_to(root)))} "
                            f"would both be clip id {printable(a.relative_to(root).with_suffix('').as_posix())!r}"
                            f"{more}; rename or move one of them")
    return found


def printable(name: str) -> str:
    """``name`` as UTF-8-safe text: a file name whose bytes are not UTF-8 (Python carries them as lone
    surrogates) has those bytes written as ``\\xNN``, so it can go into the manifest and onto the terminal."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def name_error(path: Path) -> str | None:
    """Why a file cannot be a clip because of its name (not UTF-8), or None."""
    if printable(str(path)) != str(path):
        return f"the file name {printable(path.name)!r} is not valid UTF-8 (in {printable(str(path.parent))}); rename it to dub it"
    return None


def select(root: Path, videos: Path | None = None, tasks: str | None = None, ids_file: Path | None = None,
           limit: int | None = None, shard: tuple[int, int] | None = None) -> Selection:
    """The clips of a build, in release order, with their files (not yet probed)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise BadInputError(f"{root} is not a folder")
    release = lvu.release_dir(root)
    if release is not None:
        chosen = lvu.parse_tasks(tasks) if tasks else [t for t in lvu.TASKS if (release / t).is_dir()]
        memberships = lvu.memberships(lvu.read_release(root, chosen))
        videos_dir = Path(videos).resolve() if videos else root / "videos"
        files = lvu.find_videos(videos_dir, memberships)
    else:
        if tasks is not None:
            raise BadInputError(f"--tasks needs an LVU release ({lvu.RELEASE}/<task>/*.csv) in {root}")
        videos_dir = Path(videos).resolve() if videos else root
        files = folder_media(videos_dir)
        memberships = {clip_id: [] for clip_id in files}
    order = list(memberships)
    if ids_file is not None:
        wanted = read_ids(ids_file)
        unknown = [i for i in wanted if i not in memberships]
        if unknown:
            raise BadInputError(f"--ids: {len(unknown)} id(s) are not in the dataset, e.g. {unknown[0]!r}")
        order = list(dict.fromkeys(wanted))
    if limit is not None:
        if limit < 1:
            raise BadInputError(f"--limit must be at least 1, got {limit}")
        order = order[:limit]
    clips = []
    for clip_id in order:
        if not in_shard(clip_id, shard):
            continue
        pairs = memberships[clip_id]
        path = files.get(clip_id)
        clips.append(Clip(clip_id, path, [t for t, _ in pairs], [s for _, s in pairs],
                          error=name_error(path) if path is not None else None))
    return Selection(clips, release, videos_dir)


def probe_all(clips: list[Clip]) -> None:
    """Fill in duration (or error) for every present clip, probing in parallel."""
    present = [c for c in clips if c.path is not None and c.error is None]

    def one(clip: Clip) -> None:
        try:
            info = probe(clip.path)
        except LssdError as err:
            clip.error = str(err)
            return
        if not info.audio:
            clip.error = f"{clip.path.name} has no audio stream"
        elif info.duration <= 0:
            clip.error = f"{clip.path.name} has no duration"
        clip.duration, clip.has_video = info.duration, info.has_video
        if info.has_video and not clip.error:  # a file cut short counts at what it holds, not its header
            try:
                end = video_end(clip.path, info.video[0].index, info.duration)
            except (av.error.FFmpegError, OSError):
                end = None
            if end is not None and end - info.video[0].start_time < info.duration - TRUNCATION_TOLERANCE_S:
                clip.duration = max(0.0, end - info.video[0].start_time)

    with ThreadPoolExecutor(PROBE_THREADS) as pool:
        list(pool.map(one, present))
