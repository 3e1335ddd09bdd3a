"""Time of one optimisation step (forward, Eq. 2-3, backward, AdamW) on synthetic quadruplets.

    .venv/bin/python benchmarks/train_step.py [--recipes tiny] [--batch-size 8] [--steps 10] [--accum 1,2,4]
    .venv/bin/python benchmarks/train_step.py --recipes b3,c1,ctrl_en --batch-size 2 --steps 1 --warmup 0

``--accum K`` keeps the contrastive batch at ``--batch-size`` and computes it as K micro-batches
(``lssd train --accum-freq K``); the printed factor is its step time over the one-pass step's.

Data loading is left out (see benchmarks/loader_throughput.py): this is the model side alone, at the
recipe's input sizes. Warm-up steps (allocation, lazy initialisation) are not timed. Full-size
recipes need several GB of memory per sample on a CPU: keep the batch at 1-2 there.
"""

from __future__ import annotations

import argparse
import time

import torch

from lssd.train.accum import contrastive_backward
from lssd.train.build import build_loss, build_model, build_optimizer
from lssd.train.distributed import gather_with_grad
from lssd.train.recipes import Recipe, load_recipe


def synthetic_batch(recipe: Recipe, batch_size: int) -> dict[str, torch.Tensor]:
    d = recipe.data
    audio = (batch_size, d.audio.channels, d.audio.n_mels, d.audio.num_frames(d.window))
    batch = {"a_p": torch.randn(audio) * 10 - 40, "a_s": torch.randn(audio) * 10 - 40}
    if recipe.model.video is not None:
        video = (batch_size, 3, d.video.num_frames, d.video.crop, d.video.crop)
        batch |= {"v_p": torch.randn(video), "v_s": torch.randn(video)}
    return batch


def measure(recipe: Recipe, batch_size: int, steps: int, warmup: int, accum: int = 1) -> tuple[float, int]:
    """Seconds per step (mean over ``steps`` after ``warmup`` untimed ones) and the parameter count."""
    torch.manual_seed(0)
    model, loss_fn = build_model(recipe), build_loss(recipe)
    optimizer = build_optimizer(model, recipe)
    batch = synthetic_batch(recipe, batch_size)
    micro = [{k: v.chunk(accum)[i] for k, v in batch.items()} for i in range(accum)]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        contrastive_backward(model, loss_fn, micro, gather_with_grad)
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps, sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="tiny")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--accum", default="1,2,4", help="micro-batches per step to compare")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, contrastive batch {args.batch_size}, CPU fp32")
    for name in args.recipes.split(","):
        recipe = load_recipe(name)
        models = f"{recipe.model.video} + {recipe.model.audio}"
        base = None
        for k in (int(x) for x in args.accum.split(",")):
            if args.batch_size % k:
                continue
            seconds, params = measure(recipe, args.batch_size, args.steps, args.warmup, k)
            base = base or seconds
            print(f"  {name:8s} {models:32s} {params / 1e6:7.2f} M params  accum {k} "
                  f"(micro-batch {args.batch_size // k:3d})  {1000 * seconds:9.1f} ms/step  "
                  f"{args.batch_size / seconds:7.1f} quadruplets/s  x{seconds / base:.2f}")


if __name__ == "__main__":
    main()
