"""``--profile paper``: the stack of the paper's §6 pipeline, and every deviation from it said out loud.

    separate        Demucs mdx_extra, vocals against the rest   --separator demucs
    transcribe      Whisper large-v3, word timestamps           --asr whisper
    translate       SeamlessM4T v2 (T2ST)                       --translator seamless
    synthesize      SeamlessM4T v2                              --tts seamless
    voice-convert   kNN-VC, standing in for LVC-VC              --vc knn-vc
    match-loudness  pyloudnorm + matchering                     --eq matchering

§6 says only "Demucs"; App. B.3 names mdx_extra_q for the No-Speech baseline, which is the mdx_extra bag
quantized with DiffQ (an extra package). The profile asks for mdx_extra and keeps mdx_extra_q when the
user chose it. §6 names no Whisper size; large-v3 is the largest.

Deviations are of two kinds.

* Avoidable: a paper model is not in the model store, its backend is not installed, matchering is
  missing, or the user chose another backend or gave material (a background stem, subtitles) that
  replaces a stage. Without ``--strict`` the run goes on with what ``auto`` picks and the deviation says
  which; with ``--strict`` they stop the run (:class:`FallbackRefusedError`): the output would not be
  the paper's pipeline, and the missing piece can be installed.
* Inherent: what lssd does not provide at all — an LVC-VC backend; kNN-VC takes its place. Listed on
  every run, but ``--strict`` accepts it: refusing would make ``--profile paper --strict`` impossible
  everywhere, and a strict run is meant to be the closest reproduction lssd can make, not none.

Global stages (separate, transcribe) are pinned to the paper's backend once it is usable. Per-language
stages are pinned only under ``--strict``: whether a model speaks a language is known at run time, and a
pinned backend that cannot serve a language stops the run, which only a strict run wants. Otherwise they
stay on ``auto``, whose order already prefers the paper's backends and falls back with a notice.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace

from rich.console import Console

from lssd import stages
from lssd.config import DubConfig
from lssd.errors import FallbackRefusedError, LssdError

PAPER_SEPARATORS = ("mdx_extra", "mdx_extra_q")  # the unquantized bag, and the quantized one of App. B.3
PAPER_ASR = "large-v3"
INHERENT = (
    "voice-convert: kNN-VC stands in for the paper's LVC-VC, for which lssd has no backend "
    "(inherent: --strict accepts it)",
)


@dataclass(frozen=True)
class PaperStage:
    stage: str
    backend: str
    paper: str  # what the paper used, in words

    @property
    def option(self) -> str:
        """The DubConfig field (and CLI option) choosing the stage's backend."""
        return stages.BACKEND_OPTIONS[self.stage]

    @property
    def per_language(self) -> bool:
        return stages.get(self.stage).per_language


STACK = (
    PaperStage(stages.SEPARATE, "demucs", "Demucs"),
    PaperStage(stages.TRANSCRIBE, "whisper", "Whisper"),
    PaperStage(stages.TRANSLATE, "seamless", "SeamlessM4T"),
    PaperStage(stages.SYNTHESIZE, "seamless", "SeamlessM4T"),
    PaperStage(stages.VOICE_CONVERT, "knn-vc", "kNN-VC"),
)


def paper_profile(cfg: DubConfig) -> tuple[DubConfig, list[str]]:
    """The paper's stack as far as this machine allows, and one line per deviation (avoidable ones
    first). With ``cfg.strict`` any avoidable deviation raises :class:`FallbackRefusedError`."""
    cfg = _paper_models(cfg)
    avoidable: list[str] = []
    for step in STACK:
        chosen = getattr(cfg, step.option)
        if chosen not in ("auto", step.backend):
            avoidable.append(f"{step.stage}: --{step.option} {chosen} replaces the paper's {step.paper}")
            continue
        given = _given_material(cfg, step.stage)
        why = None if given else _unusable(step, cfg)
        if given:
            avoidable.append(given)
        elif why:  # under --strict the run stops: what auto would pick instead does not matter
            avoidable.append(f"{step.stage}: {why}" + ("" if cfg.strict else f"; {_instead(step, cfg)}"))
        elif cfg.strict or not step.per_language:
            cfg = replace(cfg, **{step.option: step.backend})
    if not cfg.asr_model.removeprefix("whisper-").startswith("large"):
        avoidable.append(f"transcribe: --asr-model {cfg.asr_model} replaces Whisper {PAPER_ASR}")
    cfg, eq = _eq(cfg)
    avoidable += eq
    if cfg.strict and avoidable:
        raise FallbackRefusedError(f"--profile paper --strict refuses {len(avoidable)} deviation(s) from the "
                                   f"paper: {'; '.join(avoidable)}")
    return cfg, [*avoidable, *INHERENT]


