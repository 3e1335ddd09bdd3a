"""One process or many (``torchrun``): process-group setup and a gather that keeps gradients.

Negatives must span the global batch, so every rank gathers all ranks' embeddings. The gather is an
autograd function whose backward is its exact adjoint: each rank's copy of the gathered tensor
receives gradients from that rank's loss, and the gradient of a rank's *own* embeddings is the sum of
those copies' slices over all ranks (an all-reduce, then this rank's slice). With every rank computing
the loss of its own instances (see :mod:`lssd.train.loss`), the embedding gradient on each rank is then
exactly the gradient of the global-batch loss.

The known pitfalls this avoids: returning only the local slice of the incoming gradient (drops the
other ranks' terms), or ``torch.distributed.nn.all_gather`` semantics that changed between releases
(and gloo has no reduce-scatter). One factor remains: DDP *averages* parameter gradients over ranks,
while the global loss is the *sum* of the ranks' losses, so the trainer backpropagates
``loss * world_size`` (:func:`World.backward_scale`).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from lssd.errors import BadInputError


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def backward_scale(self) -> float:
        """Undo DDP's averaging: the global loss is the sum, not the mean, of the ranks' losses."""
        return float(self.size)


def init_distributed(device: str | None = None) -> World:
    """Read torchrun's environment (``env://``); one plain process when it is absent.

    NCCL on GPUs (one per local rank), gloo on CPUs.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    dev = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if size == 1:
        return World(device=dev)
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            init_method="env://",
            timeout=datetime.timedelta(minutes=30),
        )
    return World(rank=dist.get_rank(), local_rank=local_rank, size=dist.get_world_size(), device=dev)


def sync_batch_norm(model: nn.Module, world: World) -> nn.Module:
    """``model`` with every batch norm synchronised over the ranks (``train.sync_bn``): statistics of
    the micro-batches of all GPUs instead of each GPU's own. The parameters stay the same objects and
    the state-dict keys the same names, so checkpoints are interchangeable with plain BN runs."""
    if not world.distributed:
        return model
    if world.device.type != "cuda":
        raise BadInputError("train.sync_bn needs GPUs: torch's SyncBatchNorm does not run on CPU processes")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 1 (the batch of a stacked (k, b, d) tensor); backward = exact adjoint."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.batch = x.shape[1]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.batch
        return grad[:, start : start + ctx.batch]


def gather_with_grad(x: Tensor) -> tuple[Tensor, int]:
    """Gather a (k, b, d) tensor to (k, world * b, d) and return where this rank's rows start.

    All ranks must hold the same b (the sampler drops ragged batches). Outside a process group this
    is the identity.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    sizes = [torch.zeros((), dtype=torch.long, device=x.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor(x.shape[1], device=x.device))
    if len({int(s) for s in sizes}) != 1:
        raise RuntimeError(f"ranks hold different batch sizes {[int(s) for s in sizes]}; use drop_last")
    return _GatherWithGrad.apply(x), dist.get_rank() * x.shape[1]


def all_reduce_sum(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Sum logged scalars over ranks (each rank holds its share of the global-batch loss)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, t.tolist()))
