"""Settings of one dubbing run: frozen, validated on construction, the one home of every default.

Every stage reads only the fields it declares (each stage's ``settings``), so changing one setting
invalidates exactly the stages that depend on it. What a run *finds out* about a clip (the detected
source language, subtitles embedded in the input) is not a setting: it lives on the clip context
(:class:`lssd.dub.context.ClipContext`), and backends see it through :meth:`DubConfig.for_clip`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from lssd.errors import BadInputError
from lssd.languages import Language

PROFILES = ("offline", "paper")
CONTAINERS = ("mkv", "mp4")
EQ_MODES = ("builtin", "matchering", "none")
SEAMLESS_MODES = ("t2st", "s2st")


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS has one (Linux; a SLURM or taskset
    limit), else the machine's count."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


@dataclass(frozen=True)
class DubConfig:
    langs: tuple[Language, ...]
    # backend choice per stage (the fields named in lssd.stages): "auto" = best available, or a backend name
    separator: str = "auto"
    asr: str = "auto"
    translator: str = "auto"
    tts: str = "auto"
    vc: str = "auto"
    strict: bool = False  # refuse labelled fallbacks (and, with profile "paper", any deviation)
    profile: str = "offline"  # "offline" | "paper" (applied by the pipeline: lssd.dub.profiles)
    # user-supplied material
    background: Path | None = None  # a music-and-effects stem: skips separation
    source_subtitles: Path | None = None  # SRT/VTT of the original speech (text + timing)
    subtitles: dict[str, Path] = field(default_factory=dict)  # iso3 -> SRT/VTT per target language
    source_language: str | None = None  # iso3; None = detect (or the ASR model's only language)
    # model choices for model-backed backends (catalog names)
    separator_model: str = "htdemucs"
    asr_model: str = "large-v3"
    seamless_model: str = "seamless-m4t-v2-large"
    seamless_mode: str = "t2st"  # "t2st" (text→speech, the paper's default) | "s2st" (speech→speech)
    vc_model: str = "knn-vc"
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    threads: int = 0  # segments worked on at once inside a per-language stage (0 = one per usable core)
    # alignment
    min_ratio: float = 0.7  # stretch ratio = placed duration / synthesised duration
    max_ratio: float = 1.5
    min_gap: float = 0.05  # seconds kept free before the next segment
    min_segment: float = 0.5  # original segments shorter than this are left untouched (paper: skip < 0.5 s)
    # loudness / EQ
    eq: str = "builtin"  # "builtin" | "matchering" | "none"
    # output
    container: str = "mkv"  # "mkv" | "mp4" (audio-only input always gives .mka)
    # input
    allow_truncated: bool = False  # dub what decodes of a file whose streams end before its header says
    # counterfactual controls (lssd's addition): extra tracks, see lssd.dub.controls
    controls: tuple[str, ...] = ()  # names from lssd.sidecar.CONTROLS

    def __post_init__(self) -> None:
        object.__setattr__(self, "langs", tuple(self.langs))
        object.__setattr__(self, "subtitles", dict(self.subtitles))
        object.__setattr__(self, "controls", _controls(self.controls))
        _one_of("profile", self.profile, PROFILES)
        _one_of("container", self.container, CONTAINERS)
        _one_of("eq", self.eq, EQ_MODES)
        _one_of("seamless-mode", self.seamless_mode, SEAMLESS_MODES)
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise BadInputError(f"--device {self.device!r}: use auto, cpu, cuda or cuda:N")
        if not (0 < self.min_ratio <= 1 <= self.max_ratio and math.isfinite(self.max_ratio)):
            raise BadInputError(f"need 0 < --min-ratio ≤ 1 ≤ --max-ratio, got {self.min_ratio} and {self.max_ratio}")
        if not (isinstance(self.threads, int) and self.threads >= 0):
            raise BadInputError(f"--threads must be a whole number ≥ 0 (0 = one per core), got {self.threads}")
        for name in ("min_gap", "min_segment"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise BadInputError(f"{name} must be a finite number ≥ 0, got {value}")

    @property
    def worker_threads(self) -> int:
        """Threads for per-segment work: ``threads``, or one per core this process may use."""
        return self.threads or usable_cores()

    @property
    def lang_codes(self) -> list[str]:
        return [lang.iso3 for lang in self.langs]

    def for_clip(self, source_language: str | None, source_subtitles: Path | None) -> DubConfig:
        """The settings as a backend sees them for one clip: the user's settings plus what the run found
        (the detected source language, subtitles embedded in the input). A new frozen value; the run's
        own settings, its cache keys and the sidecar's ``settings`` never change."""
        return replace(self, source_language=source_language, source_subtitles=source_subtitles)


def default(name: str):
    """The default of one :class:`DubConfig` field (the CLI shows and uses these)."""
    f = next(f for f in fields(DubConfig) if f.name == name)
    return f.default


def _controls(names) -> tuple[str, ...]:
    """``"resynth,novc"`` or a sequence → the named controls in the table's order, each checked."""
    from lssd.sidecar import CONTROLS

    parts = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    unknown = [n for n in parts if n not in CONTROLS]
    if unknown:
        raise BadInputError(f"--controls {','.join(unknown)}: unknown; choose from {', '.join(CONTROLS)}")
    return tuple(c for c in CONTROLS if c in parts)


def _one_of(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise BadInputError(f"--{option} {value!r}: choose from {', '.join(allowed)}")
