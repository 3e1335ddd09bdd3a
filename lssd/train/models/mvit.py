"""Multiscale Vision Transformers (MViT v1) for video clips and 2-channel log-mel spectrograms.

Built from torchvision's generic ``MViT`` class so no weights or extra code are needed; only the block
layout is ours. The classifier is dropped: the backbone returns the mean of its output tokens (the
paper's "spatio-temporal mean pooling"), which is what downstream probes see after pretraining.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.video.mvit import MSBlockConfig, MViT


Triple = tuple[int, int, int]
Patch = tuple[Triple, Triple, Triple]  # patch-embedding conv kernel, stride, padding


@dataclass(frozen=True)
class MViTLayout:
    """An MViT v1 in the paper's terms: stages double channels and heads and halve the token grid."""

    depth: int
    dims: tuple[int, ...]  # channels per stage
    heads: tuple[int, ...]  # attention heads per stage
    stage_starts: tuple[int, ...]  # block index where each stage after the first starts (pools Q)
    kv_stride: int  # spatial K/V pooling stride in the first stage, halved at every stage start
    stochastic_depth: float
    video_patch: Patch
    audio_patch: Patch = ((1, 7, 7), (1, 4, 4), (0, 3, 3))  # 1-deep: a spectrogram is one 2-channel frame


# MViT-S as published with the MViT paper (≈26.0 M params counted with a Kinetics-400 classifier):
# patch 3x8x8 / stride 2x8x8, 128→256→512 channels from blocks 3 and 10.
MVIT_S = MViTLayout(16, (128, 256, 512), (1, 2, 4), (3, 10), 8, 0.1, ((3, 8, 8), (2, 8, 8), (1, 0, 0)))
# MViT-B, 16x4 (torchvision's mvit_v1_b, 36.6 M with its classifier).
MVIT_B = MViTLayout(
    16, (96, 192, 384, 768), (1, 2, 4, 8), (1, 3, 14), 8, 0.2, ((3, 7, 7), (2, 4, 4), (1, 3, 3))
)
# For tests: same code path, ~0.5 M parameters, learns the toy dataset in a few dozen CPU steps.
# Stochastic depth on, so the trainer's RNG handling (resume) is exercised as in the real models.
MVIT_TINY = MViTLayout(4, (64, 128), (1, 2), (2,), 4, 0.1, ((3, 8, 8), (2, 8, 8), (1, 0, 0)))

LAYOUTS = {"s": MVIT_S, "b": MVIT_B, "tiny": MVIT_TINY}


def block_setting(layout: MViTLayout) -> list[MSBlockConfig]:
    """Per-block configs in torchvision's form (the block *before* a stage start widens the channels)."""
    blocks, stage, kv = [], 0, layout.kv_stride
    for i in range(layout.depth):
        starts_stage = i in layout.stage_starts
        if starts_stage:
            kv = max(kv // 2, 1)
        next_stage = stage + 1 if i + 1 in layout.stage_starts else stage
        blocks.append(
            MSBlockConfig(
                num_heads=layout.heads[stage],
                input_channels=layout.dims[stage],
                output_channels=layout.dims[next_stage],
                kernel_q=[3, 3, 3] if starts_stage else [],
                kernel_kv=[3, 3, 3],
                stride_q=[1, 2, 2] if starts_stage else [],
                stride_kv=[1, kv, kv],
            )
        )
        stage = next_stage
    return blocks


class MViTBackbone(nn.Module):
    """torchvision MViT without its classifier: (B, C, T, H, W) -> mean of output tokens (B, dim)."""

    def __init__(self, net: MViT) -> None:
        super().__init__()
        net.head = nn.Identity()
        self.net = net
        self.dim: int = net.norm.normalized_shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net.conv_proj(x).flatten(2).transpose(1, 2)
        x = net.pos_encoding(x)
        thw = (net.pos_encoding.temporal_size, *net.pos_encoding.spatial_size)
        for block in net.blocks:
            x, thw = block(x, thw)
        return net.norm(x)[:, 1:].mean(dim=1)  # token 0 is the class token


def _mvit(layout: MViTLayout, temporal: int, spatial: tuple[int, int], patch: Patch) -> MViT:
    kernel, stride, padding = patch
    return MViT(
        spatial_size=spatial,
        temporal_size=temporal,
        block_setting=block_setting(layout),
        residual_pool=False,
        residual_with_cls_embed=False,
        rel_pos_embed=False,
        proj_after_attn=False,
        stochastic_depth_prob=layout.stochastic_depth,
        patch_embed_kernel=kernel,
        patch_embed_stride=stride,
        patch_embed_padding=padding,
    )


def video_mvit(size: str, *, frames: int, crop: int) -> MViTBackbone:
    """Video MViT for (B, 3, frames, crop, crop) clips; the input size is fixed by the positional encoding."""
    layout = LAYOUTS[size]
    return MViTBackbone(_mvit(layout, frames, (crop, crop), layout.video_patch))


class AudioMViT(MViTBackbone):
    """MViT over a (B, 2, mels, frames) log-mel spectrogram, seen as a single 2-channel video frame."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.unsqueeze(2))


def audio_mvit(size: str, *, n_mels: int, frames: int) -> AudioMViT:
    layout = LAYOUTS[size]
    net = _mvit(layout, 1, (n_mels, frames), layout.audio_patch)
    old = net.conv_proj
    net.conv_proj = nn.Conv3d(2, old.out_channels, old.kernel_size, old.stride, old.padding)
    return AudioMViT(net)
