"""Stage 5 — synthesize: target text → speech per segment (skipped when the translator spoke already).

Each speaker keeps one voice through the clip: an engine that has voices (``choose_voices``: espeak-ng
variants by pitch, SeamlessM4T's vocoder speakers) is given the diarize stage's speakers table and picks
one per speaker; the record says which voice each speaker got."""

from __future__ import annotations

from lssd.backends import registry
from lssd import stages
from lssd.dub.context import SPEAKERS, TRANSLATED_SPEECH, ClipContext, segment_file
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
    voices = _voices(ctx, engine, lang)
    extra = {"voices": [voices.get(s.speaker) for s in segments]} if voices else {}
    audios, sr = engine.synthesize(texts, lang, [s.duration for s in segments], **extra) if segments else ([], ctx.sr)
    durations = {}
    for seg, audio in zip(segments, audios, strict=True):
        speech = resample(audio.astype("float32"), sr, ctx.sr)
        write_audio(out_dir / segment_file(seg.id), speech, ctx.sr)
        durations[seg.id] = round(speech.shape[-1] / ctx.sr, 3)
    return {"backend": selection.backend.name, "label": selection.backend.label,
            "provenance": engine.provenance(), "durations": durations, "voices": voices}


def _voices(ctx: ClipContext, engine, lang: Language) -> dict:
    """Speaker id → the engine's voice for them; empty when the engine has no voices to choose from."""
    if not hasattr(engine, "choose_voices") or not ctx.path(stages.DIARIZE, SPEAKERS).exists():
        return {}
    return engine.choose_voices(lang, ctx.speakers["speakers"])
