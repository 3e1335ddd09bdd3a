"""Stage 8 — remux: place segments at their original times on a track of the original length, mix
with the background, and mux everything with the original video into one container.

The container holds the original video (stream copy), the original audio (decoded on the picture's
timeline and encoded like the dubs — FLAC in mkv/mka, so losslessly — tagged with the source language,
disposition ``original``), one audio stream per target language (ISO 639-2 tag, title
"Spanish (synthetic dub)", disposition ``dub``) and one subtitle stream per language; an SRT per
language is also written beside it.
"""

from __future__ import annotations

import subprocess
from collections import deque
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import numpy as np

from lssd import sidecar, stages
from lssd.dub import controls
from lssd.dub.context import BACKGROUND, MIX, ClipContext
from lssd.segments import KIND_PSEUDO
from lssd.errors import BadInputError, LssdError
from lssd.languages import Language, find
from lssd.media import BLOCK, atomic_output, audio_blocks, audio_writer, ff_path, require_tool, tool_version
from lssd.subtitles import Cue, write_srt

NAME = stages.REMUX
LIMIT = 0.98  # soft-limit threshold: summed speech + background must not clip
AUDIO_CODECS = {"mkv": ("flac", None), "mka": ("flac", None), "mp4": ("aac", "192k")}  # codec, bitrate
SUBTITLE_CODECS = {"mkv": "srt", "mka": "srt", "mp4": "mov_text"}
# a control is not a dub: no ``dub`` flag (the background alone is ffmpeg's ``clean_effects``)
_DISPOSITIONS = {sidecar.KIND_ORIGINAL: "default+original", "background": "clean_effects", sidecar.KIND_CONTROL: "0"}


def settings(cfg, lang=None) -> dict:
    return {"container": cfg.container, "langs": cfg.lang_codes, **({"controls": cfg.controls} if cfg.controls else {}),
            **({"srt_speakers": True} if cfg.srt_speakers else {})}


def tagged(ctx: ClipContext, text: str, speaker: str | None) -> str:
    """A cue's text, led by its speaker's id (``[S2] …``) when ``--srt-speakers`` asks for it."""
    return f"[{speaker}] {text}" if ctx.cfg.srt_speakers and speaker else text


@dataclass
class Track:
    language: str  # iso3
    title: str
    kind: str  # sidecar.KIND_ORIGINAL | sidecar.KIND_SYNTHETIC_DUB
    text_kind: str | None = None  # translation | subtitles | pseudo-text
    wav: Path | None = None
    srt: Path | None = None
    control: str | None = None  # a control track (sidecar.KIND_CONTROL): which one
    spoken_language: str | None = None  # what a control speaks (iso3; None: no speech)


def container_for(ctx: ClipContext) -> str:
    return ctx.cfg.container if ctx.info.has_video else "mka"


def soft_limit(x: np.ndarray, threshold: float = LIMIT) -> np.ndarray:
    """Leave everything below ``threshold`` untouched; squash peaks above it smoothly below 1.0."""
    over = np.abs(x) > threshold
    if not over.any():
        return x
    y = x.copy()
    head = 1.0 - threshold
    y[over] = np.sign(x[over]) * (threshold + head * np.tanh((np.abs(x[over]) - threshold) / head))
    return y


def write_dub_track(ctx: ClipContext, lang: Language, dest: Path) -> None:
    """Background plus every converted, loudness-matched segment at its placement, built block by block
    onto ``dest``: only the current block and the segments sounding in it are in memory. Segments are
    added in placement order, as onto a whole track, so the samples are the same."""
    n = ctx.n_samples
    queue = deque(sorted((int(round(p["start"] * ctx.sr)), i, p["id"])
                         for i, p in enumerate(ctx.alignment(lang)["placements"])))
    sounding: list[tuple[int, int, np.ndarray]] = []  # (placement index, start sample, samples)
    with audio_writer(dest, ctx.background.shape[0], ctx.sr) as write:
        for a, track in zip(count(0, BLOCK), audio_blocks(ctx.path(stages.SEPARATE, BACKGROUND), BLOCK)):
            b = a + track.shape[1]
            while queue and queue[0][0] < b:
                start, i, seg_id = queue.popleft()
                seg = ctx.segment_audio(stages.MATCH_LOUDNESS, lang, seg_id)
                sounding.append((i, start, seg[: max(0, n - start)]))
            sounding.sort(key=lambda s: s[0])
            for _, start, seg in sounding:
                lo, hi = max(start, a), min(start + seg.shape[0], b)
                if lo < hi:
                    track[:, lo - a : hi - a] += seg[None, lo - start : hi - start]
            sounding = [s for s in sounding if s[1] + s[2].shape[0] > b]
            write(soft_limit(track))


