"""Quadruplets per second of the training loader at the paper's settings, for 0, 1 and 2 workers.

    .venv/bin/python benchmarks/loader_throughput.py [--index shots.parquet] [--batch-size 8]
                                                     [--batches 12] [--workers 0,1,2]

Paper settings (App. A): two 3 s windows per shot, 16 frames at 25 fps, short side 256-320, 224 crop,
48 kHz log-mel (n_fft 1024, hop 501, 96 mels) with masking. Without ``--index`` the toy dataset is
generated in a temporary folder (320x180 video: real 1080p titles decode and scale slower).
The first batch of each run (worker start-up, first container opens) is not timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lssd.train.augment import AudioConfig, VideoConfig
from lssd.train.data import build_loader
from lssd.train.index import build_index, write_index
from lssd.train.toy import make_toy_dataset


def measure(index: Path, workers: int, batch_size: int, batches: int, policy: str
            ) -> tuple[float, float]:
    """Quadruplets per second over ``batches`` timed batches, and this process's CPU ms per
    quadruplet (all of the work when ``workers`` is 0; a shared machine slows wall time, not this)."""
    loader = build_loader(index, batch_size=batch_size, policy=policy, num_workers=workers, seed=0,
                          video_cfg=VideoConfig(), audio_cfg=AudioConfig(),
                          steps_per_epoch=batches + 1)
    loader.set_epoch(0)
    it = iter(loader)
    next(it)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(it)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    del it
    count = batches * batch_size
    return count / elapsed, 1000 * cpu / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="a shot index (default: a generated toy dataset)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--policy", default="random")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        index = args.index
        if index is None:
            make_toy_dataset(Path(tmp) / "media")
            index = write_index(build_index(Path(tmp) / "media"), Path(tmp) / "shots.parquet")
        print(f"index {index}, batch {args.batch_size}, {args.batches} timed batches, paper settings")
        for workers in (int(w) for w in args.workers.split(",")):
            rate, cpu_ms = measure(index, workers, args.batch_size, args.batches, args.policy)
            per_worker = rate / max(1, workers)
            print(f"  workers={workers}: {rate:6.1f} quadruplets/s ({per_worker:5.1f} per worker), "
                  f"main-process CPU {cpu_ms:6.1f} ms per quadruplet")


if __name__ == "__main__":
    main()
