"""Stage 1 — separate: mixture → vocals + background (Demucs, the DSP fallback, or a given M&E stem)."""

from __future__ import annotations

import numpy as np

from lssd.backends import registry
from lssd import stages
from lssd.dub.context import BACKGROUND, VOCALS, ClipContext
from lssd.dub.workdir import fingerprint
from lssd.errors import BadInputError
from lssd.media import decode_audio, pad_or_trim, write_audio

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


def given_background(ctx: ClipContext) -> np.ndarray:
    mix = ctx.mix
    bg = decode_audio(ctx.cfg.background, ctx.sr, channels=mix.shape[0])
    mismatch = abs(bg.shape[1] - mix.shape[1]) / ctx.sr
    if mismatch > MAX_BACKGROUND_MISMATCH_S:
        raise BadInputError(
            f"--background {ctx.cfg.background.name} lasts {bg.shape[1] / ctx.sr:.2f} s but the input "
            f"lasts {mix.shape[1] / ctx.sr:.2f} s; give the music-and-effects stem of this very clip"
        )
    return pad_or_trim(bg, mix.shape[1])


def run(ctx: ClipContext, lang=None, selection: registry.Selection | None = None) -> dict:
    if selection is None:
        background = given_background(ctx)
        vocals = ctx.mix - background
        record = {"backend": "given-background", "label": "music-and-effects stem given with --background",
                  "provenance": {"background": str(ctx.cfg.background)}}
    else:
        engine = registry.engine(selection.backend, ctx.cfg)
        vocals, background = engine.separate(ctx.mix, ctx.sr)
        record = {"backend": selection.backend.name, "label": selection.backend.label,
                  "provenance": engine.provenance()}
    write_audio(ctx.path(NAME, VOCALS), vocals, ctx.sr)
    write_audio(ctx.path(NAME, BACKGROUND), background, ctx.sr)
    return record
