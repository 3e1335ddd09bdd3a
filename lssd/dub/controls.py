"""Counterfactual controls — lssd's addition, not the paper's: tracks that change one thing at a time, so a
study can tell whether dub augmentation helps because the *language* changed or because the audio became
synthetic.

* ``resynth``: the source transcript spoken by the TTS in the source language, then aligned, voice-converted
  and loudness-matched exactly like a dub (same words, synthetic voice);
* ``novc``: each target-language dub with voice conversion off;
* ``natural``: each target-language dub placed at its natural speaking rate (no stretch; trimmed at its
  quietest point or left short within the span, the dubs' overlap rule kept);
* ``background``: the separated background alone.

A control reuses every stage output it shares with the dubs (separation, transcript, and for novc/natural
the dub's translation and synthesis, for novc its alignment too): it runs only the stages that make it
different, in a work folder of its own (``align/spa+natural``). Each becomes an extra audio track of the
same container, tagged with the *source* language and titled "English (control: re-synthesized)", of
sidecar kind :data:`lssd.sidecar.KIND_CONTROL`; the index keeps control tracks apart from the language
tracks, so no dub policy takes one unless a recipe asks for it (``data.control``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from types import ModuleType, SimpleNamespace

from lssd import sidecar, stages
from lssd.backends import registry
from lssd.dub import align, match_loudness, synthesize, voice_convert
from lssd.dub.context import ALIGNMENT, TRANSLATION, ClipContext, segment_file
from lssd.languages import Language, find
from lssd.media import write_audio, write_json
from lssd.segments import KIND_PSEUDO, Translation

RESYNTH, NOVC, NATURAL, BACKGROUND = "resynth", "novc", "natural", "background"
assert (RESYNTH, NOVC, NATURAL, BACKGROUND) == tuple(sidecar.CONTROLS), "one list of controls: lssd.sidecar"


@dataclass(frozen=True)
class ControlVoice(Language):
    """A language as a control speaks it: the stages the control recomputes (``own``) keep their
    artifacts in ``<stage>/<iso3>+<control>``; the others are the dub's (``<stage>/<iso3>``), reused."""

    control: str = ""
    own: tuple[str, ...] = ()

    def work_dir(self, stage: str) -> str:
        return self.key if stage in self.own else self.iso3

    @property
    def key(self) -> str:
        return f"{self.iso3}+{self.control}"


def _transcript_run(ctx: ClipContext, lang: ControlVoice, selection=None) -> dict:
    """resynth's "translation": the source transcript itself."""
    out_dir = ctx.workdir.reset(stages.TRANSLATE, lang.work_dir(stages.TRANSLATE))
    texts = {s.id: s.text for s in ctx.dubbed_segments()}
    Translation(language=lang.iso3, kind=sidecar.TEXT_TRANSCRIPT, texts=texts, backend="transcript").save(
        out_dir / TRANSLATION)
    return {"backend": "transcript", "label": "control: the source transcript, untranslated",
            "kind": sidecar.TEXT_TRANSCRIPT, "is_translation": False, "provenance": {"from": stages.TRANSCRIBE}}


def _natural_run(ctx: ClipContext, lang: ControlVoice, selection=None) -> dict:
    """natural's alignment: each synthesized segment unstretched at its span's start, cut at its quietest
    point where it would pass the dubs' limit (:func:`lssd.dub.align.latest_end`), silence after a short one."""
    sr = ctx.sr
    out_dir = ctx.workdir.reset(stages.ALIGN, lang.work_dir(stages.ALIGN))
    starts = sorted(s.start for s in ctx.transcript.segments)

    def place(seg) -> align.Placement | None:
        audio = ctx.segment_audio(stages.SYNTHESIZE, lang, seg.id)
        if audio is None or audio.size == 0:
            return None
        limit = align.latest_end(seg, starts, ctx.duration, ctx.cfg.min_gap)
        out, trimmed = align.fit_within(audio, sr, int(round((limit - seg.start) * sr)))
        out = align.fade_in(out, sr)
        write_audio(out_dir / segment_file(seg.id), out, sr)
        end = seg.start + out.shape[-1] / sr
        return align.Placement(id=seg.id, start=seg.start, end=round(end, 4), span_start=seg.start,
                               span_end=seg.end, synth_duration=round(audio.shape[-1] / sr, 4), ratio=1.0,
                               policy="natural", borrowed_s=round(max(0.0, end - seg.end), 4),
                               trimmed_s=round(trimmed, 4))

    placements = [p for p in ctx.map(place, ctx.dubbed_segments()) if p is not None]
    write_json(out_dir / ALIGNMENT, {"placements": [asdict(p) for p in placements]})
    return {"backend": "natural", "label": "control: no time-stretch (natural speaking rate)",
            "provenance": {}, "policies": {"natural": len(placements)}}