def track_title(lang: Language, text_kind: str | None) -> str:
    if text_kind == KIND_PSEUDO:
        return f"{lang.name} (synthetic dub, pseudo-text: not a translation)"
    return f"{lang.name} (synthetic dub)"


def build_tracks(ctx: ClipContext) -> list[Track]:
    src = ctx.source_language
    known = find(src)
    src_name = known.name if known else "Original"
    out_dir = ctx.workdir.stage_dir(NAME)
    original = Track(language=known.iso3 if known else (src if len(src) == 3 else "und"), title=f"{src_name} (original)", kind=sidecar.KIND_ORIGINAL,
                     wav=ctx.path(stages.INPUT, MIX), srt=out_dir / f"{src}.srt")  # the decoded original on the picture's timeline
    write_srt(original.srt, [Cue(s.start, s.end, tagged(ctx, s.text, s.speaker)) for s in ctx.transcript.segments
                             if s.text.strip()])
    tracks = [original]
    for lang in ctx.targets:
        text_kind = ctx.translation(lang).kind if ctx.transcript.segments else None
        track = Track(language=lang.iso3, title=track_title(lang, text_kind), kind=sidecar.KIND_SYNTHETIC_DUB,
                      text_kind=text_kind, wav=original.wav, srt=out_dir / f"{lang.iso3}.srt")
        if ctx.transcript.segments:  # without speech the dub is the original itself: no copy is written
            track.wav = out_dir / f"{lang.iso3}.wav"
            write_dub_track(ctx, lang, track.wav)
        write_srt(track.srt, _cues(ctx, lang))
        tracks.append(track)
    return tracks + control_tracks(ctx, original, src_name)


def control_tracks(ctx: ClipContext, original: Track, source_name: str) -> list[Track]:
    """The counterfactual controls (:mod:`lssd.dub.controls`), tagged with the source language."""
    tracks = []
    for voice in ctx.controls:
        text_kind = ctx.translation(voice).kind
        track = Track(language=original.language, kind=sidecar.KIND_CONTROL, text_kind=text_kind,
                      title=controls.title(voice.control, voice, source_name, text_kind),
                      wav=ctx.workdir.stage_dir(NAME) / f"{voice.key}.wav", control=voice.control,
                      spoken_language=voice.iso3)
        write_dub_track(ctx, voice, track.wav)
        tracks.append(track)
    if controls.BACKGROUND in ctx.cfg.controls:
        tracks.append(Track(language=original.language, kind=sidecar.KIND_CONTROL, control=controls.BACKGROUND,
                            title=controls.title(controls.BACKGROUND, None, source_name, None),
                            wav=ctx.path(stages.SEPARATE, BACKGROUND)))
    return tracks


def _cues(ctx: ClipContext, lang: Language) -> list[Cue]:
    if not ctx.transcript.segments:
        return []
    texts = ctx.translation(lang).texts
    speaker = {s.id: s.speaker for s in ctx.transcript.segments}
    return [Cue(p["start"], p["end"], tagged(ctx, texts.get(p["id"], ""), speaker.get(p["id"])))
            for p in ctx.alignment(lang)["placements"] if texts.get(p["id"], "").strip()]


