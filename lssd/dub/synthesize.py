"""Stage 4 — synthesize: target text → speech per segment (skipped when the translator spoke already)."""

from __future__ import annotations

from lssd.backends import registry
from lssd import stages
from lssd.dub.context import TRANSLATED_SPEECH, ClipContext, segment_file
from lssd.languages import Language
from lssd.media import read_audio, resample, write_audio

NAME = stages.SYNTHESIZE


def settings(cfg, lang: Language) -> dict:
    return {"seamless_model": cfg.seamless_model}


def choose(ctx: ClipContext, lang: Language) -> registry.Selection | None:
    if ctx.translation(lang).speech:
        return None  # S2ST / T2ST: the translator produced the speech
    return registry.select(NAME, ctx.cfg.tts, ctx.backend_cfg(), lang)


def run(ctx: ClipContext, lang: Language, selection: registry.Selection | None) -> dict:
    translation = ctx.translation(lang)
    segments = [s for s in ctx.dubbed_segments() if translation.texts.get(s.id, "").strip() or translation.speech]
    out_dir = ctx.workdir.reset(NAME, lang.work_dir(NAME))
    if selection is None:
        src = ctx.path(stages.TRANSLATE, TRANSLATED_SPEECH, lang)
        for seg in segments:
            wav = src / segment_file(seg.id)
            if wav.exists():
                write_audio(out_dir / segment_file(seg.id), read_audio(wav, ctx.sr, mono=True), ctx.sr)
        return {"backend": f"{translation.backend} (speech from translate)", "label": "speech produced by the translator",
                "provenance": {"from": stages.TRANSLATE}}
    engine = registry.engine(selection.backend, ctx.backend_cfg())
    texts = [translation.texts[s.id] for s in segments]
    audios, sr = engine.synthesize(texts, lang, [s.duration for s in segments]) if segments else ([], ctx.sr)
    durations = {}
    for seg, audio in zip(segments, audios, strict=True):
        speech = resample(audio.astype("float32"), sr, ctx.sr)
        write_audio(out_dir / segment_file(seg.id), speech, ctx.sr)
        durations[seg.id] = round(speech.shape[-1] / ctx.sr, 3)
    return {"backend": selection.backend.name, "label": selection.backend.label,
            "provenance": engine.provenance(), "durations": durations}
