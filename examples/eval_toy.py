"""Pretrain the tiny models on the toy dataset, embed it, and probe a label pictures and sound determine.

    .venv/bin/python examples/eval_toy.py [OUT_DIR] [--steps 40]

Trains (or reuses) OUT_DIR/run exactly as ``examples/train_toy.py`` does, then embeds every toy title
in the recipe's windows with the trained backbones and with the same backbones at their random
initialisation, and trains the linear probe of App. B.3.1 to tell which title a window comes from
(each title has its own hue, scenes and background tones). Windows are split by position (3 of every
5 train, 1 val, 1 test); the test accuracy at the val-best epoch is printed for both models. The same
from the command line: ``lssd eval embed OUT_DIR/run OUT_DIR/media -o OUT_DIR/embeddings/trained``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from train_toy import prepare  # examples/ is on sys.path when this file runs as a script

from lssd.eval.backbones import Backbones, load_backbones, untrained_backbones
from lssd.eval.embed import EmbeddingStore, embed_media
from lssd.eval.probes import Split, linear_probe
from lssd.train.index import find_media
from lssd.train.checkpoint import latest_checkpoint
from lssd.train.loop import train
from lssd.train.recipes import load_recipe


def window_splits(store: EmbeddingStore, key: str) -> tuple[Split, Split, Split]:
    """Every title's windows, labelled by title, split 3:1:1 by position."""
    parts: dict[str, tuple[list, list]] = {s: ([], []) for s in ("train", "val", "test")}
    for label, item in enumerate(store.ids()):
        for k, row in enumerate(store.read(item)[f"{key}_windows"]):
            split = ("train", "train", "train", "val", "test")[k % 5]
            parts[split][0].append(row)
            parts[split][1].append(label)
    return tuple(Split(np.stack(x), np.array(y)) for x, y in parts.values())  # type: ignore[return-value]


def accuracy(backbones: Backbones, media: dict[str, Path], store: Path) -> dict[str, float]:
    embed_media(backbones, media, store, progress=True)
    stored = EmbeddingStore(store)
    return {key: linear_probe(*window_splits(stored, key)).test for key in ("video", "audio")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("out/toy"))
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(2)

    index = prepare(args.out_dir)
    recipe = load_recipe("tiny", [f"optim.steps={args.steps}"])
    run = args.out_dir / "run"
    if latest_checkpoint(run) is None:
        train(recipe, index, run, progress=True)
    media = {p.name.split(".")[0]: p for p in find_media(args.out_dir / "media")}
    trained = accuracy(load_backbones(run, "cpu"), media, args.out_dir / "embeddings" / "trained")
    untrained = accuracy(untrained_backbones(recipe, seed=recipe.train.seed, device="cpu"), media,
                         args.out_dir / "embeddings" / "untrained")
    print(f"title from one {recipe.data.window:g} s window, linear probe test top-1 (%), {len(media)} titles:")
    for key in ("video", "audio"):
        print(f"  {key:5s}  trained {trained[key]:6.2f}   untrained {untrained[key]:6.2f}")


if __name__ == "__main__":
    main()
