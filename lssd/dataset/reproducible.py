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

# Where a sidecar records when, how fast or under which run id, not what: the keys of the dict found at each
# path (a "*" step is any key), nowhere else, so a content field that shares a name stays compared.
ANY = "*"
VOLATILE_SIDECAR: dict[tuple[str, ...], frozenset[str]] = {
    (): frozenset({"created"}),  # pipeline.build_sidecar: when it was written
    ("settings",): frozenset({"threads"}),  # DubConfig.threads: the builder sets it from the cores, how fast only
    # pipeline.Pipeline._stage's records (and Workdir's markers): `key` chains on run ids, `output_id` is one
    ("stages", ANY): frozenset({"key", "seconds", "output_id"}),
}
VOLATILE_QC: dict[tuple[str, ...], frozenset[str]] = {(): frozenset({"seconds"})}  # worker._qc: QC's own cost
# manifest columns that record when, how fast and by whom
VOLATILE_ROW = frozenset({"wall_seconds", "stage_seconds", "worker", "finished", "attempts", "reused",
                          "reused_by", "cpu_seconds"})
GUARANTEE = ("Rebuilding from the same input files, command, lssd and library versions and model files gives "
             "byte-identical audio tracks and sidecars equal field for field apart from timestamps, run ids and "
             "timings (`created`, `settings.threads`, and each stage record's `key`, `output_id` and `seconds`), whatever the engine, worker count, thread count or "
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


def comparable_sidecar(data: Any, out_dir: str | None = None,
                       volatile: dict[tuple[str, ...], frozenset[str]] = VOLATILE_SIDECAR) -> Any:
    """The sidecar without its volatile keys (only where ``volatile`` places them); paths under ``out_dir``
    (the stage records say where they wrote) read ``OUT/…``, so builds into two folders compare."""
    return _comparable(data, (), out_dir, volatile)


def _volatile_at(path: tuple[str, ...], volatile: dict[tuple[str, ...], frozenset[str]]) -> frozenset[str]:
    keys: frozenset[str] = frozenset()
    for where, names in volatile.items():
        if len(where) == len(path) and all(w in (ANY, p) for w, p in zip(where, path)):
            keys |= names
    return keys


def _comparable(data: Any, path: tuple[str, ...], out_dir: str | None,
                volatile: dict[tuple[str, ...], frozenset[str]]) -> Any:
    if isinstance(data, dict):
        drop = _volatile_at(path, volatile)
        return {k: _comparable(v, (*path, str(k)), out_dir, volatile) for k, v in data.items() if k not in drop}
    if isinstance(data, list):  # a list's items sit at no named path: nothing in them is volatile
        return [_comparable(v, (*path, "[]"), out_dir, volatile) for v in data]
    if out_dir and isinstance(data, str) and data.startswith(out_dir):
        return "OUT" + data[len(out_dir):]
    return data


def comparable_row(row: dict[str, Any]) -> dict[str, Any]:
    """A manifest row without its volatile columns (and the QC summary without its timing)."""
    out = {k: v for k, v in row.items() if k not in VOLATILE_ROW}
    if isinstance(out.get("qc"), str):
        out["qc"] = comparable_sidecar(json.loads(out["qc"]), volatile=VOLATILE_QC)
    return out
