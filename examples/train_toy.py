"""Pretrain the tiny models on the toy dataset, end to end, on a CPU in about a minute.

    .venv/bin/python examples/train_toy.py [OUT_DIR] [--steps 40] [--set key=value ...]

Generates the toy multi-track titles (lssd.train.toy) in OUT_DIR/media unless they are there,
indexes their shots into OUT_DIR/shots.parquet, then runs the ``tiny`` recipe into OUT_DIR/run
(checkpoints, TensorBoard scalars: ``tensorboard --logdir OUT_DIR/run/tb``). Run it again with
``--resume`` to continue from the last checkpoint. The same thing from the command line:

    lssd index OUT_DIR/media -o OUT_DIR/shots.parquet
    lssd train --recipe tiny --index OUT_DIR/shots.parquet -o OUT_DIR/run
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from lssd.train.index import build_index, write_index
from lssd.train.loop import train
from lssd.train.recipes import load_recipe
from lssd.train.toy import MANIFEST, make_toy_dataset


def prepare(out_dir: Path) -> Path:
    media, index = out_dir / "media", out_dir / "shots.parquet"
    if not (media / MANIFEST).is_file():
        make_toy_dataset(media, n_titles=4)
    if not index.is_file():
        write_index(build_index(media), index)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("out/toy"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)

    index = prepare(args.out_dir)
    recipe = load_recipe("tiny", [f"optim.steps={args.steps}", *args.overrides])
    losses: list[float] = []
    start = time.perf_counter()
    train(recipe, index, args.out_dir / "run", resume=args.resume, progress=True,
          on_step=lambda step, terms: losses.append(terms.total.item()))
    seconds = time.perf_counter() - start
    if losses:
        print(f"{len(losses)} steps in {seconds:.1f} s ({seconds / len(losses):.2f} s/step incl. decoding)")
        print("loss per step:", " ".join(f"{x:.2f}" for x in losses))
    print(f"checkpoints in {args.out_dir / 'run' / 'checkpoints'}")


if __name__ == "__main__":
    main()
