"""Seconds of `lssd qc` per minute of dubbed audio: the cheap metrics and the model-based ones, per dub track.

    .venv/bin/python benchmarks/qc.py [--seconds 60]

A generated container (lssd.qc.synthetic: espeak-ng speech over a music bed, original + one good dub
track + sidecar) is measured twice: cheap metrics only (decode, VAD, timing, loudness, true peak,
background, leakage, F0), then the model-based ones only (Whisper base language ID on the loudest 30 s,
GE2E voice similarity; decoding and VAD are counted in both). Models are loaded once before timing (a
process loads each once); the first line shows what that load costs. CPU time is this process's (ffmpeg
decoding runs in a child and is not in it); on a shared machine the wall time is the noisy one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from lssd.qc import synthetic
from lssd.qc.report import check
from lssd.qc.thresholds import CHEAP, MODEL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lssd-bench-qc-") as tmp:
        dub = synthetic.build(Path(tmp) / "bench.mkv", cases=["good"], duration=args.seconds)
        t = time.perf_counter()
        from lssd import langid, speaker

        langid.detect(np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1, 16_000)
        speaker.encoder()
        print(f"model load (once per process)   {time.perf_counter() - t:6.2f} s")
        minutes = args.seconds / 60
        for label, costs in (("cheap", (CHEAP,)), ("model-based", (MODEL,))):
            t, cpu = time.perf_counter(), time.process_time()
            report = check(dub.path, costs=costs)
            took, cpu = time.perf_counter() - t, time.process_time() - cpu
            print(f"{label:<12} {took / minutes:6.2f} s wall, {cpu / minutes:6.2f} s CPU per minute of dubbed audio "
                  f"(one dub track, {args.seconds:.0f} s clip; verdict {report['status']})")


if __name__ == "__main__":
    main()
