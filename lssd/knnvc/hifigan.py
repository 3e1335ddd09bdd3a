"""The kNN-VC vocoder: a HiFi-GAN V1 generator fed WavLM features instead of mel frames.

The module names mirror the authors' ``hifigan/models.py`` so their checkpoint's state dict loads as is,
except that weight norm is folded into plain weights at load time: it only matters for training, and
folding once avoids recomputing ``g * v / |v|`` on every call (and torch's deprecated ``weight_norm``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from lssd.store.safe_load import load_weights

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class HifiGanConfig:
    """The fields of the authors' ``config_v1_wavlm.json`` that shape the generator (the rest is training)."""

    resblock: str = "1"
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (20, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    hubert_dim: int = 1024  # input feature size (WavLM Large)
    hifi_dim: int = 512
    sampling_rate: int = 16_000

    @property
    def hop(self) -> int:
        """Output samples per input frame (320 = WavLM's 20 ms stride at 16 kHz)."""
        return math.prod(self.upsample_rates)

    @classmethod
    def from_json(cls, path: Path) -> HifiGanConfig:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}

        def freeze(value):
            return tuple(freeze(v) for v in value) if isinstance(value, list) else value

        return cls(**{k: freeze(v) for k, v in data.items() if k in known})


def _padding(kernel: int, dilation: int) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Three dilated convolutions, each followed by an undilated one, with residuals."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=_padding(kernel, d)) for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=_padding(kernel, 1)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """The lighter block of HiFi-GAN V3: one dilated convolution per residual."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=_padding(kernel, d)) for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


class Generator(nn.Module):
    """(batch, frames, hubert_dim) features → (batch, 1, frames * hop) waveform in [-1, 1]."""

    def __init__(self, h: HifiGanConfig):
        super().__init__()
        self.h = h
        self.lin_pre = nn.Linear(h.hubert_dim, h.hifi_dim)
        self.conv_pre = nn.Conv1d(h.hifi_dim, h.upsample_initial_channel, 7, padding=3)
        block = ResBlock1 if h.resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = h.upsample_initial_channel
        for i, (rate, kernel) in enumerate(zip(h.upsample_rates, h.upsample_kernel_sizes, strict=True)):
            ch = h.upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(ch * 2, ch, kernel, rate, padding=(kernel - rate) // 2))
            for k, d in zip(h.resblock_kernel_sizes, h.resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(ch, k, d))
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(self.lin_pre(features).transpose(1, 2))
        n = len(self.h.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(self.resblocks[i * n + j](x) for j in range(n)) / n
        # the original's last activation uses leaky_relu's default slope (0.01), not LRELU_SLOPE
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each ``X.weight_g`` / ``X.weight_v`` pair (torch's weight norm over dim 0) by ``X.weight``."""
    out = {k: v for k, v in state.items() if not k.endswith((".weight_g", ".weight_v"))}
    for key in state:
        if key.endswith(".weight_v"):
            base = key[: -len(".weight_v")]
            v, g = state[key].float(), state[f"{base}.weight_g"].float()
            norm = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))
            out[f"{base}.weight"] = v * (g / norm)
    return out


def unfold_weight_norm(generator: Generator) -> dict[str, torch.Tensor]:
    """The generator's state dict as the authors' training saved it (weight-normed convolutions):
    what :func:`fold_weight_norm` reads. Tests use it to write checkpoints in the official layout."""
    out: dict[str, torch.Tensor] = {}
    for key, value in generator.state_dict().items():
        if key.endswith(".weight") and not key.startswith("lin_pre."):
            base = key[: -len(".weight")]
            out[f"{base}.weight_g"] = value.flatten(1).norm(dim=1).view(-1, *([1] * (value.dim() - 1))).clone()
            out[f"{base}.weight_v"] = value.clone()
        else:
            out[key] = value.clone()
    return out


def load_generator(checkpoint: Path, config: Path) -> Generator:
    """The generator of an official kNN-VC checkpoint (``{"generator": state_dict}``), in eval mode."""
    h = HifiGanConfig.from_json(config)
    state = load_weights(checkpoint)
    generator = Generator(h)
    generator.load_state_dict(fold_weight_norm(state["generator"]))
    return generator.eval()
