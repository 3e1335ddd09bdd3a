"""Stage 6 — voice-convert: each aligned segment towards the original speaker of the same span."""

from __future__ import annotations

import numpy as np

from lssd.backends import registry
from lssd import stages
from lssd.dub.context import CONVERSION, ClipContext, segment_file
from lssd.languages import Language
from lssd.media import pad_or_trim, write_audio, write_json

NAME = stages.VOICE_CONVERT


def settings(cfg, lang: Language | None = None) -> dict:
    return {"vc_model": cfg.vc_model, "device": cfg.device}


def choose(ctx: ClipContext, lang: Language) -> registry.Selection:
    return registry.select(NAME, ctx.cfg.vc, ctx.backend_cfg(), lang)


def run(ctx: ClipContext, lang: Language, selection: registry.Selection) -> dict:
    engine = registry.engine(selection.backend, ctx.backend_cfg())
    out_dir = ctx.workdir.reset(NAME, lang.work_dir(NAME))

    def convert(p: dict) -> dict:
        speech = ctx.segment_audio(stages.ALIGN, lang, p["id"])
        reference = _reference(ctx, p, engine.min_reference_s)
        converted, info = engine.convert_with_info(speech, reference, ctx.sr)
        # placement bookkeeping relies on unchanged length
        converted = pad_or_trim(np.asarray(converted, dtype=np.float32), speech.shape[-1])
        write_audio(out_dir / segment_file(p["id"]), converted, ctx.sr)
        return info

    placements = ctx.alignment(lang)["placements"]
    infos = ctx.map(convert, placements, threads=None if getattr(engine, "thread_safe", False) else 1)
    details = {p["id"]: info for p, info in zip(placements, infos, strict=True) if info}
    write_json(out_dir / CONVERSION, {"segments": {str(k): v for k, v in details.items()}})
    return {"backend": selection.backend.name, "label": selection.backend.label, "provenance": engine.provenance()}


def _reference(ctx: ClipContext, placement: dict, min_s: float) -> np.ndarray:
    """The original speech of the placement's span. An engine that needs more of the speaker
    (``min_reference_s``: kNN-VC can only borrow frames it is shown) also gets the speech of the nearest
    other segments, closest first, until there is that much; without diarisation they may be another voice."""
    start, end = placement["span_start"], placement["span_end"]
    pieces = [ctx.original_speech(start, end)]
    others = sorted((s for s in ctx.transcript.segments if s.end <= start or s.start >= end),
                    key=lambda s: min(abs(s.end - start), abs(s.start - end)))
    for seg in others:
        if sum(p.size for p in pieces) >= min_s * ctx.sr:
            break
        pieces.append(ctx.original_speech(seg.start, seg.end))
    return np.concatenate(pieces)
