"""The HEAR 2021 API for a pretrained run's audio backbone (how the paper scores HEAR, §5.1, App. B.3.1).

    import lssd.hear as hear
    model = hear.load_model("runs/b4")                      # a run directory or a step_*.pt file
    scene = hear.get_scene_embeddings(audio, model)         # (n_sounds, D) float32
    emb, ts = hear.get_timestamp_embeddings(audio, model)   # (n_sounds, n_frames, D), (n_sounds, n_frames) ms

``audio`` is (n_sounds, n_samples) mono in [-1, 1] at ``model.sample_rate`` (the recipe's rate: 48 kHz,
the rate the paper feeds HEAR). The backbone sees what it saw in training: the recipe's window (3 s),
log-mel without masking, mono duplicated to two channels. A scene embedding is the mean over the
clip's non-overlapping windows (the last one aligned to the clip's end, see
:func:`lssd.eval.windows.window_starts`); a timestamp embedding is the embedding of the window centred
on that timestamp (audio outside the clip is silence), every ``hop_ms`` from 0 to the clip's end.
``load_model`` takes the hop and the device as keyword options (hear-eval-kit passes a model
options JSON through to it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lssd.errors import BadInputError
from lssd.eval.backbones import Backbones, load_backbones
from lssd.eval.windows import waveform_input, window_starts

HOP_MS = 50.0  # HEAR's common timestamp hop
BATCH = 32  # windows per forward pass


class HearModel(nn.Module):
    """A frozen audio backbone with the attributes the HEAR API requires."""

    def __init__(self, backbones: Backbones, hop_ms: float = HOP_MS) -> None:
        super().__init__()
        if hop_ms <= 0:
            raise BadInputError(f"hop_ms must be positive, got {hop_ms}")
        self.backbone = backbones.audio
        self.audio_cfg = backbones.audio_cfg
        self.window = backbones.window
        self.hop_ms = float(hop_ms)
        self.sample_rate = backbones.audio_cfg.sample_rate
        self.scene_embedding_size = backbones.audio_dim
        self.timestamp_embedding_size = backbones.audio_dim

    @property
    def window_samples(self) -> int:
        return self.audio_cfg.num_samples(self.window)

    @torch.inference_mode()
    def embed_windows(self, wave: np.ndarray, starts: np.ndarray) -> torch.Tensor:
        """The windows of ``wave`` starting at sample ``starts`` → (len(starts), D) float32, cut a
        batch at a time (a long clip at a 50 ms hop has hundreds of 3 s windows)."""
        device = next(self.backbone.parameters()).device
        length = self.window_samples
        out = []
        for i in range(0, len(starts), BATCH):
            batch = [waveform_input(_cut(wave, int(s), length), self.audio_cfg) for s in starts[i:i + BATCH]]
            out.append(self.backbone(torch.stack(batch).to(device)).float())
        return torch.cat(out)


def load_model(model_file_path: str | Path = "", *, hop_ms: float = HOP_MS, device: str | None = None) -> HearModel:
    """A run directory or checkpoint → the HEAR model of its audio backbone (eval mode, frozen)."""
    if not str(model_file_path):
        raise BadInputError("lssd.hear.load_model needs a run directory or checkpoint (there is no default)")
    return HearModel(load_backbones(Path(model_file_path), device), hop_ms).eval()


def _audio(audio: torch.Tensor) -> np.ndarray:
    if audio.ndim != 2:
        raise BadInputError(f"HEAR audio must be (n_sounds, n_samples), got shape {tuple(audio.shape)}")
    return audio.detach().float().cpu().numpy()


def _cut(wave: np.ndarray, start: int, length: int) -> np.ndarray:
    """``wave[start:start + length]`` with silence where the window leaves the clip."""
    out = np.zeros(length, dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, len(wave))
    if hi > lo:
        out[lo - start:hi - start] = wave[lo:hi]
    return out


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """(n_sounds, D) float32: the mean of each clip's window embeddings."""
    waves = _audio(audio)
    sr = model.sample_rate
    starts = np.round(window_starts(waves.shape[1] / sr, model.window) * sr).astype(int)
    return torch.stack([model.embed_windows(wave, starts).mean(dim=0) for wave in waves])


def timestamps_ms(n_samples: int, sample_rate: int, hop_ms: float) -> np.ndarray:
    """Frame centres 0, hop, 2 hop, ... up to the clip's end (never beyond it)."""
    duration_ms = 1000.0 * n_samples / sample_rate
    return np.arange(int(np.floor(duration_ms / hop_ms + 1e-9)) + 1) * hop_ms


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """((n_sounds, n_frames, D) float32, (n_sounds, n_frames) ms): the window centred on each timestamp."""
    waves = _audio(audio)
    sr = model.sample_rate
    stamps = timestamps_ms(waves.shape[1], sr, model.hop_ms)
    starts = np.round(stamps / 1000.0 * sr).astype(int) - model.window_samples // 2
    emb = torch.stack([model.embed_windows(wave, starts) for wave in waves])
    ts = torch.as_tensor(stamps, dtype=torch.float32, device=emb.device).expand(len(waves), -1)
    return emb, ts.contiguous()
