"""X3D video backbones from ``pytorchvideo.models`` (App. B.3's controlled experiments use X3D-M).

Only ``pytorchvideo.models`` is imported: ``pytorchvideo.transforms`` fails with current torchvision.
"""

from __future__ import annotations

import torch
from pytorchvideo.models.x3d import create_x3d
from torch import nn

# X3D-M: 16 frames at 224 px, depth factor 2.2 (≈3.8 M params counted with a Kinetics-400 classifier).
# App. B.3: "Both models output 1024-dimensional representations per clip" (X3D's usual head is 2048).
SIZES: dict[str, dict] = {
    "m": dict(width_factor=2.0, depth_factor=2.2, head_dim_out=1024),
    "tiny": dict(width_factor=1.0, depth_factor=0.5, head_dim_out=64),
}


class X3DBackbone(nn.Module):
    """X3D without its classifier: (B, 3, T, H, W) -> globally pooled features (B, dim).

    The head's projected pool (1x1x1 conv, global average, 1x1x1 conv) is kept: it is part of X3D's
    feature extractor, and its output is the usual X3D clip feature.
    """

    def __init__(self, size: str, *, frames: int, crop: int) -> None:
        super().__init__()
        if crop % 32:
            raise ValueError(f"X3D needs a crop divisible by 32 (its total stride), got {crop}")
        cfg = SIZES[size]
        self.net = create_x3d(input_clip_length=frames, input_crop_size=crop, **cfg)
        head = self.net.blocks[-1]
        head.dropout, head.proj, head.activation = None, None, None
        self.dim: int = cfg["head_dim_out"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def x3d(size: str, *, frames: int, crop: int) -> X3DBackbone:
    return X3DBackbone(size, frames=frames, crop=crop)
