"""Per-stage seconds and real-time factor of the offline pipeline: a 60 s generated clip into 3 languages.

    .venv/bin/python benchmarks/dub_offline.py [--seconds 60] [--langs es,fr,ja] [--background]
                                               [--profile N] [--diarizer auto|ge2e|none]

Prints one line per stage (per-language stages summed over languages) and the total: wall seconds and
CPU seconds (user + system of this process and its children, e.g. ffmpeg and espeak-ng). On a busy
machine wall seconds include waiting for a core; CPU seconds are the work done. The real-time factor is
wall seconds / clip seconds (below 1 = faster than real time). ``--profile N`` adds each stage's N most
expensive functions (cProfile, cumulative seconds; work in worker threads or processes is not seen).
``--diarizer none`` is the dub without diarization (one speaker): run it and the default one after the
other to see what speakers cost; the diarize line adds its CPU seconds per minute of audio and its share
of the total CPU seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from lssd.config import DubConfig
from lssd.dub.pipeline import Pipeline
from lssd.languages import parse_langs
from lssd.samples import make_sample_clip

LINES = (
    "The harbour wakes up early, long before the first ferry leaves for the islands.",
    "Fishermen count their nets and argue about the weather in loud and cheerful voices.",
    "A child runs along the pier with a paper boat that keeps falling into the water.",
    "Nobody knows where the old lighthouse keeper went last winter, or why he left.",
    "By noon the market is full of tourists, gulls and the smell of grilled sardines.",
    "In the evening the storm arrives, and the whole town listens to the rain.",
)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--langs", default="es,fr,ja")
    parser.add_argument("--background", action="store_true", help="give the known background (skips separation)")
    parser.add_argument("--diarizer", default="auto", help="diarize backend (none = one speaker, no diarization)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print each stage's N costliest functions")
    args = parser.parse_args()
    step = args.seconds / (2 * len(LINES))
    lines = [(0.5 + i * 2 * step, LINES[i % len(LINES)]) for i in range(int(args.seconds // (2 * step)))]
    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    started: dict[str, float] = {}
    profiles: dict[str, cProfile.Profile] = {}

    def report(event: str, label: str, info: dict) -> None:
        stage = label.split(" ")[0]
        if event == "start":
            started[label] = cpu_seconds()
            if args.profile:
                profiles.setdefault(stage, cProfile.Profile()).enable()
        elif event == "done":
            if args.profile:
                profiles[stage].disable()
            wall[stage] += info["seconds"]
            cpu[stage] += cpu_seconds() - started.pop(label)

    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        t0 = time.perf_counter()
        clip = make_sample_clip(Path(tmp) / "bench.mp4", duration=args.seconds, lines=lines)
        print(f"generated a {clip.duration:.0f} s clip with {len(lines)} sentences in {time.perf_counter() - t0:.1f} s")
        cfg = DubConfig(langs=parse_langs(args.langs), background=clip.background if args.background else None,
                        diarizer=args.diarizer)
        t0, c0 = time.perf_counter(), cpu_seconds()
        result = Pipeline(cfg, report).run(clip.path)
        total, total_cpu = time.perf_counter() - t0, cpu_seconds() - c0
    for stage, profile in profiles.items():
        print(f"\n--- {stage}: top {args.profile} by cumulative seconds (cProfile)")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
    print(f"{'stage':16s} {'wall s':>8s} {'cpu s':>8s} {'RTF':>7s}   backend")
    for stage, seconds in wall.items():
        backend = next((v for k, v in result.backends.items() if k.split(":")[0] == stage), "")
        print(f"{stage:16s} {seconds:8.2f} {cpu[stage]:8.2f} {seconds / args.seconds:7.3f}   {backend}")
        if stage == "diarize":
            share = f"{cpu[stage] / (total_cpu or 1):.1%}"
            print(f"{'':16s} {'':8s} {'':8s} {'':7s}   {cpu[stage] / (args.seconds / 60):.2f} cpu s per minute of audio, "
                  f"{share} of the total cpu s")
    print(f"{'total':16s} {total:8.2f} {total_cpu:8.2f} {total / args.seconds:7.3f}   "
          f"({len(cfg.langs)} languages, incl. probing and I/O)")


if __name__ == "__main__":
    main()
