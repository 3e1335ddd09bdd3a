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
:data:`KIND_DUB` for a real, e.g. studio, dub, or :data:`KIND_CONTROL` for a counterfactual control, an
lssd addition: a track that is *not* a dub, tagged with the source language, naming its ``control`` and
the ``spoken_language`` it speaks, e.g. ``{"kind": "control", "control": "resynth", "language": "eng",
"spoken_language": "eng", "title": "English (control: re-synthesized)", "text_kind": "transcript"}``). ``text_kind`` says what a synthetic track speaks:
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
KIND_CONTROL = "control"  # a counterfactual control (lssd's addition): never a dub, never the original

# the controls (``--controls``), each with what its title says it is
CONTROLS: dict[str, str] = {
    "resynth": "re-synthesized",  # the source transcript spoken by the TTS, then aligned/converted/matched
    "novc": "dub without voice conversion",  # a target-language dub with voice conversion off
    "natural": "dub at natural timing",  # a target-language dub placed unstretched
    "background": "background only",  # the separated background, no speech
}

# what a synthetic track speaks (the sidecar's ``text_kind``; also Translation.kind)
TEXT_TRANSLATION = "translation"
TEXT_SUBTITLES = "subtitles"
TEXT_PSEUDO = "pseudo-text"
TEXT_TRANSCRIPT = "transcript"  # the source speech's own words (the resynth control)

# the label a trainer sees per track
LABEL_ORIGINAL = "original"
LABEL_DUB = "dub"  # real dub
LABEL_SYNTHETIC = "synthetic"  # lssd, speaking a translation (or given subtitles)
LABEL_PSEUDO = "pseudo"  # lssd, speaking pseudo-text: not a translation
LABELS = (LABEL_ORIGINAL, LABEL_DUB, LABEL_SYNTHETIC, LABEL_PSEUDO)
LABEL_CONTROL = "control"  # a control track: kept out of the language tracks (see lssd.train.index)


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
    _validate_types(data, name)
    _validate_controls(data["tracks"] if "tracks" in data else [], name)
    _validate_speakers(data, name)
    return data


# the fields a reader computes with, and the type each must have when present
_TRACK_FIELDS = {"audio_index": "int", "language": "str", "kind": "str"}
_SEGMENT_FIELDS = {"start": "number", "end": "number", "text": "str", "targets": "dict"}
_TARGET_FIELDS = {"start": "number", "end": "number", "stretch_ratio": "number", "borrowed_s": "number",
                  "trimmed_s": "number", "synth_duration": "number", "text": "str"}
_TYPES = {"int": (int,), "number": (int, float), "str": (str,), "dict": (dict,), "list": (list,)}
_NAMES = {"int": "a whole number", "number": "a number", "str": "text", "dict": "an object", "list": "a list"}


def _check(value: Any, kind: str, where: str, name: str) -> None:
    if value is None and kind == "str":  # a text-less segment (speech located, not transcribed)
        return
    if isinstance(value, bool) or not isinstance(value, _TYPES[kind]):
        raise BadInputError(f"sidecar {name}: {where} is {value!r}, not {_NAMES[kind]}; it was not written by "
                            f"lssd as it is (dub the clip again)")


def _validate_types(data: dict[str, Any], name: str) -> None:
    """Every field a reader computes with has its type (a hand-edited ``"audio_index": "a"`` is one
    sentence here, not a ValueError deep inside QC)."""
    if data.get("duration") is not None:
        _check(data["duration"], "number", "duration", name)
    for i, track in enumerate(data.get("tracks", [])):
        _check(track, "dict", f"tracks[{i}]", name)
        for key, kind in _TRACK_FIELDS.items():
            if key in track:
                _check(track[key], kind, f"tracks[{i}].{key}", name)
    _check(data.get("segments", []), "list", "segments", name)
    for i, seg in enumerate(data.get("segments", [])):
        _check(seg, "dict", f"segments[{i}]", name)
        for key, kind in _SEGMENT_FIELDS.items():
            if key in seg:
                _check(seg[key], kind, f"segments[{i}].{key}", name)
        for lang, target in seg.get("targets", {}).items():
            _check(target, "dict", f"segments[{i}].targets.{lang}", name)
            for key, kind in _TARGET_FIELDS.items():
                if key in target:
                    _check(target[key], kind, f"segments[{i}].targets.{lang}.{key}", name)


def _validate_speakers(data: dict, name: str) -> None:
    """``speakers`` (optional; lssd ≥ diarization) is a list of rows with a string ``id``, and every
    segment's ``speaker`` is one of them (a label pointing nowhere would mislead per-speaker readers)."""
    rows = data.get("speakers", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in rows):
        raise BadInputError(f"sidecar {name}: 'speakers' must be a list of rows with a string 'id'")
    ids = {r["id"] for r in rows}
    for seg in data.get("segments", []) if isinstance(data.get("segments"), list) else []:
        who = seg.get("speaker") if isinstance(seg, dict) else None
        if who is not None and who not in ids:
            raise BadInputError(f"sidecar {name}: segment {seg.get('id')!r} names speaker {who!r}, "
                                f"which is not in its speakers table")


def speaker_order(speaker_id: str) -> tuple[int, str]:
    """Sort key of a ``speakers`` id: lssd's S1, S2, … by number (S10 after S9), any other id (a
    hand-made sidecar may say ``alice``) after them by name, never a ValueError."""
    digits = speaker_id[1:] if speaker_id[:1] == "S" else ""
    return (int(digits), "") if digits.isdigit() else (1 << 62, speaker_id)


def _validate_controls(tracks: list, name: str) -> None:
    """A control track names a known control; a track naming a control is of kind control (a reader
    must never take a control for a dub)."""
    for entry in tracks:
        if not isinstance(entry, dict):
            continue
        control, kind = entry.get("control"), entry.get("kind")
        if kind == KIND_CONTROL and control not in CONTROLS:
            raise BadInputError(f"sidecar {name}: control track {entry.get('audio_index')!r} names an unknown "
                                f"control {control!r} (known: {', '.join(CONTROLS)})")
        if control is not None and kind != KIND_CONTROL:
            raise BadInputError(f"sidecar {name}: track {entry.get('audio_index')!r} names control {control!r} "
                                f"but is of kind {kind!r}, not {KIND_CONTROL!r}")


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


def control_entry(audio_index: int, language: str, control: str, title: str, spoken_language: str | None,
                  text_kind: str | None) -> dict:
    """One ``tracks`` entry of a control (tagged ``language``, speaking ``spoken_language``)."""
    return {**track_entry(audio_index, language, KIND_CONTROL, title, text_kind), "control": control,
            "spoken_language": spoken_language}


def control_id(entry: dict[str, Any]) -> str:
    """``resynth``, ``background``, ``novc:spa``: a control track's name, with the language it speaks
    where a clip can have several of that control (one per dub language)."""
    control = str(entry.get("control"))
    spoken = entry.get("spoken_language")
    return f"{control}:{spoken}" if control in ("novc", "natural") and spoken else control


def track_label(entry: dict[str, Any]) -> str:
    """The training label of one ``tracks`` entry: original, dub, synthetic, pseudo or control."""
    kind = str(entry.get("kind", ""))
    if kind == KIND_CONTROL:
        return LABEL_CONTROL
    if kind == KIND_ORIGINAL:
        return LABEL_ORIGINAL
    if kind.startswith("synthetic"):
        pseudo = entry.get("text_kind") == TEXT_PSEUDO or entry.get("is_translation") is False
        return LABEL_PSEUDO if pseudo else LABEL_SYNTHETIC
    return LABEL_DUB
