"""The shot index: one row per usable shot of every multi-track title under a dataset root.

Appendix A: long-form content is cut into shots (camera changes) and only shots of 3-12 s are kept.
A title is one container with one audio stream per language (ISO 639-2/T tags); lssd's dubbing
pipeline adds a sidecar ``<stem>.lssd.json`` that says which tracks are synthetic. The index records,
per shot, everything the sampler and the decoder need so training never probes a file again.

Columns (list columns are parallel: ``audio_stream_index[i]`` is the ``a:N`` stream of
``audio_languages[i]`` and ``is_synthetic[i]`` its provenance):

=====================  ============================================================================
``shot_id``            int, unique within the index
``title_id``           str, the media path relative to the root (stable across machines)
``title_idx``          int, dense id of ``title_id`` (sorted order), for same-title masks in the loss
``shot_idx``           int, position of the shot among the title's kept shots
``media_path``         str, absolute path of the container
``video_stream``       int, index among the container's video streams
``audio_languages``    list[str], ISO 639-2/T codes in stream order (one stream per language)
``audio_stream_index`` list[int], the container audio stream (ffmpeg ``a:N``) of each language
``is_synthetic``       list[bool], True for a synthetic dub (sidecar kind ``synthetic-*``)
``track_kinds``        list[str], each track's label (:mod:`lssd.sidecar`): ``original``, ``dub`` (a real
                       dub), ``synthetic`` (lssd, a translation) or ``pseudo`` (lssd, pseudo-text: not a
                       translation). Without a sidecar, the original is the flagged track and the others
                       are real dubs.
``original_language``  str, the title's original language (one of ``audio_languages``)
``shot_start``         float, seconds from the first video frame
``shot_end``           float
``fps``                float, the video's average frame rate
``duration``           float, the title's duration in seconds
``control_tracks``     list[str], the title's counterfactual control tracks (:mod:`lssd.dub.controls`,
                       lssd's addition) by :func:`lssd.sidecar.control_id`: ``resynth``, ``novc:spa``…
                       They are kept out of the language lists above, so no dub policy takes one for a
                       dub; a recipe's ``data.control`` selects one as a_s (:mod:`lssd.train.controls`).
``control_stream_index`` list[int], the container audio stream of each control track
=====================  ============================================================================

Default for shots longer than ``max_shot``: dropped, as in the paper (App. A ignores them "to improve
training throughput", and the #data counts of Table 1 are computed that way). ``split_long=True``
cuts them into equal pieces of at most ``max_shot`` seconds instead, which keeps more data from
slow-paced titles at the cost of pieces that do not end at camera changes.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lssd import sidecar as sidecars
from lssd.errors import BadInputError
from lssd.languages import find, get_language
from lssd.media import atomic_output

log = logging.getLogger(__name__)

INDEX_FORMAT = "lssd-shots/1"
MEDIA_SUFFIXES = (".mkv", ".mp4", ".mov", ".m4v", ".webm")
COLUMNS = (
    "shot_id", "title_id", "title_idx", "shot_idx", "media_path", "video_stream", "audio_languages",
    "audio_stream_index", "is_synthetic", "track_kinds", "original_language", "shot_start", "shot_end", "fps",
    "duration", "control_tracks", "control_stream_index",
)
CONTROL_COLUMNS = ("control_tracks", "control_stream_index")  # optional: indexes written before have none
_META_KEY = b"lssd"


@dataclass(frozen=True)
class AudioTrack:
    audio_index: int  # among the container's audio streams (ffmpeg a:N)
    language: str  # ISO 639-2/T
    synthetic: bool
    flagged_original: bool  # `original` disposition, or `default` when no stream has `original`
    kind: str = sidecars.LABEL_DUB  # sidecar.LABEL_*; tag-only files: fixed once the original is known


@dataclass(frozen=True)
class TitleProbe:
    video_stream: int
    fps: float
    duration: float
    tracks: tuple[AudioTrack, ...]
    notes: tuple[str, ...]  # non-fatal remarks (skipped untagged streams, ...)
    controls: tuple[tuple[str, int], ...] = ()  # (control id, audio index) of each control track


# --------------------------------------------------------------------------------------------- inputs

def find_media(root: Path) -> list[Path]:
    """All containers under ``root``, sorted so title ids and shot ids are reproducible."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)


def read_sidecar(media: Path) -> dict[str, Any] | None:
    """The pipeline's sidecar if there is one (see :mod:`lssd.sidecar`)."""
    return sidecars.read(media)


