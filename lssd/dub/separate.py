"""Stage 1 — separate: mixture → vocals + background (Demucs, the DSP fallback, or a given M&E stem)."""

from __future__ import annotations

from pathlib import Path

from lssd.backends import registry
from lssd import stages
from lssd.dub.context import BACKGROUND, MIX, VOCALS, ClipContext
from lssd.dub.workdir import fingerprint
from lssd.errors import BadInputError
from lssd.media import atomic_output, audio_blocks, audio_writer, decode_audio_to_wav, resize_wav, write_audio

NAME = stages.SEPARATE
MAX_BACKGROUND_MISMATCH_S = 1.0


def settings(cfg, lang=None) -> dict:
    if cfg.background is not None:
        return {"background": str(cfg.background), "background_fp": fingerprint(cfg.background)}
    return {"separator_model": cfg.separator_model, "device": cfg.device}


def choose(ctx: ClipContext, lang=None) -> registry.Selection | None:
    if ctx.cfg.background is not None:
        return None  # a music-and-effects stem was given: nothing to separate
    return registry.select(NAME, ctx.cfg.separator, ctx.cfg)


def given_background(ctx: ClipContext, dest: Path) -> None:
    """Decode the ``--background`` stem onto ``dest`` at the mixture's length and channel count."""
    n, channels = ctx.mix.shape[1], ctx.mix.shape[0]
    have = decode_audio_to_wav(ctx.cfg.background, dest, ctx.sr, channels=channels)
    if abs(have - n) / ctx.sr > MAX_BACKGROUND_MISMATCH_S:
        raise BadInputError(
            f"--background {ctx.cfg.background.name} lasts {have / ctx.sr:.2f} s but the input "
            f"lasts {n / ctx.sr:.2f} s; give the music-and-effects stem of this very clip"
        )
    resize_wav(dest, n)


def run(ctx: ClipContext, lang=None, selection: registry.Selection | None = None) -> dict:
    if selection is None:
        with atomic_output(ctx.path(NAME, BACKGROUND)) as background:
            given_background(ctx, background)
            with audio_writer(ctx.path(NAME, VOCALS), ctx.mix.shape[0], ctx.sr) as write:
                for mix, bg in zip(audio_blocks(ctx.path(stages.INPUT, MIX)), audio_blocks(background), strict=True):
                    write(mix - bg)  # block by block: neither track is ever whole in memory
        return {"backend": "given-background", "label": "music-and-effects stem given with --background",
                "provenance": {"background": str(ctx.cfg.background)}}
    engine = registry.engine(selection.backend, ctx.cfg)
    if hasattr(engine, "separate_to"):  # an engine that streams its stems: no whole track in memory
        channels = ctx.mix.shape[0]
        with audio_writer(ctx.path(NAME, VOCALS), channels, ctx.sr) as vocals, \
                audio_writer(ctx.path(NAME, BACKGROUND), channels, ctx.sr) as background:
            engine.separate_to(ctx.mix, ctx.sr, vocals, background)
    else:
        vocals, background = engine.separate(ctx.mix, ctx.sr)
        write_audio(ctx.path(NAME, VOCALS), vocals, ctx.sr)
        write_audio(ctx.path(NAME, BACKGROUND), background, ctx.sr)
    return {"backend": selection.backend.name, "label": selection.backend.label, "provenance": engine.provenance()}
