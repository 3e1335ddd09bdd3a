"""Stage 5 — align: stretch each new segment into its original segment's time span.

Policy (the ratio is placed duration / synthesised duration, bounded to [min_ratio, max_ratio]):

* within the bounds — stretched to fill the original span exactly;
* too short (ratio would exceed max_ratio) — stretched by max_ratio and started where the original
  speech starts, leaving the rest of the span silent;
* too long (ratio below min_ratio) — squeezed by min_ratio, then silence is borrowed after the span up
  to ``min_gap`` before the next original segment; if it still does not fit, it is cut at the quietest
  point (a word or syllable boundary) of its last part, with a short fade.

A placement never starts before its own segment nor reaches into the next one, so dubbed segments
never overlap or overwrite each other.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np

from lssd import stages
from lssd.dsp.bandwidth import content_rate
from lssd.dub.context import ALIGNMENT, ClipContext, segment_file
from lssd.languages import Language
from lssd.media import pad_or_trim, read_audio, require_tool, resample, write_audio, write_json
from lssd.segments import Segment

NAME = stages.ALIGN
FADE_S = 0.015
TRIM_SEARCH_FRACTION = 0.35  # look for the quietest cut point in this last fraction of what fits
PAUSE_S = 0.25  # a gap between words this long is a pause the dub keeps silent too


def settings(cfg, lang: Language | None = None) -> dict:
    return {"min_ratio": cfg.min_ratio, "max_ratio": cfg.max_ratio, "min_gap": cfg.min_gap, "engine": "rubberband-r3",
            "stretch_rate": "content"}


@dataclass
class Placement:
    id: int
    start: float  # where the dubbed segment starts on the track (s)
    end: float
    span_start: float  # the original segment
    span_end: float
    synth_duration: float
    ratio: float
    policy: str  # "fit" | "short" | "borrowed" | "trimmed"
    borrowed_s: float = 0.0
    trimmed_s: float = 0.0


def plan(span: tuple[float, float], limit: float, synth: float, min_ratio: float, max_ratio: float) -> tuple[float, float, str]:
    """(stretch ratio, placed duration before trimming, policy) for one segment.

    ``limit`` is the latest end the placement may reach (next segment's start minus the gap)."""
    target = span[1] - span[0]
    ratio = target / synth
    if min_ratio <= ratio <= max_ratio:
        return ratio, target, "fit"
    if ratio > max_ratio:
        return max_ratio, synth * max_ratio, "short"
    squeezed = synth * min_ratio
    room = limit - span[0]
    return min_ratio, squeezed, "borrowed" if squeezed <= room else "trimmed"


def stretch(audio: np.ndarray, sr: int, duration: float) -> np.ndarray:
    """Time-stretch mono audio to ``duration`` seconds with Rubber Band (pitch kept), sample-exact.

    Rubber Band runs at the rate the speech's content needs (:func:`lssd.dsp.bandwidth.content_rate`:
    24 kHz for a TTS voice resampled to 48 kHz), a third of the CPU of stretching empty upper octaves."""
    n_out = int(round(duration * sr))
    if abs(n_out - audio.shape[-1]) <= 1:
        return pad_or_trim(audio, n_out)
    rate = content_rate(audio, sr)
    rubberband = require_tool("rubberband")
    with tempfile.TemporaryDirectory(prefix="lssd-align-") as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        write_audio(src, resample(audio, sr, rate), rate)
        cmd = [rubberband, "-3", "-q", "-D", f"{n_out / sr:.6f}", str(src), str(dst)]
        subprocess.run(cmd, check=True, capture_output=True)
        out = read_audio(dst, sr, mono=True)[0]  # back at the clip's rate
    return pad_or_trim(out, n_out)


def quietest_cut(audio: np.ndarray, sr: int, max_len: int, search_fraction: float = TRIM_SEARCH_FRACTION) -> int:
    """Sample index ≤ max_len at the lowest short-time energy within the last part of what fits."""
    hop, win = int(0.010 * sr), int(0.030 * sr)
    lo = int(max_len * (1 - search_fraction))
    best, best_energy = max_len, np.inf
    for start in range(lo, max(max_len - win, lo) + 1, hop):
        energy = float(np.mean(audio[start : start + win] ** 2))
        if energy < best_energy * 0.999:  # ties go to the earlier (first) minimum
            best, best_energy = start + win // 2, energy
    return min(best, max_len)


def fade_in(audio: np.ndarray, sr: int) -> np.ndarray:
    n = min(int(FADE_S * sr), audio.shape[-1])
    if n:
        audio = audio.copy()
        audio[:n] *= np.linspace(0.0, 1.0, n, dtype=audio.dtype)
    return audio


def fade_out(audio: np.ndarray, sr: int) -> np.ndarray:
    n = min(int(FADE_S * sr), audio.shape[-1])
    if n:
        audio = audio.copy()
        audio[-n:] *= np.linspace(1.0, 0.0, n, dtype=audio.dtype)
    return audio


def speech_runs(seg: Segment) -> list[tuple[float, float]]:
    """Where the speaker talks inside a segment, from its word times (already tightened to the speech
    Silero hears): words closer than :data:`PAUSE_S` form one run. One run when there are no words."""
    runs: list[list[float]] = []
    for w in seg.words:
        start, end = max(w.start, seg.start), min(w.end, seg.end)
        if end <= start:
            continue
        if runs and start - runs[-1][1] < PAUSE_S:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    return [(a, b) for a, b in runs] or [(seg.start, seg.end)]


def keep_pauses(out: np.ndarray, sr: int, seg: Segment) -> np.ndarray:
    """The placed dub of ``seg`` (starting at ``seg.start``) silent where the original speaker pauses
    inside the segment: the dub is cut at its quietest points into one piece per speech run, in
    proportion to the runs' lengths, and each piece is stretched onto its run. The last piece keeps the
    placement's end (so borrowed or short placements keep their meaning)."""
    runs = speech_runs(seg)
    if len(runs) < 2 or out.shape[-1] < sr // 10:
        return out
    end = seg.start + out.shape[-1] / sr
    runs = [(a, b) for a, b in runs if a < end]
    if len(runs) < 2:
        return out
    runs[-1] = (runs[-1][0], max(end, runs[-1][0] + 0.05))
    lengths = np.array([b - a for a, b in runs])
    bounds = np.cumsum(lengths)[:-1] / lengths.sum() * out.shape[-1]
    search = int(0.25 * out.shape[-1] / len(runs))
    cuts = [quietest_cut(out, sr, int(b + search / 2), search_fraction=search / max(int(b + search / 2), 1))
            for b in bounds]
    cuts = sorted(set(min(max(c, 1), out.shape[-1] - 1) for c in cuts))
    pieces = np.split(out, cuts)
    if len(pieces) != len(runs):
        return out
    track = np.zeros(int(round((runs[-1][1] - seg.start) * sr)), dtype=out.dtype)
    for piece, (a, b) in zip(pieces, runs, strict=True):
        at, n = int(round((a - seg.start) * sr)), int(round((b - a) * sr))
        placed = fade_out(fade_in(stretch(piece, sr, n / sr), sr), sr)
        track[at : at + n] = placed[: track.size - at]
    return track


def latest_end(seg: Segment, starts: list[float], duration: float, min_gap: float) -> float:
    """The overlap rule: a placement of ``seg`` may reach up to ``min_gap`` before the next original
    segment's start (``starts``, sorted) or the clip's end, and always to its own end."""
    following = [t for t in starts if t >= seg.end]
    return max(seg.end, min(following[0] if following else duration, duration) - min_gap)


def fit_within(out: np.ndarray, sr: int, max_len: int) -> tuple[np.ndarray, float]:
    """``out`` cut at its quietest point (with a fade) when longer than ``max_len`` samples, and the
    seconds cut."""
    if out.shape[-1] <= max_len:
        return out, 0.0
    cut = quietest_cut(out, sr, max_len)
    return fade_out(out[:cut], sr), (out.shape[-1] - cut) / sr


def run(ctx: ClipContext, lang: Language, selection=None) -> dict:
    cfg, sr = ctx.cfg, ctx.sr
    out_dir = ctx.workdir.reset(NAME, lang.work_dir(NAME))
    starts = sorted(s.start for s in ctx.transcript.segments)

    def place(seg: Segment) -> Placement | None:
        audio = ctx.segment_audio(stages.SYNTHESIZE, lang, seg.id)
        if audio is None or audio.size == 0:
            return None
        limit = latest_end(seg, starts, ctx.duration, cfg.min_gap)
        synth = audio.shape[-1] / sr
        ratio, placed, policy = plan((seg.start, seg.end), limit, synth, cfg.min_ratio, cfg.max_ratio)
        out, trimmed = fit_within(stretch(audio, sr, placed), sr, int(round((limit - seg.start) * sr)))
        out = keep_pauses(out, sr, seg)
        end = seg.start + out.shape[-1] / sr
        write_audio(out_dir / segment_file(seg.id), out, sr)
        return Placement(
            id=seg.id, start=seg.start, end=round(end, 4), span_start=seg.start, span_end=seg.end,
            synth_duration=round(synth, 4), ratio=round(ratio, 4), policy=policy,
            borrowed_s=round(max(0.0, end - seg.end), 4), trimmed_s=round(trimmed, 4),
        )

    placements = [p for p in ctx.map(place, ctx.dubbed_segments()) if p is not None]
    write_json(out_dir / ALIGNMENT, {"placements": [asdict(p) for p in placements]})
    counts = {p: sum(pl.policy == p for pl in placements) for p in ("fit", "short", "borrowed", "trimmed")}
    return {"backend": "rubberband", "label": "Rubber Band R3 time-stretch, bounded ratio",
            "provenance": {"tool": _rubberband_version()}, "policies": counts}


def _rubberband_version() -> str:
    proc = subprocess.run([require_tool("rubberband"), "-V"], capture_output=True, text=True)
    return f"rubberband {(proc.stdout + proc.stderr).strip().splitlines()[-1] if (proc.stdout + proc.stderr).strip() else '?'}"