def load_language_map(source: dict[str, str] | str | Path | None) -> dict[str, str]:
    """Title -> original language, from a dict, a JSON object file or a ``title,language`` CSV.

    Keys may be the title id (path relative to the root), the file name or its stem.
    """
    if source is None:
        return {}
    if isinstance(source, dict):
        raw = source
    else:
        path = Path(source)
        if not path.is_file():
            raise BadInputError(f"original-language map {path} does not exist")
        raw = _read_language_file(path)
    return {str(k): get_language(str(v)).iso3 for k, v in raw.items()}


def _read_language_file(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise BadInputError(f"original-language map {path} is not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise BadInputError(f"original-language map {path} must be a JSON object title -> code")
        return data
    rows = [r for r in csv.reader(text.splitlines()) if r and not r[0].startswith("#")]
    if rows and rows[0][:2] == ["title", "language"]:
        rows = rows[1:]
    if any(len(r) < 2 for r in rows):
        raise BadInputError(f"original-language map {path} needs two columns: title,language")
    return {r[0].strip(): r[1].strip() for r in rows}


# ---------------------------------------------------------------------------------------------- probe

def probe_title(media: Path, sidecar: dict[str, Any] | None, untagged_language: str | None = None
                ) -> TitleProbe:
    """Video stream, frame rate, duration and the language of each audio stream.

    ``untagged_language`` (the stated original language) names the first untagged audio stream when
    no tagged stream has that language: home-made single-track files are often left ``und``.
    """
    import av

    with av.open(str(media)) as container:
        videos = [s for s in container.streams.video
                  if not s.disposition & av.stream.Disposition.attached_pic]
        if not videos:
            raise BadInputError("no video stream")
        if not container.streams.audio:
            raise BadInputError("no audio stream")
        video = videos[0]
        rate = video.average_rate or video.guessed_rate
        if not rate:
            raise BadInputError("video frame rate unknown")
        duration = container.duration / 1e6 if container.duration else 0.0
        streams = list(container.streams.audio)
        controls: tuple[tuple[str, int], ...] = ()
        if sidecar is not None and sidecar.get("tracks"):
            tracks, notes = _tracks_from_sidecar(sidecar, streams), ()
            controls = _controls_from_sidecar(sidecar, streams)
        else:
            tracks, notes = _tracks_from_tags(streams, untagged_language)
        return TitleProbe(list(container.streams.video).index(video), float(rate), duration,
                          tracks, notes, controls)


def _flags(stream: Any) -> tuple[bool, bool]:
    import av

    d = stream.disposition
    return bool(d & av.stream.Disposition.original), bool(d & av.stream.Disposition.default)


def _tag_language(stream: Any) -> str | None:
    tag = (stream.metadata.get("language") or "").strip()
    lang = find(tag)
    return lang.iso3 if lang else None


def _tracks_from_tags(streams: list[Any], untagged_language: str | None
                      ) -> tuple[tuple[AudioTrack, ...], tuple[str, ...]]:
    """One track per language from container tags; later streams of a language (commentary) dropped."""
    langs = [_tag_language(s) for s in streams]
    if untagged_language and untagged_language not in langs and None in langs:
        langs[langs.index(None)] = untagged_language
    has_original = any(_flags(s)[0] for s in streams)
    tracks: list[AudioTrack] = []
    notes: list[str] = []
    for i, (stream, lang) in enumerate(zip(streams, langs)):
        if lang is None:
            tag = stream.metadata.get("language") or "none"
            notes.append(f"audio stream a:{i} has no usable language tag ({tag!r}); not used")
        elif any(t.language == lang for t in tracks):
            notes.append(f"audio stream a:{i} repeats language {lang}; kept the first")
        else:
            original, default = _flags(stream)
            tracks.append(AudioTrack(i, lang, False, original if has_original else default))
    return tuple(tracks), tuple(notes)


def _tracks_from_sidecar(sidecar: dict[str, Any], streams: list[Any]) -> tuple[AudioTrack, ...]:
    """The pipeline's own record wins over tags: it knows which tracks it synthesised."""
    tracks: list[AudioTrack] = []
    for entry in sidecar["tracks"]:
        if entry.get("kind") == sidecars.KIND_CONTROL:  # never a language track: see _controls_from_sidecar
            continue
        try:
            index = int(entry["audio_index"])
            lang = _track_language(entry)
        except (KeyError, TypeError, ValueError) as err:
            raise BadInputError(f"sidecar track {entry!r} lacks audio_index/language ({err})") from None
        if not 0 <= index < len(streams):
            raise BadInputError(f"sidecar names audio stream a:{index} but the file has {len(streams)}")
        if any(t.language == lang for t in tracks):
            continue
        label = sidecars.track_label(entry)
        tracks.append(AudioTrack(index, lang, label in (sidecars.LABEL_SYNTHETIC, sidecars.LABEL_PSEUDO),
                                 label == sidecars.LABEL_ORIGINAL, label))
    return tuple(tracks)


UNDETERMINED = "und"  # ISO 639-2: a clip without speech; its original track is still training audio


def _track_language(entry: dict[str, Any]) -> str:
    """A sidecar track's language: a known code, or ``und`` for the original of a clip without speech
    (its dub tracks equal it; its audio is as good as any for the audio-visual pairs)."""
    if entry.get("language") == UNDETERMINED and entry.get("kind") == sidecars.KIND_ORIGINAL:
        return UNDETERMINED
    return get_language(str(entry["language"])).iso3


def _controls_from_sidecar(sidecar: dict[str, Any], streams: list[Any]) -> tuple[tuple[str, int], ...]:
    """(control id, audio index) of every control track the sidecar names."""
    out = []
    for entry in sidecar["tracks"]:
        if entry.get("kind") == sidecars.KIND_CONTROL:
            index = entry.get("audio_index")
            if not isinstance(index, int) or not 0 <= index < len(streams):
                raise BadInputError(f"sidecar control track {entry!r} names no audio stream of the file")
            out.append((sidecars.control_id(entry), index))
    return tuple(out)


def stated_original(media: Path, title_id: str, sidecar: dict[str, Any] | None,
                    language_map: dict[str, str]) -> list[tuple[str, str]]:
    """(where, iso3) claims about the original language, strongest first: sidecar, then user map."""
    stated: list[tuple[str, str]] = []
    if sidecar is not None and sidecar.get("source_language") not in (None, "", UNDETERMINED):
        stated.append(("sidecar source_language", get_language(str(sidecar["source_language"])).iso3))
    for key in (title_id, media.name, media.stem):
        if key in language_map:
            stated.append(("original-language map", language_map[key]))
            break
    return stated


def resolve_original(tracks: tuple[AudioTrack, ...], stated: list[tuple[str, str]]
                     ) -> tuple[str, str | None]:
    """The first stated language the title has, else the flagged stream, else the first stream.

    Returns the language and a note when a stated language is not among the audio streams.
    """
    available = [t.language for t in tracks]
    note = None
    for where, lang in stated:
        if lang in available:
            return lang, note
        note = f"{where} says {lang} but the audio streams are {','.join(available)}"
    flagged = [t.language for t in tracks if t.flagged_original]
    return (flagged[0] if flagged else available[0]), note


# ---------------------------------------------------------------------------------------------- shots

def detect_shots(media: Path, threshold: float = 27.0) -> list[tuple[float, float]]:
    """Camera changes by PySceneDetect's ContentDetector; times are seconds from the first frame."""
    from scenedetect import ContentDetector, detect

    scenes = detect(str(media), ContentDetector(threshold=threshold), start_in_scene=True)
    return [(float(a.seconds), float(b.seconds)) for a, b in scenes]


def select_shots(shots: list[tuple[float, float]], min_shot: float = 3.0, max_shot: float = 12.0,
                 split_long: bool = False) -> list[tuple[float, float]]:
    """Keep shots of ``min_shot``-``max_shot`` s; longer ones are dropped or split evenly."""
    eps = 1e-6
    kept: list[tuple[float, float]] = []
    for start, end in shots:
        length = end - start
        if length + eps < min_shot:
            continue
        if length <= max_shot + eps:
            kept.append((start, end))
        elif split_long:
            pieces = math.ceil(length / max_shot - eps)
            step = length / pieces
            kept.extend((start + k * step, start + (k + 1) * step) for k in range(pieces))
    return kept


@dataclass(frozen=True)
class _Job:
    media: Path
    title_id: str
    min_shot: float
    max_shot: float
    split_long: bool
    threshold: float
    language_map: dict[str, str]


@dataclass(frozen=True)
class TitleShots:
    """One title's rows of the index as a worker sends them back: the columns its shots share, once,
    and each kept shot's times. (A dict per shot is ~1 kB: a GB per million shots before the table.)"""

    title: dict[str, Any]  # every column but the shots' own (shot_id, title_idx, shot_idx, times)
    starts: np.ndarray  # float64 seconds, one per kept shot
    ends: np.ndarray


def _index_title(job: _Job) -> tuple[TitleShots | None, list[str]]:
    """One title's shots plus warnings. Any failure skips the title with a one-line reason: one bad
    file among thousands must not stop an indexing run."""
    import av
    from scenedetect import VideoOpenFailure

    try:
        sidecar = read_sidecar(job.media)
        stated = stated_original(job.media, job.title_id, sidecar, job.language_map)
        probe = probe_title(job.media, sidecar, stated[0][1] if stated else None)
        if not probe.tracks:
            raise BadInputError("no audio stream with a known language")
        original, note = resolve_original(probe.tracks, stated)
        shots = detect_shots(job.media, job.threshold)
    except (BadInputError, av.error.FFmpegError, VideoOpenFailure, OSError, RuntimeError) as err:
        return None, [f"{job.title_id}: skipped, {err}"]
    warnings = [f"{job.title_id}: {n}" for n in (*probe.notes, *([note] if note else []))]
    kept = select_shots(shots, job.min_shot, job.max_shot, job.split_long)
    if not kept:
        warnings.append(f"{job.title_id}: no shot of {job.min_shot:g}-{job.max_shot:g} s "
                        f"among {len(shots)}")
        return None, warnings
    title = {
        "title_id": job.title_id, "media_path": str(job.media.resolve()), "video_stream": probe.video_stream,
        "audio_languages": [t.language for t in probe.tracks],
        "audio_stream_index": [t.audio_index for t in probe.tracks],
        "is_synthetic": [t.synthetic for t in probe.tracks],
        "track_kinds": [sidecars.LABEL_ORIGINAL if t.language == original and not t.synthetic else t.kind
                        for t in probe.tracks],
        "original_language": original, "fps": probe.fps, "duration": probe.duration,
        "control_tracks": [c for c, _ in probe.controls], "control_stream_index": [i for _, i in probe.controls],
    }
    times = np.array(kept, dtype=np.float64).reshape(-1, 2)
    return TitleShots(title, times[:, 0].copy(), times[:, 1].copy()), warnings


def build_index(root: Path, *, min_shot: float = 3.0, max_shot: float = 12.0,
                split_long: bool = False, original_language: dict[str, str] | str | Path | None = None,
                workers: int = 1, threshold: float = 27.0) -> pd.DataFrame:
    """Index every container under ``root`` as a DataFrame (shared lists and strings, as
    :func:`read_index` gives); skipped files are listed in ``df.attrs["warnings"]``. At millions of
    shots write :func:`index_titles`' result instead (``lssd index`` does)."""
    from lssd.train.tables import frame_of_table

    built = index_titles(root, min_shot=min_shot, max_shot=max_shot, split_long=split_long,
                         original_language=original_language, workers=workers, threshold=threshold)
    df = frame_of_table(built.table())
    df.attrs["warnings"], df.attrs["params"] = built.warnings, built.params
    return df


@dataclass
class IndexedTitles:
    """What indexing a dataset gives before it is a table: each title's compact shots, in order, and
    the run's warnings and parameters. :meth:`write` streams it into parquet a row group at a time."""

    titles: list[TitleShots]
    warnings: list[str]
    params: dict[str, Any]

    @property
    def shots(self) -> int:
        return sum(len(t.starts) for t in self.titles)

    def table(self, titles: slice = slice(None)):
        """The index's Arrow table, or that of a run of its titles (shot ids and title_idx as in the
        whole index): a title's columns repeated by ``take`` over its shots, no Python object per row."""
        import pyarrow as pa

        part = self.titles[titles]
        counts = np.array([len(t.starts) for t in part], dtype=np.int64)
        first_shot = sum(len(t.starts) for t in self.titles[: titles.start or 0])
        owner = pa.array(np.repeat(np.arange(len(part)), counts))
        rank = self._ranks
        shots = np.arange(int(counts.sum()), dtype=np.int64)
        shot_columns = {
            "shot_id": first_shot + shots,
            "title_idx": np.repeat(np.array([rank[t.title["title_id"]] for t in part], dtype=np.int64), counts),
            "shot_idx": shots - np.repeat(np.cumsum(counts) - counts, counts),
            "shot_start": np.concatenate([t.starts for t in part]) if part else np.zeros(0),
            "shot_end": np.concatenate([t.ends for t in part]) if part else np.zeros(0),
        }
        schema = index_schema()
        arrays = [pa.array(shot_columns[f.name], type=f.type) if f.name in shot_columns
                  else pa.array([t.title[f.name] for t in part], type=f.type).take(owner) for f in schema]
        return with_index_meta(pa.Table.from_arrays(arrays, schema=schema), self.warnings, self.params)

    def write(self, path: Path, rows_per_group: int = 1 << 20) -> Path:
        """The index as parquet, built and written ``rows_per_group`` shots at a time (memory: one row
        group's table), to a temporary name renamed when complete."""
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp, pq.ParquetWriter(tmp, self.table(slice(0, 0)).schema) as writer:
            for group in self._groups(rows_per_group):
                table = self.table(group)
                writer.write_table(table, row_group_size=max(1, table.num_rows))  # one row group each
        return path

    def _groups(self, rows: int) -> list[slice]:
        """Runs of whole titles of about ``rows`` shots (a title is never split)."""
        groups, start, size = [], 0, 0
        for i, t in enumerate(self.titles):
            if size and size + len(t.starts) > rows:
                groups.append(slice(start, i))
                start, size = i, 0
            size += len(t.starts)
        return [*groups, slice(start, len(self.titles))] if size else groups

    @cached_property
    def _ranks(self) -> dict[str, int]:
        """title_idx: each title's position in sorted title-id order (once the titles are all in)."""
        return {title: i for i, title in enumerate(sorted({t.title["title_id"] for t in self.titles}))}


def index_titles(root: Path, *, min_shot: float = 3.0, max_shot: float = 12.0,
                 split_long: bool = False, original_language: dict[str, str] | str | Path | None = None,
                 workers: int = 1, threshold: float = 27.0) -> IndexedTitles:
    """Index every container under ``root``: probe it, detect its shots, keep those of
    ``min_shot``-``max_shot`` s.

    ``workers`` > 1 runs titles in a process pool (spawned, so callers holding threads are safe).
    Titles come back in order, one compact :class:`TitleShots` each, and their warnings are logged as
    they arrive: memory grows by ~3 kB per title, not by a Python object per shot.
    """
    root = Path(root)
    if not root.is_dir():
        raise BadInputError(f"dataset root {root} is not a directory")
    if not 0 < min_shot <= max_shot:
        raise BadInputError(f"need 0 < min_shot <= max_shot, got {min_shot} and {max_shot}")
    language_map = load_language_map(original_language)
    jobs = [_Job(p, p.relative_to(root).as_posix(), min_shot, max_shot, split_long, threshold,
                 language_map) for p in find_media(root)]
    built = IndexedTitles([], [], {"min_shot": min_shot, "max_shot": max_shot, "split_long": split_long,
                                   "threshold": threshold})
    with contextlib.ExitStack() as stack:
        if workers > 1 and len(jobs) > 1:
            ctx = multiprocessing.get_context("spawn")
            pool = stack.enter_context(ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx))
            results = pool.map(_index_title, jobs, chunksize=max(1, min(16, len(jobs) // (8 * workers))))
        else:
            results = map(_index_title, jobs)
        for shots, warnings in results:
            for w in warnings:
                log.warning(w)
            built.warnings += warnings
            if shots is not None:
                built.titles.append(shots)
    return built


def index_schema():
    """The Arrow type of each column (:data:`COLUMNS`), as :meth:`IndexedTitles.write` writes them."""
    import pyarrow as pa

    types = {"int": pa.int64(), "str": pa.string(), "float": pa.float64(), "list[str]": pa.list_(pa.string()),
             "list[int]": pa.list_(pa.int64()), "list[bool]": pa.list_(pa.bool_())}
    return pa.schema([(name, types[_KINDS[name]]) for name in COLUMNS])


# ------------------------------------------------------------------------------------------------ I/O

def write_index(df: pd.DataFrame, path: Path) -> Path:
    """Parquet, written to a temporary name and renamed, so a reader never sees half a file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = df.assign(**{c: [[] for _ in range(len(df))] for c in CONTROL_COLUMNS if c not in df.columns})
    table = pa.Table.from_pandas(df[list(COLUMNS)], preserve_index=False)
    table = with_index_meta(table, df.attrs.get("warnings", []), df.attrs.get("params", {}))
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)
    return path


def with_index_meta(table, warnings: list[str], params: dict[str, Any]):
    """``table`` with the index's format, warnings and build parameters in its schema metadata."""
    meta = {"format": INDEX_FORMAT, "warnings": warnings, "params": params}
    return table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})


def is_index(path: Path) -> bool:
    """``path`` is a shot index lssd wrote (its parquet metadata says so)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(_META_KEY)
        return bool(raw) and json.loads(raw).get("format") == INDEX_FORMAT
    except (pa.ArrowException, OSError, ValueError):
        return False


def nothing_indexed(warnings: list[str], root: Path, min_shot: float, max_shot: float, split_long: bool
                    ) -> BadInputError:
    """The one sentence for an index that would be empty (``warnings``: its build's): why, and what to change."""
    if not find_media(Path(root)):
        return BadInputError(f"no containers ({', '.join(MEDIA_SUFFIXES)}) under {root}: nothing to index")
    if warnings and all(" no shot of " in w for w in warnings):
        hint = "" if split_long else "; pass --split-long to cut longer shots into pieces"
        return BadInputError(f"no shot of {min_shot:g}-{max_shot:g} s in any of {len(warnings)} titles "
                             f"(e.g. {warnings[0]}){hint}, or change --min-shot/--max-shot")
    return BadInputError(f"no shot indexed from {len(find_media(Path(root)))} titles under {root} "
                         f"(e.g. {warnings[0] if warnings else 'no reason given'})")


# the type of each column as the trainer reads it; a foreign writer's parquet is checked against it
_KINDS = {"shot_id": "int", "title_id": "str", "title_idx": "int", "shot_idx": "int", "media_path": "str",
          "video_stream": "int", "audio_languages": "list[str]", "audio_stream_index": "list[int]",
          "is_synthetic": "list[bool]", "track_kinds": "list[str]", "original_language": "str",
          "shot_start": "float", "shot_end": "float", "fps": "float", "duration": "float",
          "control_tracks": "list[str]", "control_stream_index": "list[int]"}


def _kind_matches(arrow_type, kind: str) -> bool:
    import pyarrow as pa

    if kind.startswith("list["):
        return (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)) and (
            pa.types.is_null(arrow_type.value_type) or _kind_matches(arrow_type.value_type, kind[5:-1]))  # [] only
    return {"int": pa.types.is_integer, "str": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
            "bool": pa.types.is_boolean,
            "float": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t)}[kind](arrow_type)


def _check_types(schema, path: Path) -> None:
    for name, kind in _KINDS.items():
        if name in schema.names and not _kind_matches(schema.field(name).type, kind):
            raise BadInputError(f"shot index {path}: column {name!r} holds {schema.field(name).type}, "
                                f"not {kind}; rebuild it with `lssd index`")


def read_index(path: Path, media_root: Path | None = None) -> pd.DataFrame:
    """Load and validate an index written by :func:`write_index`.

    ``media_root`` rebases ``media_path`` on another copy of the dataset root (an index built on one
    machine, trained on another): title ids are paths relative to the root. Millions of shots read in
    bounded memory: values a title's shots share are shared objects (:mod:`lssd.train.tables`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lssd.train.tables import per_distinct, read_frame

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"shot index {path} does not exist; build it with build_index/write_index")
    try:
        schema = pq.read_schema(path)
        raw = (schema.metadata or {}).get(_META_KEY)
        meta = json.loads(raw) if raw else {}
        missing = [c for c in COLUMNS if c not in schema.names and c not in ("track_kinds", *CONTROL_COLUMNS)]
        if meta.get("format") != INDEX_FORMAT or missing:
            raise BadInputError(f"{path} is not an {INDEX_FORMAT} shot index "
                                f"(format {meta.get('format')!r}, missing columns {missing})")
        _check_types(schema, path)
        df = read_frame(str(path), [c for c in COLUMNS if c in schema.names])
    except (pa.ArrowException, OSError) as err:
        raise BadInputError(f"shot index {path} is not a readable parquet file ({err})") from None
    if "track_kinds" not in df.columns:  # written before labels were recorded: the flags are all there is
        df["track_kinds"] = per_distinct(
            lambda langs, flags, original: [
                sidecars.LABEL_SYNTHETIC if synthetic else sidecars.LABEL_ORIGINAL if lang == original
                else sidecars.LABEL_DUB for lang, synthetic in zip(langs, flags)],
            df["audio_languages"], df["is_synthetic"], df["original_language"])
    for col in CONTROL_COLUMNS:
        if col not in df.columns:
            df[col] = per_distinct(lambda _: [], df["title_id"])
    df = df[list(COLUMNS)]
    if media_root is not None:
        root = Path(media_root).absolute()
        df["media_path"] = per_distinct(lambda title: str(root / title), df["title_id"])
    df.attrs["warnings"] = meta.get("warnings", [])
    df.attrs["params"] = meta.get("params", {})
    return df
