"""Two gloo processes must reproduce the single-process loss and gradients of the same global batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from lssd.train.distributed import World, all_reduce_sum, gather_with_grad
from lssd.train.loss import DubContrastiveLoss
from lssd.train.models import AudioVisualModel

WORLD = 2
GLOBAL_B = 8
LAMBDAS = (0.2, 0.3)  # within-modal terms on, so every gathered pair is exercised


class Flat(nn.Module):
    """A linear 'backbone': enough to check that DDP turns embedding gradients into the right weights'."""

    def __init__(self, dim_in: int, dim: int = 12) -> None:
        super().__init__()
        self.dim = dim
        self.proj = nn.Linear(dim_in, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.proj(x.flatten(1)))


def make_model() -> AudioVisualModel:
    torch.manual_seed(0)
    model = AudioVisualModel(Flat(3 * 2 * 4 * 4), Flat(2 * 4 * 6), embed_dim=8, separate_audio_heads=True)
    return model.double()


def make_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    video, audio = (GLOBAL_B, 3, 2, 4, 4), (GLOBAL_B, 2, 4, 6)
    return {
        "v_p": torch.randn(video, generator=g, dtype=torch.float64),
        "v_s": torch.randn(video, generator=g, dtype=torch.float64),
        "a_p": torch.randn(audio, generator=g, dtype=torch.float64),
        "a_s": torch.randn(audio, generator=g, dtype=torch.float64),
    }


def make_embeddings() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return {
        k: nn.functional.normalize(torch.randn(GLOBAL_B, 16, generator=g, dtype=torch.float64), dim=1)
        for k in ("z_vp", "z_vs", "z_ap", "z_as")
    }


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    world = World(rank=rank, size=WORLD)
    loss_fn = DubContrastiveLoss(0.07, *LAMBDAS)
    local = slice(rank * GLOBAL_B // WORLD, (rank + 1) * GLOBAL_B // WORLD)

    # Embedding level: this rank's rows of the global embeddings, leaves with gradients.
    z = {k: v[local].clone().requires_grad_(True) for k, v in make_embeddings().items()}
    terms = loss_fn(z, gather=gather_with_grad)
    terms.total.backward()
    shares = {n: getattr(terms, n).item() for n in ("total", "cross", "video", "audio")}
    summed = all_reduce_sum(shares, world.device)

    # Model level: DDP over a small model, local half of the batch, the trainer's backward scaling.
    model = nn.parallel.DistributedDataParallel(make_model())
    batch = {k: v[local] for k, v in make_batch().items()}
    (loss_fn(model(batch), gather=gather_with_grad).total * world.backward_scale).backward()
    grads = {n: p.grad.clone() for n, p in model.module.named_parameters()}

    result = {"loss": summed, "z_grad": {k: v.grad for k, v in z.items()}, "param_grad": grads}
    torch.save(result, Path(out_dir, f"{rank}.pt"))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"{r}.pt", weights_only=True) for r in range(WORLD)]


def test_distributed_loss_equals_single_process(ranks: list[dict]) -> None:
    single = DubContrastiveLoss(0.07, *LAMBDAS)(make_embeddings())
    for r in ranks:
        for name, value in r["loss"].items():
            assert value == pytest.approx(getattr(single, name).item(), rel=1e-12), name


def test_embedding_gradients_equal_single_process(ranks: list[dict]) -> None:
    z = {k: v.requires_grad_(True) for k, v in make_embeddings().items()}
    DubContrastiveLoss(0.07, *LAMBDAS)(z).total.backward()
    for rank, r in enumerate(ranks):
        local = slice(rank * GLOBAL_B // WORLD, (rank + 1) * GLOBAL_B // WORLD)
        for k, grad in r["z_grad"].items():
            torch.testing.assert_close(grad, z[k].grad[local], rtol=1e-10, atol=1e-12, msg=f"rank {rank} {k}")


def test_ddp_parameter_gradients_equal_single_process(ranks: list[dict]) -> None:
    model = make_model()
    DubContrastiveLoss(0.07, *LAMBDAS)(model(make_batch())).total.backward()
    for rank, r in enumerate(ranks):
        for name, p in model.named_parameters():
            torch.testing.assert_close(r["param_grad"][name], p.grad, rtol=1e-9, atol=1e-12,
                                       msg=f"rank {rank} {name}")
