"""The hand-off contract between dubbing and everything that reads a dub: the ``.lssd.json`` sidecar.

``lssd dub`` writes ``<stem>.lssd.json`` beside each container ``<stem>.<ext>``. The index, the toy
dataset, the dataset builder and QC read it through this module only: the format id, the file naming,
the track kinds and the labels a trainer sees are written here once.

A sidecar's ``tracks`` list has one entry per audio stream of the container, in stream order::

    {"audio_index": 0, "language": "eng", "kind": "original", "title": "English (original)",
     "text_kind": null, "is_translation": null}
    {"audio_index": 1, "language": "spa", "kind": "synthetic-dub", "title": "Spanish (synthetic dub)",
     "text_kind": "translation", "is_translation": true}

``kind`` says where the audio comes from (:data:`KIND_ORIGINAL`, :data:`KIND_SYNTHETIC_DUB`, or
:data:`KIND_DUB` for a real, e.g. studio, dub). ``text_kind`` says what a synthetic track speaks:
a translation, given subtitles, or pseudo-text (not a translation; see :mod:`lssd.segments`).
:func:`track_label` folds both into the one label training uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lssd.errors import BadInputError

FORMAT = "lssd-dub/1"
FORMAT_FAMILY = "lssd-dub/"  # readers accept any minor revision of the family
SUFFIX = ".lssd.json"

# where a track's audio comes from (the sidecar's ``kind``)
KIND_ORIGINAL = "original"
KIND_SYNTHETIC_DUB = "synthetic-dub"
KIND_DUB = "dub"  # a real dub (studio), e.g. declared by a dataset, never made by lssd

# what a synthetic track speaks (the sidecar's ``text_kind``; also Translation.kind)
TEXT_TRANSLATION = "translation"
TEXT_SUBTITLES = "subtitles"
TEXT_PSEUDO = "pseudo-text"

# the label a trainer sees per track
LABEL_ORIGINAL = "original"
LABEL_DUB = "dub"  # real dub
LABEL_SYNTHETIC = "synthetic"  # lssd, speaking a translation (or given subtitles)
LABEL_PSEUDO = "pseudo"  # lssd, speaking pseudo-text: not a translation
LABELS = (LABEL_ORIGINAL, LABEL_DUB, LABEL_SYNTHETIC, LABEL_PSEUDO)


def path_for(media: Path) -> Path:
    """``clip.dub.mkv`` → ``clip.dub.lssd.json``."""
    media = Path(media)
    return media.with_name(media.name[: -len(media.suffix)] + SUFFIX if media.suffix else media.name + SUFFIX)


def find(media: Path) -> Path | None:
    """The sidecar of ``media``: beside the path as given, else beside the file a symlink resolves to
    (dubs reached through a link keep their labels)."""
    media = Path(media)
    for candidate in (path_for(media), path_for(media.resolve())):
        if candidate.is_file():
            return candidate
    return None


def validate(data: Any, name: str) -> dict[str, Any]:
    """``data`` if it is a sidecar of this family with a list of tracks; one sentence otherwise."""
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith(FORMAT_FAMILY):
        raise BadInputError(f"sidecar {name} is not an {FORMAT_FAMILY}* file")
    if not isinstance(data.get("tracks", []), list):
        raise BadInputError(f"sidecar {name} has no list of tracks")
    return data


def read(media: Path) -> dict[str, Any] | None:
    """The sidecar of ``media`` if there is one; a malformed one is an error (its labels would lie)."""
    path = find(media)
    if path is None:
        return None
    return read_file(path)


def read_file(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInputError(f"sidecar {path.name} is not readable JSON ({err})") from None
    return validate(data, path.name)


def write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temporary name, then rename), after checking it is a valid sidecar."""
    from lssd.media import write_json

    write_json(path, validate(data, Path(path).name))


def track_entry(audio_index: int, language: str, kind: str, title: str, text_kind: str | None = None) -> dict:
    """One ``tracks`` entry; ``is_translation`` is derived, never stated separately."""
    synthetic = kind == KIND_SYNTHETIC_DUB
    return {"audio_index": audio_index, "language": language, "kind": kind, "title": title,
            "text_kind": text_kind, "is_translation": (text_kind != TEXT_PSEUDO) if synthetic else None}


def track_label(entry: dict[str, Any]) -> str:
    """The training label of one ``tracks`` entry: original, dub, synthetic or pseudo."""
    kind = str(entry.get("kind", ""))
    if kind == KIND_ORIGINAL:
        return LABEL_ORIGINAL
    if kind.startswith("synthetic"):
        pseudo = entry.get("text_kind") == TEXT_PSEUDO or entry.get("is_translation") is False
        return LABEL_PSEUDO if pseudo else LABEL_SYNTHETIC
    return LABEL_DUB
