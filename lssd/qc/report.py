"""QC of one container: every dub track measured against the original track, judged, as plain data.

Works on what ``lssd dub`` wrote (its sidecar names the original track and adds alignment figures) and on
any multi-track file without a sidecar (the first audio track is taken as the original unless told).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lssd import sidecar
from lssd.errors import BadInputError
from lssd.media import SAMPLE_RATE, decode_audio, probe
from lssd.qc import measure, speakers
from lssd.qc.thresholds import BY_NAME, CHEAP, MODEL, PASS, SIDECAR, WARN, Metric, worst


SPEECH_METRICS = ("timing", "loudness", "f0", "voice", "language", "intelligibility")  # n/a without speech


def _said(sc: dict | None, track: dict) -> list[dict]:
    """The sidecar's per-segment entries of one track (a dub's ``targets``, a control's ``controls``)."""
    if sc is None or track["text_key"] is None:
        return []
    where, key = track["text_key"]
    return [s.get(where, {}).get(key) for s in sc.get("segments", [])]


def _reference(sc: dict | None, track: dict) -> str | None:
    """The text a track was synthesized to say, in segment order; None for pseudo-text or without one."""
    if track["text_kind"] == sidecar.TEXT_PSEUDO:
        return None
    texts = [t.get("text", "") for t in _said(sc, track) if t and t.get("placed", True) is not False]
    return " ".join(t for t in texts if t.strip()) or None


def _alignment(sc: dict | None, track: dict) -> dict[str, float | None]:
    """Worst stretch, trimmed and borrowed seconds of one track's segments, from the sidecar."""
    if sc is None:
        return {}
    targets = _said(sc, track)
    placed = [t for t in targets if t and "stretch_ratio" in t]
    if not placed:
        return {"stretch": None, "trimmed": None}
    ratios = np.array([float(t["stretch_ratio"]) for t in placed])
    return {"stretch": float(np.max(np.maximum(ratios, 1 / ratios))),
            "trimmed": float(sum(float(t.get("trimmed_s", 0.0)) for t in placed)),
            "borrowed_s": float(sum(float(t.get("borrowed_s", 0.0)) for t in placed)),
            "stretch_median": float(np.median(ratios)), "segments": len(placed)}


def _tracks(path: Path, sc: dict | None, original: int | None) -> tuple[list[dict], int]:
    """One dict per audio stream (absolute index, language, title, label) and the original's position."""
    streams = probe(path).audio
    if len(streams) < 2:
        raise BadInputError(f"{path.name} has {len(streams)} audio track(s); QC compares dub tracks with an original")
    entries = {int(t.get("audio_index", i)): t for i, t in enumerate(sc.get("tracks", []))} if sc else {}
    tracks = []
    for i, s in enumerate(streams):
        e = entries.get(i, {})
        language = e.get("language") or s.language or "und"
        control = e.get("kind") == sidecar.KIND_CONTROL
        tracks.append({"audio_index": i, "stream": s.index, "language": language,
                       "title": e.get("title") or s.title or f"track {i}",
                       "label": sidecar.track_label(e) if e else None,
                       # a control is tagged with the source language but speaks its own (or nothing)
                       "spoken": e.get("spoken_language") if control else language,
                       "text_kind": e.get("text_kind"),
                       "text_key": (("controls", sidecar.control_id(e)) if control else ("targets", language))
                       if e.get("kind") != sidecar.KIND_ORIGINAL else None})
    if original is None:
        original = next((i for i, e in entries.items() if e.get("kind") == sidecar.KIND_ORIGINAL), 0)
    if not 0 <= original < len(tracks):
        raise BadInputError(f"{path.name} has no audio track {original} (it has {len(tracks)})")
    return tracks, original


def judge(values: dict, table: dict[str, Metric]) -> dict[str, dict]:
    """``{name: {value, unit, status}}`` for every metric in ``values``."""
    return {name: {"value": v, "unit": table[name].unit, "status": table[name].status(v)}
            for name, v in values.items() if name in table}


