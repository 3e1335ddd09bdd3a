"""Projection heads and the audio-visual two-tower model the contrastive loss trains.

Backbones and heads are separate submodules (``video``, ``audio`` vs ``*_head``) so that, after
pretraining, the heads are dropped and a checkpoint's backbones are exported alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EMBED_DIM = 512


class ProjectionHead(nn.Module):
    """SimCLR's MLP head (Linear-ReLU-Linear, hidden width = input width), then L2 normalisation.

    No batch norm: its statistics would be per rank, and the loss must not depend on how the global
    batch is split across GPUs.
    """

    def __init__(self, dim_in: int, dim_out: int = EMBED_DIM) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim_in, dim_in), nn.ReLU(inplace=True), nn.Linear(dim_in, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp(x)
        return F.normalize(x.to(torch.promote_types(x.dtype, torch.float32)), dim=-1)  # fp32 under bf16


class AudioVisualModel(nn.Module):
    """Embeds a quadruplet (v_p, a_p, v_s, a_s) into ``z_vp, z_vs, z_ap, z_as`` (unit vectors).

    One audio backbone always serves both audio tracks. The audio head is shared too, unless
    ``separate_audio_heads`` (App. B.3: primary and secondary audio get their own MLPs). Without a
    video backbone the model is audio-only and returns ``z_ap, z_as``.
    """

    def __init__(
        self,
        video: nn.Module | None,
        audio: nn.Module,
        *,
        embed_dim: int = EMBED_DIM,
        separate_audio_heads: bool = False,
    ) -> None:
        super().__init__()
        self.video = video
        self.audio = audio
        self.video_head = ProjectionHead(video.dim, embed_dim) if video is not None else None
        self.audio_head = ProjectionHead(audio.dim, embed_dim)
        self.audio_head_s = ProjectionHead(audio.dim, embed_dim) if separate_audio_heads else None

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A batch without ``a_s``/``v_s`` (App. B.3 SEP: no secondary instance) gives ``z_ap``/``z_vp`` only."""
        # Both views go through a backbone in one call: one kernel launch per layer, not two.
        audio = self.audio(_views(batch, "a_p", "a_s"))
        a_p, a_s = audio.chunk(2) if "a_s" in batch else (audio, None)
        out = {"z_ap": self.audio_head(a_p)}
        if a_s is not None:
            out["z_as"] = (self.audio_head_s or self.audio_head)(a_s)
        if self.video is not None:
            z_v = self.video_head(self.video(_views(batch, "v_p", "v_s")))
            if "v_s" in batch:
                out["z_vp"], out["z_vs"] = z_v.chunk(2)
            else:
                out["z_vp"] = z_v
        return out

    def backbones(self) -> dict[str, nn.Module]:
        """What is kept after pretraining (the paper discards the projection heads)."""
        return {"video": self.video, "audio": self.audio} if self.video is not None else {"audio": self.audio}


def _views(batch: dict[str, torch.Tensor], primary: str, secondary: str) -> torch.Tensor:
    return torch.cat([batch[primary], batch[secondary]]) if secondary in batch else batch[primary]
