"""CPU per quadruplet of the index loader and the shard loader, side by side on the same shots, from
1080p and 360p sources; the shard build's CPU per hour of video; a run's start-up on millions of shots.

    .venv/bin/python benchmarks/loader_throughput.py [--sources 1080p,360p] [--batch-size 8]
        [--batches 6] [--index-batches 3] [--startup-shots 5000000] [--startup-recipes b3,a2,b1]
        [--workers 0]

Paper settings (App. A): two 3 s windows per shot, 16 frames at 25 fps, short side 256-320, 224 crop,
48 kHz log-mel (n_fft 1024, hop 501, 96 mels) with masking. Sources are the toy dataset (ffmpeg lavfi
scenes, H.264 ultrafast with 2 s GOPs, 2-3 AAC language tracks per title) rendered at each size; shards
are built from its index with the default settings (25 fps JPEG frames, short side 320, 16-bit WAV).

CPU is this process's user + system time with the loader in-process (``--workers 0``: all of the
decoding is counted, with one intra-op thread as a DataLoader worker has), so "quadruplets/s per
core" is 1000 / (CPU ms per quadruplet) whatever else runs on the machine; with ``--workers N`` the
wall-clock rate is printed too (it is not CPU-bound alone on a shared machine). The first batch of
each loader (container opens, first tar) is not timed.

Three loaders: the index loader (PyAV from the containers), the shard loader decoding on the CPU, and
the shard loader with ``decode="device"`` (:mod:`lssd.train.device_decode`): its row is the loader
workers' share, and the line under it what decoding the frames costs where the trainer runs (wall ms
on a GPU when one is present, else CPU ms here).

The start-up part writes a synthetic index (:func:`lssd.train.toy.synthetic_index`) and measures, in a
fresh process per recipe, what ``lssd train`` does before its first step on the data side
(:func:`lssd.train.build.build_data`: read the index, the recipe's subset, the loader and the sampler,
the schedule; then the run's description and the first batches of sampler keys): wall and CPU
seconds, the peak RSS of that process and its RSS after the imports (torch alone is ~0.5 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {"1080p": (1920, 1080), "720p": (1280, 720), "360p": (640, 360), "180p": (320, 180)}


def peak_rss() -> int:
    """This process's peak resident set (bytes): VmHWM, which starts afresh at exec (``ru_maxrss``
    would carry over the parent's peak through fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(batches, count: int, batch_size: int) -> tuple[float, float]:
    """(CPU ms per quadruplet, wall quadruplets/s) over ``count`` batches after an untimed first one."""
    next(batches)
    wall, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(count):
        next(batches)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    n = count * batch_size
    return 1000 * cpu / n, n / wall


def index_batches(index: Path, batch_size: int, workers: int, steps: int):
    from lssd.train.augment import AudioConfig, VideoConfig
    from lssd.train.data import build_loader

    loader = build_loader(index, batch_size=batch_size, policy="random", num_workers=workers, seed=0,
                          video_cfg=VideoConfig(), audio_cfg=AudioConfig(), steps_per_epoch=steps)
    loader.set_epoch(0)
    yield from loader


def shard_batches(shards: Path, batch_size: int, workers: int, decode: str = "cpu"):
    """The shard loader's batches, epoch after epoch (a toy set holds a few batches per epoch)."""
    from lssd.train.augment import AudioConfig, VideoConfig
    from lssd.train.shards import read_samples
    from lssd.train.stream import build_stream_loader

    table, _ = read_samples(shards)
    loader = build_stream_loader(str(shards), table, batch_size=batch_size, policy="random",
                                 num_workers=workers, seed=0, video_cfg=VideoConfig(), audio_cfg=AudioConfig(),
                                 decode=decode)
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def source_set(name: str, root: Path) -> tuple[Path, Path, dict]:
    """Render the toy dataset at ``name``, index it, build its shards: (index, shards, shard stats)."""
    from lssd.train.index import build_index, write_index
    from lssd.train.shards import ShardSettings, build_shards
    from lssd.train.toy import make_toy_dataset

    media = root / name
    t = time.perf_counter()
    make_toy_dataset(media, n_titles=4, size=SIZES[name])
    index = write_index(build_index(media), root / f"{name}.parquet")
    print(f"  {name}: sources rendered and indexed in {time.perf_counter() - t:.0f} s", flush=True)
    stats = build_shards(index, root / f"{name}-shards", ShardSettings())
    return index, root / f"{name}-shards", stats


