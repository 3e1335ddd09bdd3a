"""Time of one optimisation step (forward, Eq. 2-3, backward, AdamW) on synthetic quadruplets.

    .venv/bin/python benchmarks/train_step.py [--recipes tiny] [--batch-size 8] [--steps 10] [--accum 1,2,4]
    .venv/bin/python benchmarks/train_step.py --recipes b3,c1,ctrl_en --batch-size 2 --steps 1 --warmup 0
    .venv/bin/python benchmarks/train_step.py --data-workers 2 [--recipes tiny] [--steps 10]

``--accum K`` keeps the contrastive batch at ``--batch-size`` and computes it as K micro-batches
(``lssd train --accum-freq K``); the printed factor is its step time over the one-pass step's.

Data loading is left out (see benchmarks/loader_throughput.py): this is the model side alone, at the
recipe's input sizes. Warm-up steps (allocation, lazy initialisation) are not timed. Full-size
recipes need several GB of memory per sample on a CPU: keep the batch at 1-2 there.

``--data-workers N`` measures the other side instead: real training runs (``lssd.train.loop.train``)
on the toy dataset through the index loader and through the shard loader with N loader workers, and
prints the share of each step spent waiting for data (the loop's ``throughput/data_wait_fraction``)
over ``--steps`` steps after as many untimed ones (worker start-up). On a CPU the loader workers
share the cores with the model's threads, so the share is an upper bound of a GPU run's.
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


def build_data_steps(recipe: Recipe, index, shards) -> int:
    from lssd.train.build import build_data
    from lssd.train.distributed import World

    return build_data(recipe, shards or index, World(), shards=shards is not None)[1].steps_per_epoch


def data_share(recipe_name: str, workers: int, steps: int, batch_size: int) -> None:
    """Step time and data-wait share of real runs from the index and from shards (N loader workers)."""
    import tempfile
    from pathlib import Path

    from lssd.train.index import build_index, write_index
    from lssd.train.loop import train
    from lssd.train.shards import ShardSettings, build_shards
    from lssd.train.toy import make_toy_dataset

    overrides = [f"data.num_workers={workers}", f"data.batch_size={batch_size}", f"optim.steps={2 * steps}",
                 "optim.warmup_steps=1", f"train.log_every={steps}", f"train.ckpt_every={10 * steps}"]
    recipe = load_recipe(recipe_name, overrides)
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        root = Path(tmp)
        # both intervals inside the first epoch: a new epoch restarts the shard loader's workers
        # (negligible at scale, not on a toy set), which the loop's meter would count as step time
        make_toy_dataset(root / "media", n_titles=max(4, -(-2 * steps * batch_size // 3) + 2))
        index = write_index(build_index(root / "media"), root / "shots.parquet")
        short = max(recipe.data.video.short_side) if recipe.model.video else 320
        build_shards(index, root / "shards", ShardSettings(short_side=short,
                                                           sample_rate=recipe.data.audio.sample_rate))
        print(f"data share: recipe {recipe_name}, batch {batch_size}, {workers} loader workers, {steps} timed "
              f"steps after {steps} untimed, torch {torch.get_num_threads()} threads")
        for name, source, shards in (("index", index, None), ("shards", None, root / "shards")):
            history = train(recipe, source, root / f"run-{name}", shards=shards, progress=False, device="cpu")
            last = history[-1]  # the second logging interval: workers started, steady state
            if len(history) < 2 or build_data_steps(recipe, source, shards) < 2 * steps:
                print(f"  {name}: fewer than {2 * steps} steps in an epoch; the figures include a restart")
            step_ms = 1000 * batch_size / last["throughput/samples_per_s"]
            print(f"  {name:6s} loader: {step_ms:7.1f} ms per step, waiting for data "
                  f"{100 * last['throughput/data_wait_fraction']:5.1f}% of it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="tiny")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--accum", default="1,2,4", help="micro-batches per step to compare")
    parser.add_argument("--data-workers", type=int, default=None,
                        help="measure the data-wait share of real runs with this many loader workers instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.data_workers is not None:
        for name in args.recipes.split(","):
            data_share(name, args.data_workers, args.steps, args.batch_size)
        return
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
