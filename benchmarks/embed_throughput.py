"""Windows per second of ``lssd eval embed`` for a recipe's backbones (random weights), decode and forward apart.

    .venv/bin/python benchmarks/embed_throughput.py [--recipe b4] [--media FILE ...] [--device cuda]
                                                    [--batch-size 16] [--windows 48]

Tells how long an LVU run takes (~10,000 videos of 1-3 min: ~40 windows each at 3 s). Without
``--media`` the toy dataset is generated in a temporary folder (320x180: real videos decode slower).
The first batch (model warm-up, first container opens) is not timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from lssd.eval.backbones import untrained_backbones
from lssd.eval.embed import _forward, _Window, _WindowDataset
from lssd.eval.windows import probe_media, window_starts
from lssd.train.recipes import load_recipe
from lssd.train.toy import make_toy_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="b4")
    parser.add_argument("--media", nargs="*", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--windows", type=int, default=48)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        media = args.media or _toy(Path(tmp))
        backbones = untrained_backbones(load_recipe(args.recipe), device=args.device)
        windows = [_Window(p.stem, info, k, float(s)) for p in media for info in [probe_media(p)]
                   for k, s in enumerate(window_starts(info.duration, backbones.window))]
        windows = (windows * (1 + (args.windows + args.batch_size) // len(windows)))[:args.windows + args.batch_size]
        data = _WindowDataset(windows, backbones)
        batches = [list(range(i, i + args.batch_size)) for i in range(0, len(windows), args.batch_size)]
        decode = forward = 0.0
        for n, batch in enumerate(batches):
            t0 = time.perf_counter()
            items = [data[i] for i in batch]
            t1 = time.perf_counter()
            _forward(backbones, items)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if n:  # the first batch warms up
                decode, forward = decode + t1 - t0, forward + time.perf_counter() - t1
    timed = (len(batches) - 1) * args.batch_size
    print(f"{args.recipe} ({backbones.window:g} s windows) on {args.device}, batch {args.batch_size}, {timed} windows:")
    print(f"  decode  {timed / decode:8.1f} windows/s (one process; --workers multiplies it)")
    print(f"  forward {timed / forward:8.1f} windows/s")


def _toy(folder: Path) -> list[Path]:
    make_toy_dataset(folder, n_titles=2)
    return sorted(p for p in folder.glob("toy_*") if p.suffix in (".mkv", ".mp4"))


if __name__ == "__main__":
    main()
