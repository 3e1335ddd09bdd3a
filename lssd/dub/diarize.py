"""Stage 3 — diarize: speaker turns for the clip, a speaker on every segment (split at speaker changes),
and the speakers table (speech seconds, median F0) that voice choice and voice conversion read.

Its own stage rather than part of transcribe: changing ``--speakers`` or the diarizer recomputes this
and the per-language stages, never the recognizer; and every transcriber (Whisper, subtitles, VAD) gets
the same speakers. Writes ``diarize/transcript.json`` (the speaker-split transcript, which
:attr:`ClipContext.transcript` serves from here on) and ``diarize/speakers.json``.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lssd import diarization, stages
from lssd.backends import registry
from lssd.dub.context import SPEAKERS, TRANSCRIPT, ClipContext
from lssd.media import write_json
from lssd.segments import Transcript

NAME = stages.DIARIZE
F0_SECONDS = 60.0  # a speaker's median F0 is measured on up to this much of their speech
F0_RATE = 16_000


def settings(cfg, lang=None) -> dict:
    return {"diarizer_model": cfg.diarizer_model, "speakers": cfg.speakers, "min_speakers": cfg.min_speakers,
            "max_speakers": cfg.max_speakers}


def choose(ctx: ClipContext, lang=None) -> registry.Selection:
    return registry.select(NAME, ctx.cfg.diarizer, ctx.backend_cfg())


def run(ctx: ClipContext, lang=None, selection: registry.Selection | None = None) -> dict:
    out = ctx.workdir.reset(NAME)
    transcript = Transcript.load(ctx.path(stages.TRANSCRIBE, TRANSCRIPT))
    engine = registry.engine(selection.backend, ctx.backend_cfg())
    turns = engine.diarize(ctx.vocals, ctx.sr, transcript.segments) if transcript.segments else []
    if transcript.segments and not turns:  # the diarizer heard no speech where the recognizer did
        turns = diarization.one_speaker(transcript.segments)
    segments = diarization.split_segments(transcript.segments, turns)
    table = speakers_table(ctx, turns, segments)
    write_json(out / SPEAKERS, {"turns": [asdict(t) for t in turns], "speakers": table})
    Transcript(transcript.language, segments, transcript.backend, transcript.detection).save(out / TRANSCRIPT)
    return {"backend": selection.backend.name, "label": selection.backend.label, "provenance": engine.provenance(),
            "speakers": len(table), "segments": len(segments), "split": len(segments) - len(transcript.segments)}


def speakers_table(ctx: ClipContext, turns: list[diarization.Turn], segments: list) -> list[dict]:
    """One row per speaker, in id order: speech seconds (their turns), dubbed segments, median F0."""
    ids = sorted({t.speaker for t in turns} | {s.speaker for s in segments if s.speaker},
                 key=lambda k: int(k.removeprefix(diarization.SPEAKER_PREFIX)))
    rows = []
    for k in ids:
        own = [t for t in turns if t.speaker == k]
        rows.append({"id": k, "speech_s": round(sum(t.duration for t in own), 3),
                     "segments": sum(1 for s in segments if s.speaker == k),
                     "median_f0_hz": median_f0(ctx, [(t.start, t.end) for t in own])})
    return rows


def median_f0(ctx: ClipContext, spans: list[tuple[float, float]]) -> float | None:
    """Voiced median F0 (WORLD DIO + StoneMask, as voice conversion measures it) of up to
    :data:`F0_SECONDS` of the original speech in ``spans``; None when nothing is voiced."""
    from lssd.dsp.world_vc import estimate_f0
    from lssd.media import resample

    f0s, total = [], 0.0
    for a, b in spans:
        if total >= F0_SECONDS:
            break
        b = min(b, a + F0_SECONDS - total)
        total += b - a
        wav = resample(ctx.original_speech(a, b), ctx.sr, F0_RATE)
        if wav.size >= F0_RATE // 20:
            f0 = estimate_f0(wav, F0_RATE)
            f0s.append(f0[f0 > 0])
    voiced = np.concatenate(f0s) if f0s else np.zeros(0)
    return round(float(np.median(voiced)), 1) if voiced.size else None