def check(output: Path, *, table: dict[str, Metric] | None = None, costs: tuple[str, ...] = (CHEAP, MODEL),
          original: int | None = None, only: set[int] | None = None) -> dict:
    """The QC report of one container (JSON-ready): per dub track, each metric's value and status.
    ``only``: the audio tracks (0-based) to check; default every track but the original."""
    output = Path(output)
    table = table or BY_NAME
    sc = sidecar.read(output)
    tracks, orig_pos = _tracks(output, sc, original)
    wanted = [p for p in range(len(tracks)) if p != orig_pos and (only is None or p in only)]
    if only is not None and set(only) - set(wanted):
        raise BadInputError(f"{output.name}: no dub track {min(set(only) - set(wanted))} to check "
                            f"(audio tracks 0–{len(tracks) - 1}, the original is {orig_pos})")
    original_audio = decode_audio(output, SAMPLE_RATE, stream=tracks[orig_pos]["stream"], timeline=True)
    length = original_audio.shape[1]
    orig = measure.track(original_audio, SAMPLE_RATE, length)
    out_tracks = []
    for pos in wanted:
        t = tracks[pos]
        audio = decode_audio(output, SAMPLE_RATE, stream=t["stream"], timeline=True)[:, :length]
        covered = measure.length_share(audio.shape[1], length)
        lag = measure.sync_offset(audio, original_audio, SAMPLE_RATE, orig.spans)
        dub = measure.track(measure.shift(audio, lag or 0), SAMPLE_RATE, length)
        found = measure.measure(dub, orig, t["spoken"], costs, reference=_reference(sc, t))
        if t["text_key"] is not None and t["text_key"][0] == "controls" and t["spoken"] is None:
            # the background control speaks nothing: what is measured of speech is not its business
            found["values"].update({k: None for k in SPEECH_METRICS if k in found["values"]})
        sync = None if lag is None else round(1000 * lag / SAMPLE_RATE, 3)
        values = {"sync": sync, **({"length": covered} if CHEAP in costs else {}), **found["values"],
                  **_alignment(sc, t)}
        metrics = judge(values, table)
        if found.get("language_status") and "language" in metrics:
            metrics["language"]["status"] = found["language_status"]
        if found.get("detected_language"):
            metrics.get("language", {})["detected"] = found["detected_language"]
        if found.get("heard") is not None and "intelligibility" in metrics:
            metrics["intelligibility"]["heard"] = found["heard"]
        if t["label"] is not None:
            metrics["text"] = {"value": t["label"], "unit": "",
                               "status": WARN if t["label"] == sidecar.LABEL_PSEUDO else PASS}
        info = {k: v for k, v in values.items() if k not in table}
        notices = [] if covered is None or covered >= 0.99 else [
            f"track {pos} ({t['title']}) lasts {audio.shape[1] / SAMPLE_RATE:.2f} s of the original's "
            f"{length / SAMPLE_RATE:.2f} s: cut short"]
        per_speaker = speakers.measure(dub.mono, orig.mono, sc, t["language"], MODEL in costs) if sc else None
        t = {k: v for k, v in t.items() if k != "text_key"}
        out_tracks.append({**t, "notices": notices, "metrics": metrics, "info": info, "speech_s": _seconds(dub.spans),
                           "status": worst(m["status"] for m in metrics.values()),
                           **({"speakers": per_speaker} if per_speaker else {})})
    orig_t = {k: v for k, v in tracks[orig_pos].items() if k != "text_key"}
    return {
        "output": str(output),
        "sidecar": str(sidecar.find(output)) if sc else None,
        "duration": length / SAMPLE_RATE,
        "costs": list(costs) + ([SIDECAR] if sc else []),
        "original": {**orig_t, "speech_s": _seconds(orig.spans), "spans": [list(s) for s in orig.spans]},
        "tracks": out_tracks,
        "status": worst(t["status"] for t in out_tracks),
        "notices": [n for t in out_tracks for n in t["notices"]],
        "thresholds": {m.name: {"pass": m.pass_at, "warn": m.warn_at, "better": m.better, "unit": m.unit}
                       for m in table.values()},
    }


def _seconds(spans) -> float:
    return round(float(sum(b - a for a, b in spans)), 3)


def qc_summary(output_path: Path) -> dict:
    """The cheap QC of one dub for a dataset manifest row: no models; ≈9 s CPU per minute of audio per dub
    track (benchmarks/qc.py), where the model-based metrics would add ≈18 s and a model load per process.

    ``{"status", "cost", "tracks": [{"language", "label", "status", "values": {metric: value},
    "statuses": {metric: status}}]}``; store it as JSON (``json.dumps``) in the manifest's ``qc`` column."""
    report = check(Path(output_path), costs=(CHEAP,))
    return {
        "status": report["status"],
        "cost": CHEAP,
        "tracks": [{"language": t["language"], "label": t["label"], "status": t["status"],
                    "values": {k: m["value"] for k, m in t["metrics"].items()},
                    "statuses": {k: m["status"] for k, m in t["metrics"].items()}}
                   for t in report["tracks"]],
    }
