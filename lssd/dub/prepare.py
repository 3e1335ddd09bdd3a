"""Step zero: check the input and extract its original audio as the pipeline's mixture."""

from __future__ import annotations

import numpy as np

from lssd import stages
from lssd.dub.context import MIX, ClipContext
from lssd.errors import BadInputError
from lssd.media import decode_audio, pad_or_trim, write_audio

NAME = stages.INPUT
SILENCE_DBFS = -70.0


def settings(cfg, lang=None) -> dict:
    return {}


def check_input(ctx: ClipContext) -> None:
    if not ctx.info.audio:
        raise BadInputError(f"{ctx.input_path.name} has no audio stream: there is no speech to dub")


def run(ctx: ClipContext, lang=None, selection=None) -> dict:
    check_input(ctx)
    stream = ctx.info.audio[0]
    mix = decode_audio(ctx.input_path, ctx.sr, stream=stream.index, timeline=True)
    n = int(round(ctx.info.duration * ctx.sr))  # tracks span the container, whatever codec padding says
    mix = pad_or_trim(mix, n)
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    rms_db = 10 * np.log10(float(np.mean(mix.astype(np.float64) ** 2)) + 1e-20)
    if peak == 0.0 or rms_db < SILENCE_DBFS:
        raise BadInputError(f"{ctx.input_path.name}: its audio is silent ({rms_db:.0f} dBFS): there is no speech to dub")
    write_audio(ctx.path(NAME, MIX), mix, ctx.sr)
    return {
        "stream_index": stream.index,
        "codec": stream.codec,
        "channels": int(mix.shape[0]),
        "duration": n / ctx.sr,
        "rms_dbfs": round(rms_db, 2),
    }
