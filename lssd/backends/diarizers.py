"""Diarizers (``--diarizer``): who speaks when.

- ``pyannote``: pyannote.audio's speaker-diarization pipeline (the field's reference), its weights from the
  model store (``lssd models pull pyannote-speaker-diarization-3.1``; gated on the Hub: accept its
  conditions there and set ``HF_TOKEN``, or ``lssd models import``). pyannote.audio itself is optional and
  imported only when this backend loads (it needs torchaudio, which cannot sit beside every torch).
- ``ge2e``: offline, no download: Silero VAD + Resemblyzer's GE2E speaker encoder on sliding windows +
  agglomerative and spectral clustering (:mod:`lssd.diarization`).
- ``none``: one speaker, every segment its turn (single-speaker material; lssd before diarization).
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import version
from pathlib import Path

import numpy as np

from lssd import diarization, stages
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig
from lssd.errors import LssdError, model_load_error
from lssd.media import read_span
from lssd.segments import Segment

STAGE = stages.DIARIZE
PYANNOTE_MISSING = ("pyannote.audio is not installed (`pip install pyannote.audio`; it needs a torchaudio "
                    "matching your torch), so --diarizer pyannote cannot run; use --diarizer ge2e")


def settings_of(cfg: DubConfig) -> diarization.Settings:
    return diarization.Settings(speakers=cfg.speakers, min_speakers=cfg.min_speakers, max_speakers=cfg.max_speakers)


class Ge2eDiarizer:
    """Silero VAD spans of the vocals, GE2E window embeddings, agglomerative + spectral clustering."""

    def __init__(self, settings: diarization.Settings) -> None:
        self.settings = settings

    def diarize(self, vocals: np.ndarray, sr: int, segments: list[Segment]) -> list[diarization.Turn]:
        from lssd.backends.vad import to_mono16k, track_speech_spans

        spans = track_speech_spans(vocals, sr)

        def read(a: float, b: float) -> np.ndarray:
            return to_mono16k(read_span(vocals, int(round(a * sr)), int(round(b * sr))), sr)

        return diarization.diarize(read, spans, self.settings)

    def provenance(self) -> dict:
        from lssd import speaker
        from lssd.dsp import silero

        return {"backend": "ge2e", "library": f"scipy {version('scipy')} (hierarchy), onnxruntime (Silero VAD), torch",
                "model": speaker.MODEL, "files": {}, "vad": silero.MODEL,
                "settings": {"window_s": self.settings.window_s, "hop_s": self.settings.hop_s,
                             "threshold_cosine_distance": self.settings.threshold, "linkage": "average",
                             "count": "threshold clusters bound it; NME-SC eigengap within; spectral clustering",
                             "eigengap_search": {"sparsities": diarization.P_SEARCH, "max_share": diarization.P_SHARE},
                             "min_speaker_s": diarization.MIN_SPEAKER_S, "speakers": self.settings.speakers or "estimated",
                             "min_speakers": self.settings.min_speakers, "max_speakers": self.settings.max_speakers,
                             "overlap": "one speaker per instant (the nearest window's)"}}


class PyannoteDiarizer:
    """pyannote.audio's ``SpeakerDiarization`` built from the store's files: the pipeline's config.yaml with
    its segmentation and embedding models replaced by their paths in the store (no Hub call)."""

    def __init__(self, config: Path, models: dict[str, Path], settings: diarization.Settings, device: str,
                 provenance: dict) -> None:
        import torch
        import yaml
        from pyannote.audio.pipelines import SpeakerDiarization

        spec = yaml.safe_load(config.read_text())
        params = dict(spec["pipeline"]["params"])
        for key, path in models.items():  # "segmentation" / "embedding" → local checkpoint
            params[key] = str(path)
        self.pipeline = SpeakerDiarization(**params)
        self.pipeline.instantiate(spec.get("params", {}))
        self.pipeline.to(torch.device(device))
        self.settings = settings
        self._provenance = provenance

    def diarize(self, vocals: np.ndarray, sr: int, segments: list[Segment]) -> list[diarization.Turn]:
        import torch

        from lssd.backends.vad import to_mono16k

        wav = torch.from_numpy(to_mono16k(vocals, sr))[None]
        s = self.settings
        bounds = {"num_speakers": s.speakers} if s.speakers else {"min_speakers": s.min_speakers,
                                                                  "max_speakers": s.max_speakers}
        out = self.pipeline({"waveform": wav, "sample_rate": 16_000}, **bounds)
        annotation = getattr(out, "speaker_diarization", out)  # pyannote 4 wraps it in a DiarizeOutput
        tracks = sorted((seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True))
        names: dict[str, str] = {}
        return [diarization.Turn(round(a, 3), round(b, 3),
                                 names.setdefault(label, diarization.speaker_name(len(names))))
                for a, b, label in tracks]

    def provenance(self) -> dict:
        return {**self._provenance, "backend": "pyannote", "library": f"pyannote.audio {version('pyannote.audio')}",
                "settings": {"speakers": self.settings.speakers or "estimated",
                             "min_speakers": self.settings.min_speakers, "max_speakers": self.settings.max_speakers}}


class OneSpeaker:
    """``--diarizer none``: the whole clip is one speaker."""

    def diarize(self, vocals: np.ndarray, sr: int, segments: list[Segment]) -> list[diarization.Turn]:
        return diarization.one_speaker(segments)

    def provenance(self) -> dict:
        return {"backend": "none", "library": None, "model": None, "files": {}, "settings": {"speakers": 1}}


def _check_ge2e(cfg: DubConfig, lang=None) -> str | None:
    from lssd import speaker

    try:
        speaker.weights_path()
    except LssdError as exc:
        return str(exc)
    return None


def _check_pyannote(cfg: DubConfig, lang=None) -> str | None:
    return None if importlib.util.find_spec("pyannote.audio") else PYANNOTE_MISSING


def _load_pyannote(cfg: DubConfig) -> PyannoteDiarizer:
    from lssd.hf import torch_device
    from lssd.store import get_store

    if _check_pyannote(cfg):
        raise LssdError(f"{STAGE}: {PYANNOTE_MISSING}")
    store = get_store()
    entry = store.entry(cfg.diarizer_model)
    folder = store.require(entry.name, stage=STAGE, fallback="ge2e")
    models = {}
    for required in entry.requires:  # the catalog names them for what they are: …-segmentation…, …-embedding…
        sub = store.entry(required)
        role = "segmentation" if "segmentation" in sub.name else "embedding"
        models[role] = store.require(sub.name, stage=STAGE, fallback="ge2e") / sub.files[0].name
    provenance = {"model": entry.name, "models": {n: store.provenance(n) for n in (entry.name, *entry.requires)}}
    try:
        return PyannoteDiarizer(folder / entry.files[0].name, models, settings_of(cfg), torch_device(cfg.device),
                                provenance)
    except Exception as exc:  # a corrupt or foreign file: one sentence, not a library traceback
        raise model_load_error(STAGE, "the pyannote speaker-diarization pipeline", entry.name, exc) from None


register(Backend(stage=STAGE, name="pyannote", label="pyannote.audio speaker diarization", priority=100,
                 load=_load_pyannote, check=_check_pyannote, model=lambda cfg: cfg.diarizer_model,
                 cache_key=lambda cfg: (cfg.device, cfg.speakers, cfg.min_speakers, cfg.max_speakers)))
register(Backend(stage=STAGE, name="ge2e", label="Silero VAD + GE2E windows + spectral clustering (offline)",
                 priority=10, load=lambda cfg: Ge2eDiarizer(settings_of(cfg)), check=_check_ge2e,
                 cache_key=lambda cfg: (cfg.speakers, cfg.min_speakers, cfg.max_speakers)))
register(Backend(stage=STAGE, name="none", label="one speaker (no diarization)", priority=0,
                 load=lambda cfg: OneSpeaker()))
