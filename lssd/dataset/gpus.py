"""GPU-shaped workers: several workers share one GPU, so the GPU computes for one while the others are in
their CPU stages (align, WORLD, loudness, remux, decoding, QC are half a clip's time or more).

``--workers-per-gpu N`` gives ``N × GPUs`` local workers, worker ``i`` pinned to GPU ``i mod GPUs``
(``CUDA_VISIBLE_DEVICES``), or Ray actors asking for ``1/N`` of a GPU each; the machine's cores are shared
out among all workers either way. Before any worker starts, :func:`check_fit` refuses, in one sentence, a
number of workers whose loaded models cannot fit one GPU's memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lssd.errors import BadInputError

CUDA_CONTEXT_BYTES = 600 * 2**20  # what each process's CUDA context and allocator reserve besides the weights
WORKING_FACTOR = 1.3  # activations and caches on top of the weights while a model runs (batch of segments)


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def gpu_memory(index: int) -> int:
    """Total memory of GPU ``index`` in bytes."""
    import torch

    return int(torch.cuda.get_device_properties(index).total_memory)


def uses_gpus(device: str) -> bool:
    """Whether a build on ``--device`` puts its models on GPUs (auto: when there are any)."""
    return device != "cpu" and gpu_count() > 0


def default_workers(device: str, workers_per_gpu: int, cores: int) -> int:
    """``workers_per_gpu`` per GPU when the build uses GPUs, else one per core."""
    return gpu_count() * workers_per_gpu if uses_gpus(device) else cores


def pinned_env(device: str, index: int) -> dict[str, str]:
    """Pin local worker ``index`` to one GPU, round-robin, when the build uses GPUs."""
    n = gpu_count() if device != "cpu" else 0
    if not n:
        return {}
    # the parent's own CUDA_VISIBLE_DEVICES ("2,3") names the GPUs torch counted: pin within those,
    # never to physical GPUs 0..n-1 that the user kept the build off
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    ids = visible[:n] if len(visible) >= n else [str(i) for i in range(n)]
    return {"CUDA_VISIBLE_DEVICES": ids[index % n]}


def ray_gpus(use_gpus: bool, workers_per_gpu: int, cluster_gpus: float) -> float:
    """The ``num_gpus`` each Ray actor asks for: a ``1/N`` share of one GPU, or none on a CPU cluster."""
    return 1.0 / workers_per_gpu if use_gpus and cluster_gpus >= 1 else 0.0


@dataclass
class ModelUse:
    name: str
    bytes: int


def models_in_use(cfg) -> list[ModelUse]:
    """The catalog models the build's backends will load in each worker (those the store holds), with
    the bytes each weighs on a GPU."""
    from lssd import stages
    from lssd.backends import registry
    from lssd.store import get_store

    store = get_store()
    found: dict[str, ModelUse] = {}
    for stage, option in stages.BACKEND_OPTIONS.items():
        per_language = stages.get(stage).per_language
        for lang in (cfg.langs if per_language else [None]) or [None]:
            try:
                backend = registry.select(stage, getattr(cfg, option), cfg, lang).backend
            except Exception:  # a stage that cannot be served is reported by the build's own checks
                continue
            name = backend.model_name(cfg)
            if not name or name in found:
                continue
            try:
                entry = store.entry(name)
            except Exception:
                continue
            size = int(entry.size or 0)
            # SeamlessM4T runs in fp16 on a GPU (lssd.backends.seamless): half its fp32 files' size
            found[name] = ModelUse(name, size // 2 if name.startswith("seamless") else size)
    return list(found.values())


def check_fit(cfg, workers_per_gpu: int) -> str | None:
    """Refuse (one sentence) when ``workers_per_gpu`` workers' models cannot fit the smallest GPU; the
    estimate, for the build's log, when they fit; None without GPUs."""
    if workers_per_gpu < 1:
        raise BadInputError(f"--workers-per-gpu must be at least 1, got {workers_per_gpu}")
    if not uses_gpus(cfg.device):
        return None
    models = models_in_use(cfg)
    per_worker = int(sum(m.bytes for m in models) * WORKING_FACTOR) + CUDA_CONTEXT_BYTES
    index = min(range(gpu_count()), key=gpu_memory)
    total = gpu_memory(index)
    need = per_worker * workers_per_gpu
    names = ", ".join(m.name for m in models) or "no catalog models"
    if need > total:
        fits = max(total // per_worker, 0)
        raise BadInputError(
            f"--workers-per-gpu {workers_per_gpu}: each worker holds ≈{per_worker / 2**30:.1f} GiB on its GPU "
            f"({names}), {need / 2**30:.1f} GiB in all, more than GPU {index}'s {total / 2**30:.1f} GiB; "
            + (f"use --workers-per-gpu {fits} or fewer" if fits else "no worker fits: use --device cpu"))
    return (f"{workers_per_gpu} worker(s) per GPU, ≈{per_worker / 2**30:.1f} GiB each ({names}) of "
            f"{total / 2**30:.1f} GiB")
