"""Everything a stage needs about one clip: its settings, its input, its work directory and accessors
for upstream artifacts (loaded lazily, once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from lssd.dub.config import DubConfig
from lssd.dub.segments import Transcript, Translation
from lssd.dub.workdir import Workdir
from lssd.languages import Language
from lssd.media import SAMPLE_RATE, MediaInfo, read_audio, read_json


@dataclass
class ClipContext:
    input_path: Path
    info: MediaInfo
    cfg: DubConfig
    workdir: Workdir
    output: Path | None = None  # the container remux writes
    notices: list[str] = field(default_factory=list)
    sr: int = SAMPLE_RATE

    def warn(self, message: str) -> None:
        if message not in self.notices:
            self.notices.append(message)

    # ---- artifacts -------------------------------------------------------------------------------
    def path(self, stage: str, name: str, lang: Language | None = None) -> Path:
        return self.workdir.stage_dir(stage, lang.iso3 if lang else None) / name

    @cached_property
    def mix(self) -> np.ndarray:
        return read_audio(self.path("input", "mix.wav"), self.sr)

    @property
    def n_samples(self) -> int:
        return self.mix.shape[1]

    @property
    def duration(self) -> float:
        return self.n_samples / self.sr

    @cached_property
    def vocals(self) -> np.ndarray:
        return read_audio(self.path("separate", "vocals.wav"), self.sr)

    @cached_property
    def background(self) -> np.ndarray:
        return read_audio(self.path("separate", "background.wav"), self.sr)

    @cached_property
    def vocals_mono(self) -> np.ndarray:
        return self.vocals.mean(axis=0)

    @cached_property
    def transcript(self) -> Transcript:
        return Transcript.load(self.path("transcribe", "transcript.json"))

    @property
    def source_language(self) -> str:
        return self.transcript.language

    def dubbed_segments(self) -> list:
        """Segments long enough to dub (the paper skips those under 0.5 s)."""
        return [s for s in self.transcript.segments if s.duration >= self.cfg.min_segment]

    def translation(self, lang: Language) -> Translation:
        return Translation.load(self.path("translate", "translation.json", lang))

    def segment_audio(self, stage: str, lang: Language, seg_id: int) -> np.ndarray | None:
        path = self.path(stage, f"{seg_id:04d}.wav", lang)
        return read_audio(path, self.sr, mono=True)[0] if path.exists() else None

    def alignment(self, lang: Language) -> dict:
        return read_json(self.path("align", "alignment.json", lang))

    def original_speech(self, start: float, end: float) -> np.ndarray:
        a, b = int(round(start * self.sr)), int(round(end * self.sr))
        return self.vocals_mono[max(a, 0) : max(b, 0)]
