"""The LVU benchmark on disk (Wu & Krähenbühl, CVPR 2021): split files, labels, targets, videos.

``lvu_1.0/<task>/{train,val,test}.csv`` for nine tasks. Space-separated, one header line. The seven
classification tasks have ``class_id class_name youtube_id imdb_id`` (class names never contain spaces;
``writer`` writes ``\\N`` for an unknown one); ``like_ratio`` has ``like_count dislike_count youtube_id
imdb_id`` and ``view_count`` has ``view_count youtube_id imdb_id``. The YouTube id is always the
second-to-last field. Regression targets follow LVU's code: ``like/(like+dislike)*10 - 9.138`` and
``log(views) - 11.764``, scored by MSE.

Videos are not part of the release: users download them to ``videos/<youtube_id>.<ext>``. Ids are 11
characters of ``[A-Za-z0-9_-]`` and may start with ``-``. A copy always misses some (deleted uploads).

One home for these facts: the dataset builder (``lssd build-dataset``) and the evaluation
(``lssd eval lvu``) both read LVU through this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lssd.errors import BadInputError

RELEASE = "lvu_1.0"
SPLITS = ("train", "val", "test")
CLASSIFICATION = ("relationship", "way_speaking", "scene", "director", "writer", "year", "genre")
REGRESSION = ("like_ratio", "view_count")
TASKS = CLASSIFICATION + REGRESSION
HEADERS = {
    **{task: ("class_id", "class_name", "youtube_id", "imdb_id") for task in CLASSIFICATION},
    "like_ratio": ("like_count", "dislike_count", "youtube_id", "imdb_id"),
    "view_count": ("view_count", "youtube_id", "imdb_id"),
}
LIKE_RATIO_OFFSET = 9.138  # LVU's centring constants for the regression targets
VIEW_COUNT_OFFSET = 11.764
VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".m4v", ".avi")


@dataclass(frozen=True)
class Example:
    """One line of one split file."""

    task: str
    split: str
    video_id: str  # the YouTube id
    imdb_id: str
    label: int | None  # classification: class_id
    class_name: str | None  # classification: the class's name (``\\N`` kept as written)
    target: float | None  # regression: LVU's centred target

    @property
    def is_regression(self) -> bool:
        return self.task in REGRESSION


def release_dir(root: Path) -> Path | None:
    """``root/lvu_1.0`` if it exists, ``root`` itself if it directly holds task folders, else None."""
    root = Path(root)
    for candidate in (root / RELEASE, root):
        if any((candidate / task).is_dir() for task in TASKS):
            return candidate
    return None


def parse_tasks(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"genre,scene"`` (or a list) → validated task names; None → all nine."""
    if spec is None:
        return TASKS
    names = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise BadInputError(f"unknown LVU task(s) {', '.join(unknown) or '(none given)'}; tasks: {', '.join(TASKS)}")
    return tuple(dict.fromkeys(names))


def read_split(path: Path, task: str, split: str) -> list[Example]:
    """One split file. A malformed line is an error naming the file and line: labels must not be guessed."""
    header = HEADERS[task]
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise BadInputError(f"LVU split file {path} cannot be read ({err})") from None
    if not lines or tuple(lines[0].split()) != header:
        raise BadInputError(f"LVU split file {path}: expected the header '{' '.join(header)}'")
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(header):
            raise BadInputError(f"{path}:{number}: expected {len(header)} space-separated fields, got {len(fields)}")
        video_id, imdb_id = fields[-2], fields[-1]
        if not VIDEO_ID.match(video_id):
            raise BadInputError(f"{path}:{number}: {video_id!r} is not a YouTube id")
        try:
            examples.append(Example(task, split, video_id, imdb_id, *_label(task, fields)))
        except ValueError as err:
            raise BadInputError(f"{path}:{number}: {err}") from None
    return examples


def _label(task: str, fields: list[str]) -> tuple[int | None, str | None, float | None]:
    if task == "like_ratio":
        like, dislike = int(fields[0]), int(fields[1])
        if like < 0 or dislike < 0 or like + dislike == 0:
            raise ValueError(f"like/dislike counts {like}/{dislike} give no ratio")
        return None, None, like / (like + dislike) * 10 - LIKE_RATIO_OFFSET
    if task == "view_count":
        views = int(fields[0])
        if views <= 0:
            raise ValueError(f"view count {views} has no logarithm")
        return None, None, math.log(views) - VIEW_COUNT_OFFSET
    return int(fields[0]), fields[1], None


def read_release(root: Path, tasks: Iterable[str] | None = None) -> list[Example]:
    """Every line of the chosen tasks' split files under ``root`` (``root/lvu_1.0`` or the release itself).
    A task folder or split file that is absent is an error: an evaluation on part of a split would mislead."""
    release = release_dir(root)
    if release is None:
        raise BadInputError(f"{root} holds no LVU release ({RELEASE}/<task>/{{train,val,test}}.csv)")
    examples: list[Example] = []
    for task in parse_tasks(tasks):
        for split in SPLITS:
            path = release / task / f"{split}.csv"
            if not path.is_file():
                raise BadInputError(f"LVU split file {path} is missing")
            examples.extend(read_split(path, task, split))
    return examples


def memberships(examples: Iterable[Example]) -> dict[str, list[tuple[str, str]]]:
    """video id → sorted (task, split) pairs it appears in; ids in first-seen order."""
    out: dict[str, set[tuple[str, str]]] = {}
    for ex in examples:
        out.setdefault(ex.video_id, set()).add((ex.task, ex.split))
    return {vid: sorted(pairs) for vid, pairs in out.items()}


def find_videos(videos_dir: Path, ids: Iterable[str] | None = None) -> dict[str, Path]:
    """video id → its file in ``videos_dir`` (``<id>.<ext>``, one directory listing, so fast for 10,000
    ids). With ``ids``, only those; when an id has several files the first suffix of
    :data:`VIDEO_SUFFIXES` wins. Partial downloads (``.part``, ``.ytdl``) are never videos."""
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        return {}
    wanted = set(ids) if ids is not None else None
    rank = {suffix: i for i, suffix in enumerate(VIDEO_SUFFIXES)}
    found: dict[str, Path] = {}
    for path in videos_dir.iterdir():
        suffix = path.suffix.lower()
        if suffix not in rank or not path.is_file():
            continue
        vid = path.name[: -len(path.suffix)]
        if wanted is not None and vid not in wanted:
            continue
        if vid not in found or rank[suffix] < rank[found[vid].suffix.lower()]:
            found[vid] = path
    return found
