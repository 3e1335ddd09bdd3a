"""Silero VAD: where speech is, without what was said.

Two uses. As the ``vad`` transcribe backend it is the labelled fallback for speech no offline recogniser
here can transcribe (tiny.en knows only English): segments get empty text, so translators must produce
pseudo-text. As a helper (:func:`hug`) it tightens timings that other backends get loosely (Whisper word
times swallow pauses, subtitle cues linger), because dubbed speech has to land inside the original speech.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.dsp import silero
from lssd.segments import Segment, Transcript
from lssd.languages import get_language
from lssd.dsp.mono16k import ENERGY_HOP, frame_energy, mono16k_blocks, to_mono16k  # noqa: F401 (vad's API)

VAD_MODEL = silero.MODEL  # catalog entry; the weights ship inside the silero-vad wheel
VAD_SR = silero.RATE  # the rate Silero VAD (and Whisper) take
MAX_SEGMENT = 15.0  # seconds: longer stretches are cut at their quietest point, for TTS and alignment
SEGMENT_PAUSE = 0.6  # seconds of silence that end a segment
MIN_PIECE = 0.08  # seconds: overlaps shorter than this are timing jitter, not speech

Span = tuple[float, float]


def speech_spans(audio16k: np.ndarray, min_silence: float = 0.1, max_speech: float = float("inf")) -> list[Span]:
    """Speech intervals (seconds, to 0.1 s as silero-vad gives them) of mono 16 kHz audio; gaps shorter than
    ``min_silence`` are bridged."""
    return _spans(silero.load().probabilities([audio16k]), audio16k.size, min_silence, max_speech)


@dataclass(frozen=True)
class TrackScan:
    """What one streamed pass over a track at 16 kHz learns: Silero's speech probability per 32 ms window,
    the energy per 0.1 s (:func:`lssd.dsp.mono16k.frame_energy`, for the loudest window) and the length."""

    probs: np.ndarray
    energy: np.ndarray
    n: int

    def spans(self, min_silence: float = 0.1, max_speech: float = float("inf")) -> list[Span]:
        """:func:`speech_spans` of the track."""
        return _spans(self.probs, self.n, min_silence, max_speech)


def scan_track(audio: np.ndarray, sr: int) -> TrackScan:
    """:class:`TrackScan` of ``audio`` ((channels, n) or (n,) at ``sr``), streamed: the track is never whole
    at 16 kHz (230 MB an hour). The last scan is remembered for the same array object (held weakly, so the
    track is not kept alive): the recognizer and the diarizer both scan a clip's vocals, which no stage
    changes in place, and the second pass cost ≈0.5 CPU s a minute."""
    global _last_scan
    last = _last_scan
    if last is not None and last[0]() is audio and last[1] == (sr, audio.shape):
        return last[2]
    scan = _scan(audio, sr)
    try:
        _last_scan = (weakref.ref(audio), (sr, audio.shape), scan)
    except TypeError:  # not weakly referenceable (not an ndarray): nothing remembered
        _last_scan = None
    return scan


_last_scan: tuple[weakref.ref, tuple, TrackScan] | None = None


def _scan(audio: np.ndarray, sr: int) -> TrackScan:
    sizes: list[int] = []
    energy: list[np.ndarray] = []
    rest = np.zeros(0, dtype=np.float64)

    def measured() -> Iterator[np.ndarray]:
        nonlocal rest
        for block in mono16k_blocks(audio, sr):
            sizes.append(block.size)
            joined = np.concatenate([rest, block.astype(np.float64)])
            whole = joined.size // ENERGY_HOP * ENERGY_HOP
            energy.append(frame_energy(joined[:whole]))
            rest = joined[whole:]
            yield block

    probs = silero.load().probabilities(measured())
    if rest.size:
        energy.append(frame_energy(rest))
    return TrackScan(probs, np.concatenate([np.zeros(0), *energy]), sum(sizes))


def track_speech_spans(audio: np.ndarray, sr: int, min_silence: float = 0.1,
                       max_speech: float = float("inf")) -> list[Span]:
    """:func:`speech_spans` of ``to_mono16k(audio, sr)``, streamed, for callers that need only the spans."""
    return scan_track(audio, sr).spans(min_silence, max_speech)


def gather(audio: np.ndarray, sr: int, groups: Sequence[Sequence[tuple[int, int]]]) -> Iterator[np.ndarray]:
    """For each group of [start, stop) sample ranges at 16 kHz (in time order, not overlapping, groups in
    time order too), those samples of ``to_mono16k(audio, sr)`` joined end to end; one streamed pass, and
    only the group being filled is in memory (past the track's end: zeros)."""
    def size(g: int) -> int:
        return sum(stop - start for start, stop in groups[g] if stop > start)

    jobs = [(g, a, b) for g, group in enumerate(groups) for a, b in group if b > a]
    last = {g: i for i, (g, _, _) in enumerate(jobs)}  # a group is complete once its last range is
    done, i, at, offset = 0, 0, 0, 0  # groups yielded, range being filled, write position, track position
    buffer = None
    for block in mono16k_blocks(audio, sr):
        end = offset + block.size
        while i < len(jobs) and jobs[i][1] < end:
            g, a, b = jobs[i]
            while done < g:  # groups without any range
                yield np.zeros(0, dtype=np.float32)
                done += 1
            if buffer is None:
                buffer = np.zeros(size(g), dtype=np.float32)
            lo, hi = max(a, offset), min(b, end)
            buffer[at + lo - a:at + hi - a] = block[lo - offset:hi - offset]
            if b > end:  # the range goes on in the next block
                break
            at += b - a
            i += 1
            if last[g] == i - 1:
                yield buffer
                buffer, at, done = None, 0, done + 1
        offset = end
    while done < len(groups):  # ranges past the end of the track, and empty groups
        yield buffer if buffer is not None else np.zeros(size(done), dtype=np.float32)
        buffer, done = None, done + 1


def _spans(probs: np.ndarray, n: int, min_silence: float, max_speech: float) -> list[Span]:
    if n < VAD_SR // 10:  # under 0.1 s: no speech to find
        return []
    stamps = silero.speech_timestamps(probs, n, min_silence_s=min_silence, max_speech_s=max_speech)
    duration = n / VAD_SR
    return [(max(round(a / VAD_SR, 1), 0.0), min(round(b / VAD_SR, 1), duration)) for a, b in stamps]


def hug(start: float, end: float, spans: list[Span]) -> Span:
    """Shrink ``[start, end]`` to the speech inside it; unchanged when VAD heard none there."""
    pieces = [(max(start, a), min(end, b)) for a, b in spans if min(end, b) > max(start, a)]
    solid = [p for p in pieces if p[1] - p[0] >= MIN_PIECE] or sorted(pieces, key=lambda p: p[0] - p[1])[:1]
    if not solid:
        return start, end
    return solid[0][0], solid[-1][1]


def merge(spans: list[Span]) -> list[Span]:
    """Join spans closer than SEGMENT_PAUSE while they stay under MAX_SEGMENT. Done here rather than by
    Silero's own ``min_silence``, which cannot end a span in a pause shorter than that at the clip's end."""
    out: list[Span] = []
    for a, b in spans:
        if out and a - out[-1][1] <= SEGMENT_PAUSE and b - out[-1][0] <= MAX_SEGMENT:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


class VadRecognizer:
    """Segments with timing only; ``language`` is what the user said the speech is, else ``und``."""

    def transcribe(self, vocals: np.ndarray, sr: int, language: str | None) -> Transcript:
        spans = merge(track_speech_spans(vocals, sr, max_speech=MAX_SEGMENT))
        segments = [Segment(i, round(a, 3), round(b, 3)) for i, (a, b) in enumerate(spans)]
        return Transcript(language=_iso3(language), segments=segments, backend="vad")

    def provenance(self) -> dict:
        from lssd.store import get_store

        return {
            **get_store().provenance(VAD_MODEL),
            "backend": "vad",
            "library": f"silero-vad {version('silero-vad')}",
            "model": f"{VAD_MODEL} ({silero.ONNX_FILE} bundled in the silero-vad wheel, run by onnxruntime)",
            "settings": {"segment_pause_s": SEGMENT_PAUSE, "max_segment_s": MAX_SEGMENT, "text": "none"},
        }


def _iso3(language: str | None) -> str:
    return get_language(language).iso3 if language and language != "und" else "und"


register(
    Backend(
        stage=stages.TRANSCRIBE,
        name="vad",
        label="Silero VAD spans without text (fallback)",
        priority=5,
        load=lambda cfg: VadRecognizer(),
        fallback=True,
        model=lambda cfg: VAD_MODEL,
    )
)
