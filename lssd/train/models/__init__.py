"""Backbone registry: ``create_model(name, **input_size)`` builds any backbone by name.

Video backbones take ``frames`` and ``crop``; audio backbones take ``n_mels`` and ``frames`` (MViTs fix
their input size at construction). Every backbone returns pooled features of width ``model.dim``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from lssd.errors import BadInputError
from lssd.train.models.audio_resnet import audio_resnet
from lssd.train.models.heads import EMBED_DIM, AudioVisualModel, ProjectionHead
from lssd.train.models.mvit import audio_mvit, video_mvit
from lssd.train.models.x3d import x3d

VIDEO_MODELS: dict[str, Callable[..., nn.Module]] = {
    "mvit_s": partial(video_mvit, "s"),
    "mvit_b": partial(video_mvit, "b"),
    "mvit_tiny": partial(video_mvit, "tiny"),
    "x3d_m": partial(x3d, "m"),
    "x3d_tiny": partial(x3d, "tiny"),
}
AUDIO_MODELS: dict[str, Callable[..., nn.Module]] = {
    "audio_mvit_s": partial(audio_mvit, "s"),
    "audio_mvit_b": partial(audio_mvit, "b"),
    "audio_mvit_tiny": partial(audio_mvit, "tiny"),
    "audio_resnet50": partial(audio_resnet, "50"),
    "audio_resnet_tiny": partial(audio_resnet, "tiny"),
}


def list_models() -> list[str]:
    return sorted({**VIDEO_MODELS, **AUDIO_MODELS})


def create_model(name: str, **input_size: int) -> nn.Module:
    """``create_model("mvit_s", frames=16, crop=224)`` or ``create_model("audio_mvit_s", n_mels=96,
    frames=288)``."""
    factory = VIDEO_MODELS.get(name) or AUDIO_MODELS.get(name)
    if factory is None:
        raise BadInputError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return factory(**input_size)


def create_av_model(
    video: str | None,
    audio: str,
    *,
    video_size: dict[str, int],
    audio_size: dict[str, int],
    embed_dim: int = EMBED_DIM,
    separate_audio_heads: bool = False,
) -> AudioVisualModel:
    """The pretraining model; ``video=None`` for the audio-only variants (App. B.3 AUD, AUD+EFJ)."""
    if video is not None and video not in VIDEO_MODELS:
        raise BadInputError(f"{video!r} is not a video model; known: {', '.join(sorted(VIDEO_MODELS))}")
    if audio not in AUDIO_MODELS:
        raise BadInputError(f"{audio!r} is not an audio model; known: {', '.join(sorted(AUDIO_MODELS))}")
    return AudioVisualModel(
        create_model(video, **video_size) if video is not None else None,
        create_model(audio, **audio_size),
        embed_dim=embed_dim,
        separate_audio_heads=separate_audio_heads,
    )


__all__ = ["AudioVisualModel", "ProjectionHead", "create_av_model", "create_model", "list_models"]