def _paper_models(cfg: DubConfig) -> DubConfig:
    """mdx_extra unless the user chose one of the paper's separators (htdemucs is the CLI's default)."""
    separator = cfg.separator_model if cfg.separator_model in PAPER_SEPARATORS else PAPER_SEPARATORS[0]
    return replace(cfg, separator_model=separator)


def _given_material(cfg: DubConfig, stage: str) -> str | None:
    if stage == stages.SEPARATE and cfg.background is not None:
        return f"separate: the given background stem {cfg.background.name} replaces Demucs separation"
    if stage == stages.TRANSCRIBE and cfg.source_subtitles is not None:
        return f"transcribe: the given subtitles {cfg.source_subtitles.name} replace Whisper"
    if stage == stages.TRANSLATE and cfg.subtitles:
        from lssd.languages import get_language

        names = ", ".join(get_language(code).name for code in cfg.subtitles)
        return f"translate: the given {names} subtitles replace SeamlessM4T for the language(s) they cover"
    return None


def _unusable(step: PaperStage, cfg: DubConfig) -> str | None:
    """Why the paper's backend cannot serve this stage on this machine, as far as is known before the run."""
    from lssd.backends import registry

    backend = next((b for b in registry.backends(step.stage) if b.name == step.backend), None)
    if backend is None:
        return f"the paper's {step.paper} backend '{step.backend}' is not part of this lssd installation"
    model = registry.missing_model(backend, cfg)
    if model is not None:
        return (f"the paper's {step.paper} model '{model}' is not in the model store (`lssd models pull {model}`, "
                f"or `lssd models import {model} DIR`)")
    if not step.per_language:  # per-language stages: whether a model speaks a language is known at run time
        reason = registry.why_unusable(backend, cfg, None)
        if reason:
            return f"the paper's {step.paper} backend '{step.backend}' cannot be used: {reason}"
    return None


def _instead(step: PaperStage, cfg: DubConfig) -> str:
    """What ``auto`` will use instead (per target language for per-language stages, whose choice may hang
    on the source language: before it is detected, no prediction is made)."""
    from lssd.backends import registry

    per_language = step.per_language
    if per_language and not cfg.source_language:
        return "'auto' picks the best available backend per language once the source language is known"
    picks: dict[str, list[str]] = {}
    for lang in cfg.langs if per_language else [None]:
        try:
            name = registry.select(step.stage, "auto", cfg, lang).backend.name
        except LssdError:
            name = "nothing"
        picks.setdefault(name, []).append(lang.name if lang else "")
    if len(picks) == 1:
        return f"'auto' uses '{next(iter(picks))}' instead"
    return "'auto' uses " + ", ".join(f"'{name}' for {', '.join(names)}" for name, names in picks.items()) + " instead"


def _eq(cfg: DubConfig) -> tuple[DubConfig, list[str]]:
    if cfg.eq == "none":
        return cfg, ["match-loudness: --eq none skips the EQ matching the paper did with matchering"]
    if importlib.util.find_spec("matchering") is None:
        return cfg, ["match-loudness: builtin EQ match instead of matchering, which is not installed (it is GPL-3.0, "
                     "so optional: pip install 'lssd[matchering]')"]
    return replace(cfg, eq="matchering"), []


def print_deviations(console: Console, deviations: list[str]) -> None:
    """One line per deviation, the text escaped (a hint such as ``pip install 'lssd[matchering]'`` is not markup)."""
    from rich.markup import escape

    for line in deviations:
        console.print(f"[yellow]paper profile deviation:[/] {escape(line)}")
