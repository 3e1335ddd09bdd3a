"""The dubbing stages, in the order of the paper's Fig. 5 — the one table the pipeline, the backend
registry, the model store, the paper profile and the CLI all read.

    separate → transcribe → diarize → [per language: translate → synthesize → align → voice-convert →
    match-loudness] → remux

Each stage name is written here and nowhere else in lssd: other modules use these constants. A stage
that chooses a backend names the :class:`lssd.config.DubConfig` field (and CLI option) holding the
choice; the order of backends under ``auto`` is each backend's declared priority in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from lssd.errors import BadInputError

INPUT = "input"  # step zero: the checked, decoded original audio (not a user-facing stage)
SEPARATE = "separate"
TRANSCRIBE = "transcribe"
DIARIZE = "diarize"
TRANSLATE = "translate"
SYNTHESIZE = "synthesize"
ALIGN = "align"
VOICE_CONVERT = "voice-convert"
MATCH_LOUDNESS = "match-loudness"
REMUX = "remux"


@dataclass(frozen=True)
class Stage:
    name: str
    per_language: bool  # run once per target language
    option: str | None  # DubConfig field / CLI option choosing its backend; None: no backends
    help: str  # one line, shown by ``lssd --help``


TABLE: tuple[Stage, ...] = (
    Stage(SEPARATE, False, "separator", "Split the original audio into vocals and background."),
    Stage(TRANSCRIBE, False, "asr", "Timestamped speech segments and source language."),
    Stage(DIARIZE, False, "diarizer", "Speaker turns; segments split so each has one speaker."),
    Stage(TRANSLATE, True, "translator", "Target-language text (or speech) per segment."),
    Stage(SYNTHESIZE, True, "tts", "Target-language speech per segment."),
    Stage(ALIGN, True, None, "Stretch each new segment into its original time span."),
    Stage(VOICE_CONVERT, True, "vc", "Convert each new segment towards the original speaker."),
    Stage(MATCH_LOUDNESS, True, None, "Match each segment's loudness and spectrum to the original speech."),
    Stage(REMUX, False, None, "Place segments, remix with the background, mux the multi-track container."),
)

NAMES: tuple[str, ...] = tuple(s.name for s in TABLE)
PER_LANGUAGE: tuple[str, ...] = tuple(s.name for s in TABLE if s.per_language)
BACKEND_OPTIONS: dict[str, str] = {s.name: s.option for s in TABLE if s.option}  # stage -> option
_BY_NAME = {s.name: s for s in TABLE}


def get(name: str) -> Stage:
    """The stage called ``name``; an unknown name is one sentence listing the stages."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise BadInputError(f"unknown stage {name!r}; stages: {', '.join(NAMES)}") from None
