"""Voice conversion with kNN-VC: each dubbed segment re-voiced with frames of the original speaker.

Chosen over the paper's LVC-VC because its weights are two public files (MIT) and it needs no training,
no speaker encoder and no F0 tracker: WavLM-Large layer-6 features of the dub are matched frame by frame
(k = 4, cosine) against those of the original speech, and the authors' prematched HiFi-GAN vocodes the
result at 16 kHz. The pipeline's 48 kHz audio is resampled there and back; the output keeps the input's
length and RMS (levels are matched to the original later, by the loudness stage).

kNN-VC only borrows frames it finds in the reference, so a short one (a 1 s span offers ~50 frames)
makes a muffled, repetitive voice. The stage gives it the segment's speaker's speech pooled over the
clip (diarization turns); only without a speaker does it ask for :data:`MIN_REFERENCE_S` seconds
(``min_reference_s``) of the span and the nearest segments.
"""

from __future__ import annotations

import math
from importlib.metadata import version
from pathlib import Path

import numpy as np

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig
from lssd.errors import LssdError, model_load_error
from lssd.media import pad_or_trim, resample

MIN_REFERENCE_S = 10.0
STAGE = stages.VOICE_CONVERT


class KnnVcConverter:
    """Holds WavLM (first six layers) and the vocoder; ``convert`` is one segment."""

    min_reference_s = MIN_REFERENCE_S

    def __init__(self, vocoder_ckpt: Path, vocoder_config: Path, encoder_dir: Path, device: str,
                 provenance: dict):
        from lssd.hf import quiet_transformers
        from lssd.knnvc.hifigan import load_generator
        from lssd.knnvc.wavlm import load_wavlm

        self.device = device
        with quiet_transformers():
            self.wavlm = load_wavlm(encoder_dir).to(device)
        self.vocoder = load_generator(vocoder_ckpt, vocoder_config).to(device)
        self._provenance = provenance
        self.last_info: dict = {}
        self._pool: tuple[str, object] | None = None  # (reference hash, its WavLM features): one speaker's, reused

    def convert(self, speech: np.ndarray, reference: np.ndarray, sr: int) -> np.ndarray:
        out, self.last_info = self.convert_with_info(speech, reference, sr)
        return out

    def convert_with_info(self, speech: np.ndarray, reference: np.ndarray, sr: int) -> tuple[np.ndarray, dict]:
        import torch

        from lssd.knnvc.matching import TOPK, knn_match
        from lssd.knnvc.wavlm import HOP, SAMPLE_RATE, layer_features

        source = resample(np.asarray(speech, np.float32), sr, SAMPLE_RATE)
        target = resample(np.asarray(reference, np.float32), sr, SAMPLE_RATE)
        if min(source.size, target.size) < 2 * HOP:  # WavLM's first frame needs 400 samples
            return np.asarray(speech, np.float32).copy(), {
                "converted": False, "reason": "segment or reference under 40 ms",
                "reference_s": round(target.size / SAMPLE_RATE, 3)}
        with torch.inference_mode():
            query = layer_features(self.wavlm, torch.from_numpy(source))
            pool = self._features(target)
            wav = self.vocoder(knn_match(query, pool)[None]).reshape(-1).float().cpu().numpy()
        out = _fit(resample(wav, self.vocoder.h.sampling_rate, sr), np.asarray(speech, np.float32))
        return out, {"converted": True, "reference_s": round(target.size / SAMPLE_RATE, 3),
                     "matching_frames": int(pool.shape[0]), "k": min(TOPK, int(pool.shape[0]))}

    def _features(self, target: np.ndarray):
        """WavLM features of a reference, kept for the next call: the stage passes one pooled reference per
        speaker, so consecutive segments of a speaker share them."""
        import hashlib

        import torch

        from lssd.knnvc.wavlm import layer_features

        key = hashlib.sha256(target.tobytes()).hexdigest()
        if self._pool is None or self._pool[0] != key:
            self._pool = (key, layer_features(self.wavlm, torch.from_numpy(target)))
        return self._pool[1]

    def provenance(self) -> dict:
        import torch

        from lssd.knnvc.matching import TOPK
        from lssd.knnvc.wavlm import LAYER

        return {
            **self._provenance,
            "backend": "knn-vc",
            "library": f"torch {torch.__version__}, transformers {version('transformers')} (WavLM), lssd kNN-VC",
            "settings": {"device": self.device, "k": TOPK, "wavlm_layer": LAYER, "distance": "cosine",
                         "vocoder_sr": self.vocoder.h.sampling_rate, "min_reference_s": MIN_REFERENCE_S},
        }


def _rms(x: np.ndarray) -> float:
    return math.sqrt(float(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


def _fit(wav: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``wav`` at the length and RMS of ``like``, peaks kept inside [-1, 1]."""
    n = like.shape[-1]
    wav = pad_or_trim(wav, n)
    rms_out, rms_in = _rms(wav), _rms(like)
    if rms_out > 1e-8 and rms_in > 0:
        wav = wav * (rms_in / rms_out)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    return (wav / peak * 0.99 if peak > 0.99 else wav).astype(np.float32)


def _load(cfg: DubConfig) -> KnnVcConverter:
    from lssd.hf import torch_device
    from lssd.store import get_store

    store = get_store()
    entry = store.entry(cfg.vc_model)
    folder = store.require(entry.name, stage=STAGE)
    if not entry.requires:
        raise LssdError(f"{STAGE}: catalog entry '{entry.name}' names no WavLM encoder (its 'requires' is empty)")
    encoder = store.entry(entry.requires[0]).name
    encoder_dir = store.require(encoder, stage=STAGE)
    names = [f.name for f in entry.files]
    ckpt = next((n for n in names if n.endswith((".pt", ".pth"))), None)
    config = next((n for n in names if n.endswith(".json")), None)
    if ckpt is None or config is None:
        raise LssdError(f"{STAGE}: catalog entry '{entry.name}' must list a vocoder .pt and its .json config")
    models = {name: store.provenance(name) for name in (entry.name, encoder)}
    provenance = {"model": entry.name, "models": models,
                  "files": {f"{m}/{f}": sha for m, p in models.items() for f, sha in p["files"].items()}}
    try:
        return KnnVcConverter(folder / ckpt, folder / config, encoder_dir, torch_device(cfg.device), provenance)
    except LssdError:
        raise
    except Exception as exc:  # a corrupt or foreign file: one sentence, not a library traceback
        raise model_load_error(STAGE, "kNN-VC from the model store", entry.name, exc) from None


register(
    Backend(
        stage=STAGE,
        name="knn-vc",
        label="kNN-VC (WavLM-Large + HiFi-GAN)",
        priority=100,
        load=_load,
        model=lambda cfg: cfg.vc_model,
        cache_key=lambda cfg: (cfg.device,),
    )
)
