"""Stage 2 — transcribe: vocals → timestamped segments + source language (Whisper, subtitles, VAD)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lssd import stages
from lssd.backends import registry
from lssd.config import DubConfig
from lssd.dub.context import TRANSCRIPT, ClipContext
from lssd.languages import find
from lssd.segments import Segment, Transcript
from lssd.dub.workdir import fingerprint

NAME = stages.TRANSCRIBE
EMBEDDED_SUBTITLES = "embedded.srt"
LOW_CONFIDENCE = 0.5  # a detected source language less sure than this is a notice (CLI and sidecar)


def settings(cfg, lang=None) -> dict:
    subs = cfg.source_subtitles
    return {
        "source_language": cfg.source_language,
        "source_subtitles": fingerprint(subs) if subs else None,
        "asr_model": cfg.asr_model,
        "min_segment": cfg.min_segment,
    }


def _embedded_subtitles(ctx: ClipContext) -> tuple[str | None, Path | None]:
    """The source language known before transcription and the source subtitles. Subtitles inside the
    input count as user subtitles (they carry text and timing) — but only those in the language of the
    speech: foreign-language subtitles are not a transcript."""
    from lssd.subtitles import extract_subtitle_stream, text_subtitle_streams

    cfg = ctx.cfg
    spoken = _iso3(cfg.source_language) or _iso3(ctx.info.audio[0].language)
    streams = [s for s in text_subtitle_streams(ctx.info) if spoken and _iso3(s.language) == spoken]
    if cfg.source_subtitles is not None or not streams:
        return cfg.source_language, cfg.source_subtitles
    out = ctx.path(NAME, EMBEDDED_SUBTITLES)
    if not out.exists():
        extract_subtitle_stream(ctx.input_path, streams[0].index, out)
    return spoken, out


def _iso3(code: str | None) -> str | None:
    lang = find(code)
    return lang.iso3 if lang else None


def _backend_cfg(ctx: ClipContext) -> DubConfig:
    """What the recognizer may know before it runs: the stated language and the source subtitles."""
    language, subtitles = _embedded_subtitles(ctx)
    ctx.source_subtitles = subtitles
    return ctx.cfg.for_clip(language, subtitles)


def choose(ctx: ClipContext, lang=None) -> registry.Selection:
    return registry.select(NAME, ctx.cfg.asr, _backend_cfg(ctx))


def tidy(segments: list[Segment], duration: float) -> list[Segment]:
    """Sorted, inside the clip, non-overlapping, numbered 0..n-1: later stages rely on all four."""
    out: list[Segment] = []
    for seg in sorted(segments, key=lambda s: (s.start, s.end)):
        start, end = max(0.0, seg.start), min(duration, seg.end)
        if out and start < out[-1].end:
            start = out[-1].end
        if end - start <= 0.0:
            continue
        out.append(replace(seg, id=len(out), start=round(start, 3), end=round(end, 3), text=seg.text.strip()))
    return out


def run(ctx: ClipContext, lang=None, selection: registry.Selection | None = None) -> dict:
    cfg = _backend_cfg(ctx)
    engine = registry.engine(selection.backend, cfg)
    transcript = engine.transcribe(ctx.vocals, ctx.sr, cfg.source_language)
    segments = tidy(transcript.segments, ctx.duration)
    if segments and _iso3(transcript.language) is None and transcript.language != "und":
        # never pretend: lssd has no translator from this language, so the text is dropped and the
        # segments keep their timing (the labelled pseudo-text path); the original is tagged with it
        ctx.warn(f"the speech was heard as language {transcript.language!r}, which lssd cannot translate from: "
                 f"dubs carry pseudo-text speech (not a translation); if that is wrong, use --source-lang")
        segments = [replace(s, text="", words=[]) for s in segments]
    detection = transcript.detection
    if detection and detection["probability"] < LOW_CONFIDENCE:
        ctx.warn(f"source language detected as {detection['language']} with low confidence "
                 f"({detection['probability']:.2f}); if that is wrong, say which it is with --source-lang")
    transcript = Transcript(language=transcript.language, segments=segments, backend=selection.backend.name,
                            detection=detection)
    transcript.save(ctx.path(NAME, TRANSCRIPT))
    ctx.workdir.reset(stages.DIARIZE)  # its speaker-split copy of the old transcript must not outlive it
    if not transcript.segments:
        ctx.warn("no speech found: every dubbed track equals the original audio")
    return {
        "backend": selection.backend.name,
        "label": selection.backend.label,
        "provenance": engine.provenance(),
        "language": transcript.language,
        "detection": detection,
        "segments": len(transcript.segments),
    }
