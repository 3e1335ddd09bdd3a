"""The AVSlowFast audio pathway: an acoustic ResNet-50 over log-mel spectrograms (1024-d features)."""

from __future__ import annotations

import torch
from pytorchvideo.models.resnet import create_acoustic_resnet
from torch import nn

# stem width -> output width is 32x the stem (32 -> 1024 for the AVSlowFast audio pathway).
STEM_WIDTH = {"50": 32, "tiny": 4}


class AudioResNet(nn.Module):
    """(B, 2, mels, frames) -> mean over time and frequency of the last stage (B, 32 * stem width).

    pytorchvideo's audio ResNet reads (B, C, T, 1, F). Its pooling head assumes a fixed input length,
    so it is replaced by a global mean, which takes any spectrogram at least ~64 frames by 24 mels.
    """

    def __init__(self, size: str) -> None:
        super().__init__()
        stem = STEM_WIDTH[size]
        self.net = create_acoustic_resnet(input_channel=2, stem_dim_out=stem, model_depth=50)
        self.net.blocks = self.net.blocks[:-1]  # drop the classifier head
        self.dim: int = 32 * stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(2, 3).unsqueeze(3)  # (B, 2, mels, T) -> (B, 2, T, 1, mels)
        return self.net(x).mean(dim=(2, 3, 4))


def audio_resnet(size: str, *, n_mels: int, frames: int) -> AudioResNet:
    """``n_mels`` and ``frames`` are accepted so every audio backbone is built the same way; the
    convolutional net itself adapts to any input size."""
    del n_mels, frames
    return AudioResNet(size)
