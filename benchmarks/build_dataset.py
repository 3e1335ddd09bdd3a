"""Throughput and per-clip overhead of ``lssd build-dataset`` (issues 9 and 20).

Makes a small LVU-shaped dataset (generated clips with speech) and prints, for each run (a loop of
``lssd dub`` processes, ``build-dataset --workers 1`` with and without QC, ``--workers 2``,
``--engine ray --workers 2``): wall and CPU seconds (the build's process tree, from getrusage: compare
CPU on a loaded machine), clips/hour, and per clip

* ``stage_sum_s``: the stages' own seconds (the dub's work),
* ``qc_s``: the cheap QC inside the worker (its own cost, stated apart),
* ``in_worker_overhead_s``: the worker's wall time on the clip minus stages and QC (claim, probe, sidecar,
  clean-up),
* ``overhead_s``: the build's wall × workers / clips minus stages and QC: everything else, worker
  start-up (imports, model loading, once per worker) and the builder's planning, probing and card included,
* ``cpu_per_clip_s`` / ``cpu_outside_clips_s``: the build's CPU seconds per clip (with Ray: the builder's
  plus what the build's summary line gives for the actors), and the part of them
  spent outside the workers' clips (start-up, model loading, planning, the card) — the overhead in CPU
  terms, which a loaded machine does not inflate; ``load_avg``: the machine's 1-minute load at the end.

Targets: overhead ≤ 1 s per clip without QC; workers 1 ≥ 1.3× the loop; Ray within 10 % of the pool.

    python benchmarks/build_dataset.py [--clips 12] [--min-s 8] [--max-s 16] [--skip loop,ray] [--dub-args "..."]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
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


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def lssd(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lssd.cli", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def stage_sum(sidecar_path: Path) -> float:
    stages = json.loads(sidecar_path.read_text())["stages"]
    return sum(float(r.get("seconds", 0.0)) for r in stages.values() if r)


def qc_seconds(row: dict) -> float:
    return float(json.loads(row["qc"]).get("seconds", 0.0)) if row.get("qc") else 0.0


def report(name: str, wall: float, cpu: float, clips: int, workers: int, stage_seconds: list[float],
           qc: list[float] | None = None, worker_wall: list[float] | None = None,
           worker_cpu: list[float] | None = None) -> dict:
    qc = qc or [0.0] * clips
    stages, qc_mean = sum(stage_seconds) / clips, sum(qc) / clips
    row = {"run": name, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "clips_per_hour": round(clips / wall * 3600, 1),
           "stage_sum_s": round(stages, 2), "qc_s": round(qc_mean, 2),
           "overhead_s": round(wall * workers / clips - stages - qc_mean, 2)}
    if worker_wall:
        row["in_worker_overhead_s"] = round(sum(worker_wall) / clips - stages - qc_mean, 2)
    if worker_cpu and all(c is not None for c in worker_cpu):
        row["cpu_per_clip_s"] = round(cpu / clips, 2)
        row["cpu_outside_clips_s"] = round((cpu - sum(worker_cpu)) / clips, 2)
    row["load_avg"] = round(os.getloadavg()[0], 1)
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--min-s", type=float, default=8.0)
    ap.add_argument("--max-s", type=float, default=16.0)
    ap.add_argument("--langs", default="es")
    ap.add_argument("--dub-args", default="--source-lang en", help="extra dub options for every run")
    ap.add_argument("--skip", default="", help="comma-separated runs to skip: loop,w1,w1qc,w2,ray")
    args = ap.parse_args()
    dub_args = shlex.split(args.dub_args)
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        root = Path(tmp) / "lvu"
        ids = make_dataset(root, args.clips, args.min_s, args.max_s)
        print(f"{args.clips} clips of {args.min_s:g}-{args.max_s:g} s, langs {args.langs}, {' '.join(dub_args)}")
        results = []
        print("the machine may be loaded (shared): compare cpu_s, and wall only between runs of one sitting")
        if "loop" not in skip:
            out = Path(tmp) / "loop"
            t0, c0 = time.perf_counter(), children_cpu()
            for vid in ids:
                lssd("dub", str(root / "videos" / f"{vid}.mp4"), "--langs", args.langs, "-o", str(out / f"{vid}.mkv"),
                     *dub_args)
            results.append(report("loop of lssd dub", time.perf_counter() - t0, children_cpu() - c0, len(ids), 1,
                                  [stage_sum(out / f"{vid}.lssd.json") for vid in ids]))
        runs = (("w1", 1, "local", ["--no-qc"]), ("w1qc", 1, "local", ["--qc"]), ("w2", 2, "local", ["--no-qc"]),
                ("ray", 2, "ray", ["--no-qc"]))
        for name, workers, engine, qc in runs:
            if name in skip:
                continue
            out = Path(tmp) / name
            t0, c0 = time.perf_counter(), children_cpu()
            log = subprocess.run([sys.executable, "-m", "lssd.cli", "build-dataset", str(root), "-o", str(out),
                                  "--langs", args.langs, "--workers", str(workers), "--engine", engine, *qc, *dub_args],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
            wall, cpu = time.perf_counter() - t0, children_cpu() - c0
            if engine == "ray":  # Ray's actors are not this process's children: their CPU is in the summary
                actors = re.search(r"\((\d+) s in all, Ray actors", log)
                cpu += float(actors[1]) if actors else float("nan")
            rows = manifest.read(out)
            assert all(r["status"] in manifest.FINISHED for r in rows), [r["reason"] for r in rows]
            results.append(report(f"build-dataset --engine {engine} --workers {workers} {qc[0]}", wall, cpu, len(ids),
                                  workers, [sum(r["stage_seconds"].values()) for r in rows],
                                  [qc_seconds(r) for r in rows], [r["wall_seconds"] for r in rows],
                                  [r.get("cpu_seconds") for r in rows]))
        base = {r["run"]: r["clips_per_hour"] for r in results}
        w1, w2, ray = (f"build-dataset --engine {e} --workers {n} --no-qc" for e, n in (("local", 1), ("local", 2), ("ray", 2)))
        if "loop of lssd dub" in base and w1 in base:
            print(f"workers 1 / loop: {base[w1] / base['loop of lssd dub']:.2f}x")
        if w2 in base and ray in base:
            print(f"ray / local (2 workers): {base[ray] / base[w2]:.2f}")


if __name__ == "__main__":
    main()