def _no_vc_choose(ctx: ClipContext, lang: ControlVoice) -> registry.Selection:
    """The ``none`` voice-convert backend, chosen deliberately: a control, not a fallback."""
    return registry.Selection(next(b for b in registry.backends(stages.VOICE_CONVERT) if b.name == "none"))


TRANSCRIPT_STEP = SimpleNamespace(NAME=stages.TRANSLATE, settings=lambda cfg, lang=None: {"text": "transcript"},
                                  choose=lambda ctx, lang: None, run=_transcript_run)
NATURAL_STEP = SimpleNamespace(NAME=stages.ALIGN, settings=lambda cfg, lang=None: {"min_gap": cfg.min_gap,
                                                                                     "timing": "natural"},
                               run=_natural_run)
NO_VC_STEP = SimpleNamespace(
    NAME=stages.VOICE_CONVERT, settings=lambda cfg, lang=None: {"vc": "none"}, choose=_no_vc_choose,
    run=lambda ctx, lang, sel: {**voice_convert.run(ctx, lang, sel), "label": "control: voice conversion off"})

STEPS: dict[str, tuple] = {  # the stages each speech control runs itself, in the pipeline's order
    RESYNTH: (TRANSCRIPT_STEP, synthesize, align, voice_convert, match_loudness),
    NATURAL: (NATURAL_STEP, voice_convert, match_loudness),
    NOVC: (NO_VC_STEP, match_loudness),
}


def voice(control: str, lang: Language) -> ControlVoice:
    base = {f.name: getattr(lang, f.name) for f in fields(Language)}
    return ControlVoice(**base, control=control, own=tuple(m.NAME for m in STEPS[control]))


def steps(v: ControlVoice) -> tuple[ModuleType, ...]:
    return STEPS[v.control]


def shared_stages(v: ControlVoice) -> int:
    """How many of the dub's chained stage outputs (transcribe, then the per-language stages) the control
    starts from: its cache key chains on exactly those."""
    return 1 + stages.PER_LANGUAGE.index(v.own[0])


def voices(ctx: ClipContext) -> list[ControlVoice]:
    """The speech controls this clip gets, in track order; a control that cannot be made is a notice."""
    wanted = ctx.cfg.controls
    speech = [c for c in wanted if c != BACKGROUND]
    if not speech:
        return []
    if not ctx.transcript.segments:
        ctx.warn(f"no speech: the {', '.join(speech)} control(s) would be the original; not made")
        return []
    out: list[ControlVoice] = []
    if RESYNTH in wanted:
        source = find(ctx.source_language)
        if source is None:
            ctx.warn("resynth control: the source language is unknown, so nothing can speak it; not made")
        elif not any(s.text.strip() for s in ctx.dubbed_segments()):
            ctx.warn("resynth control: the transcript has no text (speech located, not transcribed); not made")
        else:
            out.append(voice(RESYNTH, source))
    for control in (NOVC, NATURAL):
        if control in wanted:
            out += [voice(control, lang) for lang in ctx.targets]
    return out


def title(control: str, spoken: Language | None, source_name: str, text_kind: str | None) -> str:
    what = sidecar.CONTROLS[control]
    name = spoken.name if spoken is not None else source_name
    pseudo = ", pseudo-text: not a translation" if text_kind == KIND_PSEUDO else ""
    return f"{name} (control: {what}{pseudo})"
