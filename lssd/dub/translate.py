"""Stage 3 — translate: segment texts (or speech) → target-language text (and speech, for S2ST/T2ST)."""

from __future__ import annotations

from lssd.backends import registry
from lssd import stages
from lssd.dub.context import TRANSLATED_SPEECH, TRANSLATION, ClipContext, segment_file
from lssd.segments import Transcript, Translation
from lssd.dub.workdir import fingerprint
from lssd.languages import Language
from lssd.media import write_audio

NAME = stages.TRANSLATE


def settings(cfg, lang: Language | None = None) -> dict:
    subs = cfg.subtitles.get(lang.iso3)
    return {
        "subtitles": fingerprint(subs) if subs else None,
        "seamless_model": cfg.seamless_model,
        "seamless_mode": cfg.seamless_mode,
    }


def choose(ctx: ClipContext, lang: Language) -> registry.Selection:
    # backends decide by the source language, known only now that the transcript exists
    has_text = any(s.text.strip() for s in ctx.dubbed_segments())
    return registry.select(NAME, ctx.cfg.translator, ctx.backend_cfg(), lang, has_text=has_text)


def run(ctx: ClipContext, lang: Language, selection: registry.Selection) -> dict:
    engine = registry.engine(selection.backend, ctx.backend_cfg())
    transcript = Transcript(ctx.source_language, ctx.dubbed_segments(), ctx.transcript.backend)
    result = engine.translate(transcript, lang, ctx.vocals, ctx.sr)
    out_dir = ctx.workdir.reset(NAME, lang.work_dir(NAME))
    for seg_id, speech in result.speech.items():
        write_audio(out_dir / TRANSLATED_SPEECH / segment_file(seg_id), speech, result.speech_sr)
    translation = Translation(
        language=lang.iso3, kind=result.kind, texts=result.texts, backend=selection.backend.name,
        speech=bool(result.speech),
    )
    translation.save(out_dir / TRANSLATION)
    if not translation.is_translation:
        ctx.warn(f"{lang.name}: no translation available offline; the track carries pseudo-text speech (not a translation)")
    return {
        "backend": selection.backend.name,
        "label": selection.backend.label,
        "kind": translation.kind,
        "is_translation": translation.is_translation,
        "provenance": engine.provenance(),
    }
