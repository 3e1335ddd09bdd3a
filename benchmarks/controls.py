"""The controls on a real recording: what each costs (CPU seconds per minute of audio) and how well each
track is understood (intelligibility CER), beside the dubs.

    .venv/bin/python benchmarks/controls.py [--audio ../shared/media/jfk.flac] [--langs es,fr]

The clip is dubbed twice into one work directory: first the dubs alone, then with every control, which
reuses the dubs' stages, so the second run's stages are exactly what the controls cost (its remux, which
muxes every track again, is reported apart). CPU = this process's threads plus its child processes
(espeak-ng, Rubber Band, ffmpeg), from getrusage.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from collections import defaultdict
from pathlib import Path

from lssd import sidecar
from lssd.config import DubConfig
from lssd.dub.pipeline import Pipeline
from lssd.languages import parse_langs
from lssd.qc.report import check
from lssd.samples import make_clip_from_audio

CONTROLS = tuple(sidecar.CONTROLS)


def cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class StageClock:
    """CPU seconds per stage label, from the pipeline's start/done events."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = defaultdict(float)

    def __call__(self, event: str, label: str, info: dict) -> None:
        if event == "start":
            self.started[label] = cpu()
        elif event == "done" and label in self.started:
            self.seconds[label] += cpu() - self.started.pop(label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=str(Path(__file__).resolve().parents[1].parent / "shared/media/jfk.flac"))
    parser.add_argument("--langs", default="es,fr")
    args = parser.parse_args()
    langs = parse_langs(args.langs)
    with tempfile.TemporaryDirectory(prefix="lssd-controls-") as tmp:
        clip = make_clip_from_audio(Path(args.audio), Path(tmp) / "clip.mp4")
        work, out = Path(tmp) / "work", Path(tmp) / "out" / "clip.dub.mkv"
        plain = StageClock()
        Pipeline(DubConfig(langs=tuple(langs)), plain).run(clip, out, workdir=work)
        with_controls = StageClock()
        result = Pipeline(DubConfig(langs=tuple(langs), controls=CONTROLS), with_controls).run(clip, out, workdir=work)
        meta = sidecar.read(result.output)
        minutes = meta["duration"] / 60
        print(f"{Path(args.audio).name}: {meta['duration']:.1f} s, source {meta['source_language']}, dubs {args.langs}")
        print("\nCPU seconds per minute of audio (loaded shared machine: compare, do not quote as speed)")
        dub_cost = sum(s for label, s in plain.seconds.items() if label != "remux")
        print(f"{'every dub stage (separate, transcribe, per-language stages)':60s} {dub_cost / minutes:8.1f}")
        for control in CONTROLS[:-1]:
            own = {k: v for k, v in with_controls.seconds.items() if f"({control})" in k}
            detail = ", ".join(f"{k.split(' ')[0]} {v / minutes:.1f}" for k, v in own.items())
            print(f"{'control ' + control:60s} {sum(own.values()) / minutes:8.1f}   ({detail})")
        print(f"{'control background (no stage: a track of the separation)':60s} {0.0:8.1f}")
        extra = with_controls.seconds.get("remux", 0.0) - plain.seconds.get("remux", 0.0)
        print(f"{'remux, extra for the control tracks':60s} {extra / minutes:8.1f}")
        report = check(result.output)
        print("\nintelligibility: Whisper base CER in the track's spoken language vs the text lssd synthesized")
        for track in report["tracks"]:
            m = track["metrics"].get("intelligibility", {})
            value = "n/a" if m.get("value") is None else f"{m['value']:.3f}"
            print(f"{track['title']:52s} {value:>6s} {m.get('status', ''):5s} heard: {m.get('heard') or ''}")
        print(f"\nCPU total {cpu():.1f} s")


if __name__ == "__main__":
    main()