def mux(ctx: ClipContext, tracks: list[Track], output: Path) -> None:
    container = output.suffix.lstrip(".")
    codec, bitrate = AUDIO_CODECS[container]
    cmd = [require_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", "-i", ff_path(ctx.input_path)]
    audio = [t for t in tracks if t.wav is not None]
    for t in audio:
        cmd += ["-i", ff_path(t.wav)]
    subs = [t for t in tracks if t.srt is not None and t.srt.stat().st_size > 0]
    for t in subs:
        cmd += ["-i", ff_path(t.srt)]
    if ctx.info.has_video:
        cmd += ["-map", f"0:{ctx.info.video[0].index}"]
    for i in range(len(audio)):
        cmd += ["-map", f"{1 + i}:a:0"]
    for i in range(len(subs)):
        cmd += ["-map", f"{1 + len(audio) + i}:s:0"]
    # every audio track, the original included, is encoded from the same timeline with the same codec:
    # a stream copy of the original would keep its codec's priming and length, and tracks would decode
    # offset from each other (AAC: 1024 samples) and of different lengths
    cmd += ["-c:v", "copy", "-c:a", codec] + (["-b:a", bitrate] if bitrate else [])
    if subs:
        cmd += ["-c:s", SUBTITLE_CODECS[container]]
    title_key = "handler_name" if container == "mp4" else "title"
    for i, t in enumerate(tracks):
        cmd += [f"-metadata:s:a:{i}", f"language={t.language}", f"-metadata:s:a:{i}", f"{title_key}={t.title}"]
        cmd += [f"-disposition:a:{i}", _DISPOSITIONS.get("background" if t.control == controls.BACKGROUND else t.kind, "dub")]
    for i, t in enumerate(subs):
        cmd += [f"-metadata:s:s:{i}", f"language={t.language}",
                f"-metadata:s:s:{i}", f"{title_key}={t.title.replace('(original)', '(original subtitles)')}"]
    cmd += ["-metadata", "comment=lssd synthetic dubs (see the .lssd.json sidecar)"]
    with atomic_output(output) as tmp:
        proc = subprocess.run([*cmd, "-f", "matroska" if container in ("mkv", "mka") else "mp4", str(tmp)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["unknown ffmpeg error"])[-1]
            hint = " (try --container mkv)" if container == "mp4" else ""
            raise LssdError(f"muxing {output.name} failed: {reason}{hint}")


def ffmpeg_version() -> str:
    return tool_version(require_tool("ffmpeg")) or "ffmpeg"


def _remove_old_srts(output: Path, keep: set[str]) -> None:
    """SRTs an earlier run wrote beside this output (its sidecar lists them) for languages this run no
    longer has: left there, they would describe tracks the new container lacks."""
    side = sidecar.path_for(output)
    try:
        old = sidecar.read_file(side).get("srt") if side.is_file() else None
    except BadInputError:
        return
    for name in (old or {}).values():
        if isinstance(name, str) and name not in keep and "/" not in name and name.startswith(f"{output.stem}.") \
                and name.endswith(".srt"):
            output.with_name(name).unlink(missing_ok=True)


def run(ctx: ClipContext, lang=None, selection=None) -> dict:
    tracks = build_tracks(ctx)
    output: Path = ctx.output
    mux(ctx, tracks, output)
    for t in tracks:  # the dub tracks live on in the output; as work files they would only take room
        if t.wav is not None and t.wav.parent == ctx.workdir.stage_dir(NAME):
            t.wav.unlink()
    srt_paths = {}
    for t in tracks:
        if t.srt is not None and t.srt.stat().st_size > 0:
            dest = output.with_name(f"{output.stem}.{t.language}.srt")
            with atomic_output(dest) as tmp:
                tmp.write_bytes(t.srt.read_bytes())
            srt_paths[t.language] = dest.name
    _remove_old_srts(output, set(srt_paths.values()))
    return {
        "backend": "ffmpeg",
        "provenance": {"tool": ffmpeg_version(), "audio_codec": AUDIO_CODECS[container_for(ctx)][0]},
        "label": "ffmpeg: original video stream-copied; original and dubs as " + AUDIO_CODECS[container_for(ctx)][0],
        "output": str(output),
        "tracks": [sidecar.control_entry(i, t.language, t.control, t.title, t.spoken_language, t.text_kind)
                   if t.control else sidecar.track_entry(i, t.language, t.kind, t.title, t.text_kind)
                   for i, t in enumerate(tracks)],
        "srt": srt_paths,
    }