def loaders(args: argparse.Namespace) -> None:
    import torch

    if args.workers == 0:
        torch.set_num_threads(1)  # as in a DataLoader worker: the loader in-process is timed as one
    print(f"loaders: batch {args.batch_size}, paper settings, {args.workers} loader workers "
          f"(0: in-process, all CPU counted); machine load {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        for name in args.sources.split(","):
            index, shards, stats = source_set(name, Path(tmp))
            hours = stats["hours"]
            print(f"  {name}: {stats['shots']} shots, {hours * 3600:.0f} s of shots; shard build "
                  f"{stats['build_cpu_seconds']:.1f} CPU s = {stats['build_cpu_seconds_per_hour'] / 3600:.2f} "
                  f"CPU h per hour of video, {stats['bytes'] / hours / 1e9:.1f} GB per hour", flush=True)
            steps = args.index_batches + 1
            for kind, batches, count in (
                    ("index", index_batches(index, args.batch_size, args.workers, steps), args.index_batches),
                    ("shards", shard_batches(shards, args.batch_size, args.workers), args.batches),
                    ("device", shard_batches(shards, args.batch_size, args.workers, "device"), args.batches)):
                cpu_ms, rate = measure(batches, count, args.batch_size)
                rows.append((name, kind, cpu_ms, rate, count * args.batch_size))
                print(f"    {kind:6s} loader: {cpu_ms:7.1f} ms CPU per quadruplet, {1000 / cpu_ms:6.1f} "
                      f"quadruplets/s per core ({count * args.batch_size} timed)"
                      + (f", {rate:.1f}/s wall with {args.workers} workers" if args.workers else ""), flush=True)
                if kind == "device":
                    print("           " + device_decode_line(batches, args.batches, args.batch_size), flush=True)
                batches.close()
    print("\n  source  loader  CPU ms/quadruplet  quadruplets/s per core  "
          "(device: the loader's share; the frames are decoded on the trainer's device)")
    for name, kind, cpu_ms, _, _ in rows:
        print(f"  {name:6s}  {kind:6s}  {cpu_ms:17.1f}  {1000 / cpu_ms:22.1f}")


def decode_ms(batches, count: int, batch_size: int, device) -> float:
    """What ``decode_clips`` costs where the trainer runs, per quadruplet (both clips) over ``count``
    loader batches after an untimed one: wall ms on a GPU (after a synchronise), CPU ms on a CPU."""
    from lssd.train.device_decode import decode_clips

    work = [next(batches) for _ in range(count + 1)]
    decode_clips(work[0]["v_p"], device)  # first call: decoder handles, kernels
    sync(device)
    wall, cpu = time.perf_counter(), cpu_seconds()
    for b in work[1:]:
        decode_clips(b["v_p"], device), decode_clips(b["v_s"], device)
    sync(device)
    spent = time.perf_counter() - wall if device.type == "cuda" else cpu_seconds() - cpu
    return 1000 * spent / (count * batch_size)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def device_decode_line(batches, count: int, batch_size: int) -> str:
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ms = decode_ms(batches, count, batch_size, device)
    if device.type == "cuda":
        return f"decoding on {torch.cuda.get_device_name()}: {ms:.2f} ms wall per quadruplet ({1000 / ms:.0f} quadruplets/s)"
    return f"decoding on this CPU (no GPU here): {ms:.1f} ms CPU per quadruplet, in the training process"


# ------------------------------------------------------------------------------------------ start-up

def startup_child(index: str, recipe_name: str) -> None:
    """One fresh process: import, then the data side of a run's start-up; prints one JSON line."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    from lssd.train.build import build_data
    from lssd.train.distributed import World
    from lssd.train.recipes import load_recipe
    from lssd.train.sampler import track_kind_counts

    imported = peak_rss()
    wall_0, cpu_0 = time.perf_counter(), cpu_seconds()
    recipe = load_recipe(recipe_name)
    shots, loader, schedule = build_data(recipe, Path(index), World())
    track_kind_counts(shots), shots["title_id"].nunique()  # what the run's description counts
    loader.set_epoch(0)
    keys = iter(loader.batch_sampler)
    for _ in range(10):
        next(keys)
    print(json.dumps({"recipe": recipe_name, "shots": len(shots), "steps": schedule.total,
                      "wall": time.perf_counter() - wall_0, "cpu": cpu_seconds() - cpu_0,
                      "wall_with_imports": time.perf_counter() - wall, "cpu_with_imports": cpu_seconds() - cpu,
                      "rss_imports": imported, "rss_peak": peak_rss()}))


def write_synthetic(n_shots: int, path: str) -> None:
    from lssd.train.index import write_index
    from lssd.train.toy import synthetic_index

    write_index(synthetic_index(n_shots), Path(path))


def startup(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        index = Path(tmp) / "synthetic.parquet"
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--write-synthetic", str(args.startup_shots), str(index)],
                       check=True)
        print(f"start-up on a synthetic index of {args.startup_shots:,} shots ({index.stat().st_size / 1e6:.0f} MB "
              f"parquet, written in {time.perf_counter() - t:.0f} s); machine load {os.getloadavg()[0]:.1f}")
        for name in args.startup_recipes.split(","):
            out = subprocess.run([sys.executable, __file__, "--startup-child", str(index), name], check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"  {name:6s} {r['shots']:>9,} shots, {r['steps']:>8,} steps: data start-up {r['wall']:5.1f} s wall "
                  f"{r['cpu']:5.1f} s CPU ({r['wall_with_imports']:.1f} s / {r['cpu_with_imports']:.1f} s with imports); "
                  f"peak RSS {r['rss_peak'] / 2**30:.2f} GiB ({r['rss_imports'] / 2**30:.2f} GiB after imports, "
                  f"{(r['rss_peak'] - r['rss_imports']) / 2**30:.2f} GiB for the data)", flush=True)


def main() -> None:
    if sys.argv[1:2] == ["--startup-child"]:
        return startup_child(*sys.argv[2:4])
    if sys.argv[1:2] == ["--write-synthetic"]:
        return write_synthetic(int(sys.argv[2]), sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default="1080p,360p", help=f"comma-separated: {', '.join(SIZES)}")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=6, help="timed batches of the shard loader")
    parser.add_argument("--index-batches", type=int, default=3, help="timed batches of the index loader")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--startup-shots", type=int, default=5_000_000, help="0: skip the start-up part")
    parser.add_argument("--startup-recipes", default="b3,a2,b1")
    args = parser.parse_args()
    if args.sources:
        loaders(args)
    if args.startup_shots:
        startup(args)


if __name__ == "__main__":
    main()
