"""Stage 7 — match-loudness: each segment to the original speech's loudness and long-term spectrum.

The reference is the original speech of the same span when it is long and loud enough to measure
(BS.1770 needs 0.4 s), otherwise all of the clip's original speech. EQ first, loudness last, so the
loudness that was matched is the loudness that ships.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from lssd.dsp.loudness import Spectrum, eq_match, integrated_loudness, match_loudness, pieces_loudness, pieces_spectrum
from lssd import stages
from lssd.dub.context import LOUDNESS, ClipContext, segment_file
from lssd.languages import Language
from lssd.media import array_blocks, write_audio, write_json

NAME = stages.MATCH_LOUDNESS


def settings(cfg, lang: Language | None = None) -> dict:
    return {"eq": cfg.eq}


class AllSpeech:
    """All of the clip's original speech as one reference, for segments whose own span is too short or
    quiet to measure. Measured when first needed and segment by segment (:func:`pieces_loudness`,
    :func:`pieces_spectrum`), never as one array: a feature film holds an hour of speech (690 MB as float32,
    several times that inside a meter)."""

    def __init__(self, ctx: ClipContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()  # segments on several threads may ask at once: measured once
        self._lufs: tuple[float | None] | None = None
        self._spectrum: Spectrum | None = None
        self._audio: np.ndarray | None = None

    def _pieces(self) -> Iterator[np.ndarray]:
        segments = self.ctx.transcript.segments
        if not segments:  # a transcript without segments: the whole vocals track stands in
            yield from array_blocks(self.ctx.vocals)
        for s in segments:
            yield self.ctx.original_speech(s.start, s.end)

    def lufs(self) -> float | None:
        with self._lock:
            if self._lufs is None:
                self._lufs = (pieces_loudness((np.mean(p, axis=0) if p.ndim == 2 else p for p in self._pieces()),
                                              self.ctx.sr),)
            return self._lufs[0]

    def spectrum(self) -> Spectrum:
        with self._lock:
            if self._spectrum is None:
                self._spectrum = pieces_spectrum(self._pieces(), self.ctx.sr)
            return self._spectrum

    def audio(self) -> np.ndarray:
        """The speech as one array: only for the optional matchering EQ, which reads files. Built once."""
        with self._lock:
            if self._audio is None:
                self._audio = np.concatenate([np.zeros(0, dtype=np.float32),
                                              *(np.atleast_2d(p).mean(axis=0) for p in self._pieces())])
            return self._audio


def _eq(ctx: ClipContext, speech: np.ndarray, reference: np.ndarray | AllSpeech
        ) -> tuple[np.ndarray, dict[str, float] | None]:
    if ctx.cfg.eq == "none":
        return speech, None
    if ctx.cfg.eq == "matchering":
        from lssd.dsp.matchering_eq import matchering_match

        return matchering_match(speech, reference.audio() if isinstance(reference, AllSpeech) else reference,
                                ctx.sr), None
    out, bands = eq_match(speech, reference.spectrum() if isinstance(reference, AllSpeech) else reference, ctx.sr)
    return out, {f"{hz:g}": db for hz, db in bands.items()}


def run(ctx: ClipContext, lang: Language, selection=None) -> dict:
    out_dir = ctx.workdir.reset(NAME, lang.work_dir(NAME))
    whole = AllSpeech(ctx)

    def match(p: dict) -> dict:
        speech = ctx.segment_audio(stages.VOICE_CONVERT, lang, p["id"])
        local = ctx.original_speech(p["span_start"], p["span_end"])
        local_lufs = integrated_loudness(local, ctx.sr)
        reference, target = (local, local_lufs) if local_lufs is not None else (whole, whole.lufs())
        shaped, gains = _eq(ctx, speech, reference)
        if target is None:
            out, before, after = shaped, integrated_loudness(shaped, ctx.sr), None
        else:
            out, before, after = match_loudness(shaped, ctx.sr, target)
        write_audio(out_dir / segment_file(p["id"]), out, ctx.sr)
        return {
            "target_lufs": _r(target), "before_lufs": _r(before), "after_lufs": _r(after),
            "reference": "segment" if reference is local else "all speech", "eq_gains_db": gains,
        }

    placements = ctx.alignment(lang)["placements"]
    records = {str(p["id"]): record for p, record in zip(placements, ctx.map(match, placements), strict=True)}
    write_json(out_dir / LOUDNESS, {"speech_lufs": _r(whole.lufs()), "segments": records})
    return {"backend": f"pyloudnorm + {ctx.cfg.eq} EQ", "label": "BS.1770 loudness and long-term spectrum matching",
            "provenance": {"pyloudnorm": _version("pyloudnorm"), "eq": ctx.cfg.eq}}


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)
