"""Everything a stage needs about one clip: its settings, its input, its work directory, what the run has
found out about it (source language, embedded subtitles) and accessors for upstream artifacts (loaded
lazily, once). Full-length work audio (mix, vocals, background) is a read-only memory map of its WAV:
a stage that needs a stretch of it reads only that stretch, so memory stays flat in input length.

Artifact file names are written here once: the stage that writes an artifact and every stage that
reads it both go through :meth:`ClipContext.path` with the names below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np

from lssd import stages
from lssd.config import DubConfig
from lssd.dub.workdir import Workdir
from lssd.languages import Language
from lssd.media import SAMPLE_RATE, MediaInfo, open_wav, read_audio, read_json, read_span
from lssd.segments import Transcript, Translation

T = TypeVar("T")
R = TypeVar("R")

# artifact names, per stage directory
MIX = "mix.wav"  # input
VOCALS = "vocals.wav"  # separate
BACKGROUND = "background.wav"  # separate
TRANSCRIPT = "transcript.json"  # transcribe
TRANSLATION = "translation.json"  # translate/<lang>
TRANSLATED_SPEECH = "speech"  # translate/<lang>/speech/<id>.wav (S2ST/T2ST)
ALIGNMENT = "alignment.json"  # align/<lang>
CONVERSION = "conversion.json"  # voice-convert/<lang>
LOUDNESS = "loudness.json"  # match-loudness/<lang>


def segment_file(seg_id: int) -> str:
    """Per-segment audio of a per-language stage: ``<stage>/<lang>/0007.wav``."""
    return f"{seg_id:04d}.wav"


@dataclass
class ClipContext:
    input_path: Path
    info: MediaInfo
    cfg: DubConfig  # the run's settings, never changed during the run
    workdir: Workdir
    output: Path | None = None  # the container remux writes
    targets: list[Language] = field(default_factory=list)  # target languages other than the source
    controls: list[Language] = field(default_factory=list)  # speech controls (lssd.dub.controls.ControlVoice)
    source_subtitles: Path | None = None  # given (--source-subtitles) or extracted from the input
    notices: list[str] = field(default_factory=list)
    sr: int = SAMPLE_RATE
    progress: Callable[[int, int], None] | None = None  # set by the pipeline for the running stage

    def __post_init__(self) -> None:
        if self.source_subtitles is None:
            self.source_subtitles = self.cfg.source_subtitles

    def each(self, items: list) -> Iterator:
        """Iterate a stage's work items, reporting (done, total) to :attr:`progress` (percentage and ETA)."""
        for i, item in enumerate(items):
            yield item
            if self.progress is not None:
                self.progress(i + 1, len(items))

    def map(self, work: Callable[[T], R], items: Sequence[T], threads: int | None = None) -> list[R]:
        """``work(item)`` for every item, results in the items' order, on up to ``threads`` threads
        (default: the run's :attr:`DubConfig.worker_threads`); progress is reported as items finish.

        For a stage's per-segment work, which reads its own inputs and writes its own files, so the
        result does not depend on the thread count. The libraries doing the work (WORLD, NumPy, SciPy,
        Rubber Band and espeak-ng as processes) release the GIL, so two cores do two segments at once.
        On an error, the items not started are cancelled and the first error (in items' order) is raised."""
        items = list(items)
        n = min(threads or self.cfg.worker_threads, len(items))
        if n <= 1:
            return [work(item) for item in self.each(items)]
        with ThreadPoolExecutor(n, thread_name_prefix="lssd-segment") as pool:
            futures = [pool.submit(work, item) for item in items]
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    if future.exception() is not None:
                        break
                    if self.progress is not None:
                        self.progress(done, len(items))
            finally:
                for future in futures:
                    future.cancel()
            return [future.result() for future in futures]

    def warn(self, message: str) -> None:
        if message not in self.notices:
            self.notices.append(message)

    def backend_cfg(self) -> DubConfig:
        """Settings as backends see them for this clip: the run's, plus the source language once the
        transcript exists (before that, the user's ``--source-lang``) and the source subtitles."""
        language = self.transcript.language if self.has_transcript else self.cfg.source_language
        return self.cfg.for_clip(language, self.source_subtitles)

    # ---- artifacts -------------------------------------------------------------------------------
    def path(self, stage: str, name: str, lang: Language | None = None) -> Path:
        return self.workdir.stage_dir(stage, lang.work_dir(stage) if lang else None) / name

    @cached_property
    def mix(self) -> np.ndarray:
        return open_wav(self.path(stages.INPUT, MIX), self.sr)

    @property
    def n_samples(self) -> int:
        return self.mix.shape[1]

    @property
    def duration(self) -> float:
        return self.n_samples / self.sr

    @cached_property
    def vocals(self) -> np.ndarray:
        return open_wav(self.path(stages.SEPARATE, VOCALS), self.sr)

    @cached_property
    def background(self) -> np.ndarray:
        return open_wav(self.path(stages.SEPARATE, BACKGROUND), self.sr)

    @cached_property
    def vocals_mono(self) -> np.ndarray:
        return self.vocals.mean(axis=0)

    @property
    def has_transcript(self) -> bool:
        return self.path(stages.TRANSCRIBE, TRANSCRIPT).exists()

    @property
    def transcript(self) -> Transcript:
        """The transcript on disk, re-read when the transcribe stage rewrote it."""
        path = self.path(stages.TRANSCRIBE, TRANSCRIPT)
        stamp = path.stat().st_mtime_ns
        if self._transcript is None or self._transcript[0] != stamp:
            self._transcript = (stamp, Transcript.load(path))
        return self._transcript[1]

    _transcript: tuple[int, Transcript] | None = field(default=None, init=False, repr=False)

    @property
    def source_language(self) -> str:
        return self.transcript.language

    def dubbed_segments(self) -> list:
        """Segments long enough to dub (the paper skips those under 0.5 s)."""
        return [s for s in self.transcript.segments if s.duration >= self.cfg.min_segment]

    def translation(self, lang: Language) -> Translation:
        return Translation.load(self.path(stages.TRANSLATE, TRANSLATION, lang))

    def segment_audio(self, stage: str, lang: Language, seg_id: int) -> np.ndarray | None:
        path = self.path(stage, segment_file(seg_id), lang)
        return read_audio(path, self.sr, mono=True)[0] if path.exists() else None

    def alignment(self, lang: Language) -> dict:
        return read_json(self.path(stages.ALIGN, ALIGNMENT, lang))

    def loudness(self, lang: Language) -> dict:
        return read_json(self.path(stages.MATCH_LOUDNESS, LOUDNESS, lang))

    def original_speech(self, start: float, end: float) -> np.ndarray:
        a, b = int(round(start * self.sr)), int(round(end * self.sr))
        return read_span(self.vocals, a, b).mean(axis=0)  # as vocals_mono's slice, reading only it
