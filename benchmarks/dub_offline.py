"""Per-stage seconds and real-time factor of the offline pipeline: a 60 s generated clip into 3 languages.

    .venv/bin/python benchmarks/dub_offline.py [--seconds 60] [--langs es,fr,ja] [--background]

Prints one line per stage (per-language stages summed over languages) and the total. The real-time
factor is stage seconds / clip seconds (below 1 = faster than real time).
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--langs", default="es,fr,ja")
    parser.add_argument("--background", action="store_true", help="give the known background (skips separation)")
    args = parser.parse_args()
    step = args.seconds / (2 * len(LINES))
    lines = [(0.5 + i * 2 * step, LINES[i % len(LINES)]) for i in range(int(args.seconds // (2 * step)))]
    timings: dict[str, float] = defaultdict(float)

    def report(event: str, label: str, info: dict) -> None:
        if event == "done":
            timings[label.split(" ")[0]] += info["seconds"]

    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        t0 = time.perf_counter()
        clip = make_sample_clip(Path(tmp) / "bench.mp4", duration=args.seconds, lines=lines)
        print(f"generated a {clip.duration:.0f} s clip with {len(lines)} sentences in {time.perf_counter() - t0:.1f} s")
        cfg = DubConfig(langs=parse_langs(args.langs), background=clip.background if args.background else None)
        t0 = time.perf_counter()
        result = Pipeline(cfg, report).run(clip.path)
        total = time.perf_counter() - t0
    print(f"{'stage':16s} {'seconds':>8s} {'RTF':>7s}   backend")
    for stage, seconds in timings.items():
        backend = next((v for k, v in result.backends.items() if k.split(":")[0] == stage), "")
        print(f"{stage:16s} {seconds:8.2f} {seconds / args.seconds:7.3f}   {backend}")
    print(f"{'total':16s} {total:8.2f} {total / args.seconds:7.3f}   ({len(cfg.langs)} languages, incl. probing and I/O)")


if __name__ == "__main__":
    main()
