"""Per-speaker QC of one dub track, from the sidecar's speaker on every segment.

- ``voice``: GE2E similarity of dub speaker k (their placed segments in the dub track) to original
  speaker k (their segments in the original track); ``closest`` names the original speaker the dub of k
  is nearest to — it should be k.
- ``f0``: median F0 of dub speaker k minus original speaker k's, in semitones.
- ``consistency``: the share of dub segments (≥ :data:`MIN_SEGMENT_S`) whose mean similarity to the other
  segments of their own speaker beats their mean similarity to every other speaker's segments, and the
  mean ``margin`` between the two: one speaker should sound like one person across the clip, and unlike
  the others.
"""

from __future__ import annotations

import numpy as np

from lssd.dsp.metrics import median_f0
from lssd.sidecar import speaker_order

SR = 16_000
MIN_SEGMENT_S = 1.0  # shorter dub segments give GE2E too little to embed reliably

Span = tuple[float, float]


def spans_by_speaker(sc: dict, language: str) -> tuple[dict[str, list[Span]], dict[str, list[Span]]]:
    """(original spans, dub placements) per speaker for one target language; empty without speakers."""
    orig: dict[str, list[Span]] = {}
    dub: dict[str, list[Span]] = {}
    for seg in sc.get("segments", []):
        who = seg.get("speaker")
        if not who or not seg.get("dubbed", True):
            continue
        target = seg.get("targets", {}).get(language, {})
        if "start" not in target:
            continue
        orig.setdefault(who, []).append((seg["start"], seg["end"]))
        dub.setdefault(who, []).append((target["start"], target["end"]))
    return orig, dub


def _cut(mono: np.ndarray, spans: list[Span]) -> np.ndarray:
    pieces = [mono[int(a * SR):int(b * SR)] for a, b in spans]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def measure(dub: np.ndarray, orig: np.ndarray, sc: dict, language: str, model: bool = True) -> dict | None:
    """Per-speaker figures of one dub track (mono 16 kHz ``dub`` and ``orig``); None without speakers.
    ``model`` False skips what needs the speaker encoder (voice, closest, consistency)."""
    orig_spans, dub_spans = spans_by_speaker(sc, language)
    if not dub_spans:
        return None
    ids = sorted(dub_spans, key=speaker_order)
    rows = []
    emb_orig, emb_dub = {}, {}
    if model:
        from lssd import speaker

        emb_orig = {k: speaker.embed(_cut(orig, orig_spans[k])) for k in ids}
        emb_dub = {k: speaker.embed(_cut(dub, dub_spans[k])) for k in ids}
    for k in ids:
        fd, fo = median_f0(_cut(dub, dub_spans[k]), SR), median_f0(_cut(orig, orig_spans[k]), SR)
        row = {"id": k, "segments": len(dub_spans[k]), "dub_s": round(sum(b - a for a, b in dub_spans[k]), 3),
               "f0": round(float(12 * np.log2(fd / fo)), 3) if fd and fo else None}
        if model:
            d = emb_dub[k]
            sims = {j: float(np.dot(d, e)) for j, e in emb_orig.items() if d is not None and e is not None}
            row["voice"] = round(sims[k], 4) if k in sims else None
            row["closest"] = max(sims, key=sims.get) if sims else None
        rows.append(row)
    out = {"speakers": rows}
    if model:
        out.update(consistency(dub, dub_spans))
    return out


def consistency(dub: np.ndarray, dub_spans: dict[str, list[Span]]) -> dict:
    """``consistency`` (share of segments nearer their own speaker), ``margin`` and how many segments
    were compared; None figures with fewer than two speakers or no speaker with two long segments."""
    from lssd import speaker

    segs = [(k, speaker.embed(_cut(dub, [s]))) for k, spans in dub_spans.items() for s in spans
            if s[1] - s[0] >= MIN_SEGMENT_S]
    segs = [(k, e) for k, e in segs if e is not None]
    hits, margins = [], []
    for i, (k, e) in enumerate(segs):
        by: dict[str, list[float]] = {}
        for j, (k2, e2) in enumerate(segs):
            if j != i:
                by.setdefault(k2, []).append(float(np.dot(e, e2)))
        others = [np.mean(v) for k2, v in by.items() if k2 != k]
        if k not in by or not others:
            continue
        own = float(np.mean(by[k]))
        hits.append(own > max(others))
        margins.append(own - max(others))
    return {"consistency": round(float(np.mean(hits)), 4) if hits else None,
            "margin": round(float(np.mean(margins)), 4) if margins else None, "compared": len(hits)}
