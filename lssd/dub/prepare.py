"""Step zero: check the input and extract its original audio as the pipeline's mixture."""

from __future__ import annotations

import soundfile as sf

from lssd import stages
from lssd.dub.context import MIX, ClipContext
from lssd.errors import BadInputError
from lssd.media import atomic_output, audio_level, decode_audio_to_wav, resize_wav, video_end

NAME = stages.INPUT
SILENCE_DBFS = -70.0


TRUNCATION_TOLERANCE_S = 0.5  # codec priming/padding and a last frame differ from the header by far less


def settings(cfg, lang=None) -> dict:
    return {"allow_truncated": True} if cfg.allow_truncated else {}  # keys of earlier runs stay valid


def check_input(ctx: ClipContext) -> None:
    if not ctx.info.audio:
        raise BadInputError(f"{ctx.input_path.name} has no audio stream: there is no speech to dub")


def decoded_durations(ctx: ClipContext, audio_s: float) -> dict[str, float]:
    """How long the audio (as decoded, on the picture's timeline) and the video (last packet) really are."""
    durations = {"audio": audio_s}
    if ctx.info.has_video:
        video = ctx.info.video[0]
        end = video_end(ctx.input_path, video.index, ctx.info.duration)
        if end is not None:
            durations["video"] = end - video.start_time
    return durations


def run(ctx: ClipContext, lang=None, selection=None) -> dict:
    check_input(ctx)
    stream = ctx.info.audio[0]
    with atomic_output(ctx.path(NAME, MIX)) as tmp:  # decoded straight onto the work file, block by block
        decoded_n = decode_audio_to_wav(ctx.input_path, tmp, ctx.sr, stream=stream.index, timeline=True)
        decoded = decoded_durations(ctx, decoded_n / ctx.sr)
        length = ctx.info.duration  # tracks span the container, whatever codec padding says
        if min(decoded.values()) < length - TRUNCATION_TOLERANCE_S:
            found = ", ".join(f"{kind} decodes to {seconds:.1f} s" for kind, seconds in decoded.items())
            if not ctx.cfg.allow_truncated:
                raise BadInputError(f"{ctx.input_path.name} is truncated: {found} but the container declares "
                                    f"{length:.1f} s; fetch the file again, or pass --allow-truncated to dub what decodes")
            length = min(decoded.values())
            ctx.warn(f"{ctx.input_path.name} is truncated ({found}, declared {ctx.info.duration:.1f} s): "
                     f"dubbing the first {length:.1f} s")
        n = int(round(length * ctx.sr))
        resize_wav(tmp, n)
        peak, rms_db = audio_level(tmp)
        if peak == 0.0 or rms_db < SILENCE_DBFS:
            raise BadInputError(f"{ctx.input_path.name}: its audio is silent ({rms_db:.0f} dBFS): there is no speech to dub")
        channels = sf.info(str(tmp)).channels
    return {
        "stream_index": stream.index,
        "codec": stream.codec,
        "channels": channels,
        "duration": n / ctx.sr,
        "declared_duration": ctx.info.duration,
        "decoded": {kind: round(seconds, 3) for kind, seconds in decoded.items()},
        "rms_dbfs": round(rms_db, 2),
    }
