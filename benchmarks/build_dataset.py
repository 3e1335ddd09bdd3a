"""Throughput of ``lssd build-dataset`` against a loop of ``lssd dub`` processes (issue 9).

Makes a small LVU-shaped dataset (generated clips with speech) and prints clips/hour and per-clip overhead
(wall time per clip minus the mean of the sum of stage seconds) for: a loop of ``lssd dub`` processes,
``build-dataset --workers 1``, ``--workers 2`` and ``--engine ray --workers 2``. Targets: workers 1 ≥ 1.3×
the loop; overhead ≤ 1 s; Ray within 10 % of the local pool.

    python benchmarks/build_dataset.py [--clips 8] [--min-s 20] [--max-s 40] [--dub-args "..."]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lssd.dataset import manifest
from lssd.samples import make_sample_clip

LINES = ("The boats come back before the evening storm.", "Nobody knows where the old keeper went.",
         "We should leave before the tide turns.", "The lights of the harbour are out tonight.")


def make_dataset(root: Path, clips: int, min_s: float, max_s: float) -> list[str]:
    videos = root / "videos"
    ids = [f"bench{i:06d}" for i in range(clips)]
    for i, vid in enumerate(ids):
        duration = min_s + (max_s - min_s) * i / max(1, clips - 1)
        lines = tuple((0.5 + t, LINES[(i + k) % len(LINES)]) for k, t in enumerate(range(0, int(duration) - 4, 6)))
        make_sample_clip(videos / f"{vid}.mp4", duration=duration, lines=lines, seed=i)
    for wav in videos.glob("*.wav"):
        wav.unlink()
    split = root / "lvu_1.0" / "genre"
    split.mkdir(parents=True)
    for name in ("train", "val", "test"):
        rows = [f"{i % 4} class{i % 4} {vid} tt{i:07d}" for i, vid in enumerate(ids) if name == "train" or i == 0]
        (split / f"{name}.csv").write_text("class_id class_name youtube_id imdb_id\n" + "\n".join(rows) + "\n")
    return ids


def lssd(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lssd.cli", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def stage_sum(sidecar_path: Path) -> float:
    stages = json.loads(sidecar_path.read_text())["stages"]
    return sum(float(r.get("seconds", 0.0)) for r in stages.values() if r)


def report(name: str, wall: float, clips: int, workers: int, stage_seconds: list[float]) -> dict:
    per_clip = wall * workers / clips
    row = {"run": name, "wall_s": round(wall, 1), "clips_per_hour": round(clips / wall * 3600, 1),
           "per_clip_s": round(per_clip, 2), "stage_sum_s": round(sum(stage_seconds) / clips, 2),
           "overhead_s": round(per_clip - sum(stage_seconds) / clips, 2)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--min-s", type=float, default=20.0)
    ap.add_argument("--max-s", type=float, default=40.0)
    ap.add_argument("--langs", default="es")
    ap.add_argument("--dub-args", default="--source-lang en", help="extra dub options for every run")
    ap.add_argument("--skip", default="", help="comma-separated runs to skip: loop,w1,w2,ray")
    args = ap.parse_args()
    dub_args = shlex.split(args.dub_args)
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        root = Path(tmp) / "lvu"
        ids = make_dataset(root, args.clips, args.min_s, args.max_s)
        print(f"{args.clips} clips of {args.min_s:g}-{args.max_s:g} s, langs {args.langs}, {' '.join(dub_args)}")
        results = []
        if "loop" not in skip:
            out = Path(tmp) / "loop"
            t0 = time.perf_counter()
            for vid in ids:
                lssd("dub", str(root / "videos" / f"{vid}.mp4"), "--langs", args.langs, "-o", str(out / f"{vid}.mkv"),
                     *dub_args)
            wall = time.perf_counter() - t0
            results.append(report("loop of lssd dub", wall, len(ids), 1,
                                  [stage_sum(out / f"{vid}.lssd.json") for vid in ids]))
        for name, workers, engine in (("w1", 1, "local"), ("w2", 2, "local"), ("ray", 2, "ray")):
            if name in skip:
                continue
            out = Path(tmp) / name
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lssd.cli", "build-dataset", str(root), "-o", str(out), "--langs",
                            args.langs, "--workers", str(workers), "--engine", engine, *dub_args],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            rows = manifest.read(out)
            assert all(r["status"] in manifest.FINISHED for r in rows), [r["reason"] for r in rows]
            results.append(report(f"build-dataset --engine {engine} --workers {workers}", wall, len(ids), workers,
                                  [sum(r["stage_seconds"].values()) for r in rows]))
        base = {r["run"]: r["clips_per_hour"] for r in results}
        if "loop of lssd dub" in base and "build-dataset --engine local --workers 1" in base:
            print(f"workers 1 / loop: {base['build-dataset --engine local --workers 1'] / base['loop of lssd dub']:.2f}x")
        if "build-dataset --engine local --workers 2" in base and "build-dataset --engine ray --workers 2" in base:
            print(f"ray / local (2 workers): {base['build-dataset --engine ray --workers 2'] / base['build-dataset --engine local --workers 2']:.2f}")


if __name__ == "__main__":
    main()
