"""What one GPU consumes when training, and the loader cores it needs to be fed (issue 23), ready for a
lent GPU node.

    python benchmarks/gpu_train.py                      # on a GPU node: b3 (MViT-S + audio MViT-S), batch 64
    python benchmarks/gpu_train.py --recipe tiny --batch-size 4 --steps 1   # on a CPU: a smoke run (≈2 min)

1. Shards of a 1080p toy dataset (benchmarks/loader_throughput.py's, the default shard settings) and the
   shard loader's CPU per quadruplet in one process with one thread (a DataLoader worker's cost), decoding
   the frames on the CPU (``decode="cpu"``) and leaving them to the device (``decode="device"``).
2. Decoding those batches' clips on the device (:func:`lssd.train.device_decode.decode_clips`: nvJPEG,
   then the scale-and-crop warp), ms per quadruplet after a synchronise.
3. One optimiser step of the recipe at ``--batch-size`` on random quadruplets already on the device (bf16
   autocast on a GPU, as ``lssd train`` runs; the paper trains 64 per GPU), ms per step and peak memory.

Printed and written to ``--json``: the quadruplets/s one GPU trains (batch / step time; with device
decoding the decode time is added to the step), and the loader cores that rate needs, each way:
rate x loader CPU ms per quadruplet / 1000. Model weights are random (the work is the same).

No GPU was lent to the session that wrote this; the CPU smoke run is what has been checked.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loader_throughput import decode_ms, measure, shard_batches, source_set, sync  # noqa: E402


def step_ms(recipe_name: str, batch_size: int, steps: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """(ms per optimiser step, peak device memory in GiB) of the recipe on random quadruplets."""
    import contextlib

    from lssd.train.accum import contrastive_backward
    from lssd.train.build import build_loss, build_model, build_optimizer
    from lssd.train.distributed import gather_with_grad
    from lssd.train.recipes import load_recipe
    from train_step import synthetic_batch

    recipe = load_recipe(recipe_name)
    torch.manual_seed(0)
    model, loss_fn = build_model(recipe).to(device), build_loss(recipe).to(device)
    optimizer = build_optimizer(model, recipe)
    batch = [{k: v.to(device) for k, v in synthetic_batch(recipe, batch_size).items()}]
    bf16 = device.type == "cuda" and recipe.train.precision == "bf16"

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        contrastive_backward(model, loss_fn, batch, gather_with_grad, autocast=autocast)
        optimizer.step()

    for _ in range(warmup):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return 1000 * (time.perf_counter() - start) / steps, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="b3")
    parser.add_argument("--batch-size", type=int, default=64, help="per GPU (the paper's 64)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--loader-batches", type=int, default=4, help="timed batches of 8 per loader")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (no GPU here: a smoke run)"
    print(f"device: {name}; torch {torch.__version__}", flush=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the loader is timed as one DataLoader worker
    out: dict[str, object] = {"device": name, "recipe": args.recipe, "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory(prefix="lssd-gpu-train-") as tmp:
        _, shards, _ = source_set("1080p", Path(tmp))
        for decode in ("cpu", "device"):
            batches = shard_batches(shards, 8, 0, decode)
            out[f"loader_cpu_ms_{decode}"] = measure(batches, args.loader_batches, 8)[0]
            if decode == "device":
                out["decode_ms"] = decode_ms(batches, args.loader_batches, 8, device)
            batches.close()
    torch.set_num_threads(threads)
    out["step_ms"], out["peak_gib"] = step_ms(args.recipe, args.batch_size, args.steps, args.warmup, device)
    for decode in ("cpu", "device"):
        gpu_ms = out["step_ms"] + (out["decode_ms"] * args.batch_size if decode == "device" else 0.0)
        rate = 1000 * args.batch_size / gpu_ms
        out[f"quadruplets_per_s_{decode}"] = rate
        out[f"loader_cores_{decode}"] = rate * out[f"loader_cpu_ms_{decode}"] / 1000
    print(f"  shard loader, decoding on the CPU: {out['loader_cpu_ms_cpu']:.1f} ms CPU per quadruplet; "
          f"leaving it to the device: {out['loader_cpu_ms_device']:.1f} ms, and {out['decode_ms']:.2f} ms of "
          f"device time per quadruplet to decode")
    print(f"  {args.recipe} step at batch {args.batch_size}: {out['step_ms']:.0f} ms, peak {out['peak_gib']:.1f} GiB")
    for decode in ("cpu", "device"):
        print(f"  decode={decode:6s}: one {name.split(' (')[0]} trains {out[f'quadruplets_per_s_{decode}']:.0f} "
              f"quadruplets/s and needs {out[f'loader_cores_{decode}']:.1f} loader cores")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
