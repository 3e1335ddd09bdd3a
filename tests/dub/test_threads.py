"""Per-segment work on several threads (``--threads``) gives the same files as one thread."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lssd import stages
from lssd.config import DubConfig
from lssd.dub.context import ClipContext
from lssd.dub.pipeline import Pipeline
from lssd.errors import BadInputError
from lssd.languages import parse_langs

PARALLEL = (stages.ALIGN, stages.VOICE_CONVERT, stages.MATCH_LOUDNESS)


def _artifacts(workdir: Path) -> dict[str, object]:
    """Every per-language artifact of the parallel stages by relative path: the samples of each WAV
    (libsndfile stamps float WAVs with the time of writing) and the bytes of each JSON; the stage records
    (with their timings) are left out."""
    out: dict[str, object] = {}
    for stage in PARALLEL:
        for path in sorted((workdir / stage).rglob("*")):
            if path.is_file() and path.name != "done.json":
                name = str(path.relative_to(workdir))
                out[name] = sf.read(path, dtype="float32")[0] if path.suffix == ".wav" else path.read_bytes()
    return out


def test_two_threads_write_what_one_thread_writes(sample_clip, tmp_path):
    dubbed = {}
    for threads in (1, 2):
        cfg = DubConfig(langs=parse_langs("es"), background=sample_clip.background, threads=threads)
        workdir = tmp_path / f"work{threads}"
        Pipeline(cfg).run(sample_clip.path, output=tmp_path / f"out{threads}" / "clip.mkv", workdir=workdir)
        dubbed[threads] = _artifacts(workdir)
    wavs = [name for name in dubbed[1] if name.endswith(".wav")]
    assert len(wavs) == 3 * 3  # three segments in each of the three stages
    assert dubbed[1].keys() == dubbed[2].keys()
    for name in dubbed[1]:
        assert np.array_equal(dubbed[1][name], dubbed[2][name]), name
    conversion = json.loads(dubbed[2][f"{stages.VOICE_CONVERT}/spa/conversion.json"])
    assert len(conversion["segments"]) == len([w for w in wavs if w.startswith(stages.VOICE_CONVERT)])


def _ctx(threads: int, tmp_path: Path) -> ClipContext:
    cfg = DubConfig(langs=parse_langs("es"), threads=threads)
    return ClipContext(input_path=tmp_path / "x.mp4", info=None, cfg=cfg, workdir=None)  # type: ignore[arg-type]


def test_map_keeps_order_reports_progress_and_uses_the_threads(tmp_path):
    ctx = _ctx(3, tmp_path)
    seen, names = [], set()
    ctx.progress = lambda done, total: seen.append((done, total))
    barrier = threading.Barrier(3, timeout=10)  # only passes if three items really run at once

    def work(i: int) -> int:
        if i < 3:
            barrier.wait()
        names.add(threading.current_thread().name)
        return i * i

    assert ctx.map(work, range(8)) == [i * i for i in range(8)]
    assert seen == [(i, 8) for i in range(1, 9)]
    assert len(names) == 3


def test_map_raises_the_first_error_and_skips_what_had_not_started(tmp_path):
    ctx = _ctx(2, tmp_path)
    started = []

    def work(i: int) -> int:
        started.append(i)
        if i == 1:
            raise BadInputError("segment 1 is bad")
        threading.Event().wait(0.05)
        return i

    with pytest.raises(BadInputError, match="segment 1"):
        ctx.map(work, range(40))
    assert len(started) < 40


def test_threads_must_be_a_count():
    with pytest.raises(BadInputError, match="--threads"):
        DubConfig(langs=parse_langs("es"), threads=-1)


def test_default_threads_are_the_usable_cores_on_any_os(monkeypatch):
    cfg = DubConfig(langs=parse_langs("es"))
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert cfg.worker_threads == 3
    monkeypatch.delattr("os.sched_getaffinity", raising=False)  # macOS and Windows have no affinity call
    monkeypatch.setattr("os.cpu_count", lambda: 5)
    assert cfg.worker_threads == 5
    assert DubConfig(langs=parse_langs("es"), threads=2).worker_threads == 2
