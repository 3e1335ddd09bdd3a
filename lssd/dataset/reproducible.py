"""What a rebuild guarantees, in one place: the builder seeds each clip from its id, and these functions
say which sidecar and manifest fields may differ between two builds of the same input, settings and models
(timestamps, run ids, timings, who built it) — everything else is equal, and the audio tracks are equal
byte for byte, whatever the engine, worker count, thread count or run order.

Sources of nondeterminism found and removed (issue 20): faster-whisper's temperature fallback sampled
with CTranslate2's per-thread generator, seeded once per thread from ``random_device`` (now greedy beam
search only, see :data:`lssd.backends.faster_whisper.DECODING`); library code drawing on the global
``random`` / NumPy / torch generators (each clip now starts them from its id, :func:`seed_clip`).
Thread counts do not change faster-whisper's results (checked at 1, 2 and 4 threads) nor per-segment
work, whose results are collected in segment order.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

# sidecar keys, at any depth, that record when or how fast, not what
# `key` chains on run ids (stage cache keys); `threads` says how fast, not what
VOLATILE_SIDECAR = frozenset({"created", "seconds", "output_id", "key", "threads"})
# manifest columns that record when, how fast and by whom
VOLATILE_ROW = frozenset({"wall_seconds", "stage_seconds", "worker", "finished", "attempts", "reused",
                          "reused_by", "cpu_seconds"})
GUARANTEE = ("Rebuilding from the same input files, command, lssd and library versions and model files gives "
             "byte-identical audio tracks and sidecars equal field for field apart from timestamps, run ids and "
             "timings (`created`, `output_id`, `key`, `seconds`, `threads`), whatever the engine, worker count, thread count or "
             "run order: every clip is seeded from its id and decoding is greedy. Different CPU instruction "
             "sets or GPUs may round differently.")


def clip_seed(clip_id: str) -> int:
    """A 32-bit seed from the clip id: the same on every machine and process."""
    return int.from_bytes(hashlib.sha256(clip_id.encode("utf-8")).digest()[:4], "big")


def seed_clip(clip_id: str) -> int:
    """Start Python's, NumPy's and torch's global generators from the clip id, so a library that draws on
    them gives the same result for this clip wherever and whenever it is built."""
    import numpy as np

    seed = clip_seed(clip_id)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return seed
    torch.manual_seed(seed)  # seeds every CUDA device too
    return seed


def comparable_sidecar(data: Any, out_dir: str | None = None) -> Any:
    """The sidecar without its volatile keys (at any depth); paths under ``out_dir`` (the stage records
    say where they wrote) read ``OUT/…``, so builds into two folders compare."""
    if isinstance(data, dict):
        return {k: comparable_sidecar(v, out_dir) for k, v in data.items() if k not in VOLATILE_SIDECAR}
    if isinstance(data, list):
        return [comparable_sidecar(v, out_dir) for v in data]
    if out_dir and isinstance(data, str) and data.startswith(out_dir):
        return "OUT" + data[len(out_dir):]
    return data


def comparable_row(row: dict[str, Any]) -> dict[str, Any]:
    """A manifest row without its volatile columns (and the QC summary without its timing)."""
    out = {k: v for k, v in row.items() if k not in VOLATILE_ROW}
    if isinstance(out.get("qc"), str):
        out["qc"] = comparable_sidecar(json.loads(out["qc"]))
    return out
