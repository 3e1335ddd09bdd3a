"""Gradient accumulation keeps the contrastive batch: K micro-batches give the full batch's loss and
gradients (float64, BN-free models), alone and under DDP, and a toy run reproduces the full-batch run."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from lssd.train.accum import contrastive_backward
from lssd.train.distributed import gather_with_grad
from lssd.train.index import read_index, write_index
from lssd.train.loop import train
from lssd.train.loss import DubContrastiveLoss
from lssd.train.models import AudioVisualModel
from lssd.train.models import mvit as mvit_module
from lssd.train.recipes import load_recipe

B = 8
LAMBDAS = (0.2, 0.3)  # within-modal terms on: every pair of embeddings carries gradient


class Flat(nn.Module):
    """A BN-free 'backbone' (batch statistics would make micro-batches differ from the full batch)."""

    def __init__(self, dim_in: int, dim: int = 12, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.dropout = dim, dropout
        self.proj = nn.Linear(dim_in, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(torch.tanh(self.proj(x.flatten(1))), self.dropout, self.training)


def make_model(secondary_head: bool = True) -> AudioVisualModel:
    torch.manual_seed(0)
    model = AudioVisualModel(Flat(3 * 2 * 4 * 4), Flat(2 * 4 * 6), embed_dim=8,
                             separate_audio_heads=secondary_head)
    return model.double()


def make_batch(pairs: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    shapes = {"v_p": (B, 3, 2, 4, 4), "a_p": (B, 2, 4, 6), "v_s": (B, 3, 2, 4, 4), "a_s": (B, 2, 4, 6)}
    keys = ("v_p", "a_p") if pairs else tuple(shapes)
    return {k: torch.randn(shapes[k], generator=g, dtype=torch.float64) for k in keys}


def split(batch: dict[str, torch.Tensor], k: int) -> list[dict[str, torch.Tensor]]:
    return [{name: t.chunk(k)[i] for name, t in batch.items()} for i in range(k)]


def grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("pairs", [False, True], ids=["quadruplets", "sep-pairs"])
@pytest.mark.parametrize("k", [2, 4])
def test_k_micro_batches_give_the_full_batch_gradient(k: int, pairs: bool) -> None:
    loss_fn = DubContrastiveLoss(0.07, *((0.0, 0.0) if pairs else LAMBDAS))
    full_model, micro_model = make_model(not pairs), make_model(not pairs)
    batch = make_batch(pairs)
    full = contrastive_backward(full_model, loss_fn, [batch], gather_with_grad)
    micro = contrastive_backward(micro_model, loss_fn, split(batch, k), gather_with_grad)
    assert micro.total.item() == pytest.approx(full.total.item(), rel=1e-12)
    expected, got = grads(full_model), grads(micro_model)
    assert expected.keys() == got.keys() and expected
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-9, atol=1e-12, msg=name)


def test_random_layers_draw_the_same_numbers_in_cache_and_recompute() -> None:
    """With dropout, pass j's live rows must equal its cached rows, or the gradient is of a mixture."""
    torch.manual_seed(0)
    model = AudioVisualModel(Flat(3 * 2 * 4 * 4, dropout=0.5), Flat(2 * 4 * 6, dropout=0.5), embed_dim=8).double()
    batch, seen = make_batch(), []
    model.register_forward_hook(lambda m, i, out: seen.append({k: v.detach() for k, v in out.items()}))
    contrastive_backward(model, DubContrastiveLoss(0.07, *LAMBDAS), split(batch, 2), gather_with_grad)
    cached, live = seen[:2], seen[2:]
    for c, lv in zip(cached, live):
        assert all(torch.equal(c[key], lv[key]) for key in c)


def _ddp_worker(rank: int, port: int, k: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    model = nn.parallel.DistributedDataParallel(make_model())
    local = {name: t.chunk(2)[rank] for name, t in make_batch().items()}
    terms = contrastive_backward(model, DubContrastiveLoss(0.07, *LAMBDAS), split(local, k),
                                 gather_with_grad, scale=2.0)
    torch.save({"grads": grads(model.module), "share": terms.total.item()}, Path(out_dir, f"{rank}.pt"))
    dist.destroy_process_group()


def test_accumulation_combines_with_ddp_gathering(tmp_path: Path) -> None:
    """2 ranks x 2 micro-batches of 2 = the single-process gradient of the batch of 8."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(port, 2, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(2)]
    model = make_model()
    single = contrastive_backward(model, DubContrastiveLoss(0.07, *LAMBDAS), [make_batch()], gather_with_grad)
    assert sum(r["share"] for r in ranks) == pytest.approx(single.total.item(), rel=1e-12)
    for r in ranks:
        for name, grad in grads(model).items():
            torch.testing.assert_close(r["grads"][name], grad, rtol=1e-9, atol=1e-12, msg=name)


@pytest.fixture
def no_drop_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stochastic depth draws one mask per forward call, so K calls draw other masks than one call."""
    tiny = dataclasses.replace(mvit_module.MVIT_TINY, stochastic_depth=0.0)
    monkeypatch.setitem(mvit_module.LAYOUTS, "tiny", tiny)


def test_toy_run_with_accum_2_at_half_batch_reproduces_the_full_batch(toy_dataset, no_drop_path,
                                                                       tmp_path: Path, caplog) -> None:
    torch.set_num_threads(2)
    df = read_index(toy_dataset.index).iloc[:16].reset_index(drop=True)
    shots = write_index(df, tmp_path / "16.parquet")
    common = ["optim.steps=4", "optim.warmup_steps=1", "data.group_size=2", "train.ckpt_every=4",
              "data.audio.max_time_mask=0", "data.audio.max_freq_mask=0"]
    curves = {}
    for name, overrides in {"full": ["data.batch_size=8"],
                            "accum": ["data.batch_size=4", "train.accum_freq=2"]}.items():
        losses: list[float] = []
        with caplog.at_level(logging.INFO, logger="lssd.train"):
            train(load_recipe("tiny", [*common, *overrides]), shots, tmp_path / name, progress=False,
                  on_step=lambda step, terms: losses.append(terms.total.item()))
        curves[name] = losses
    assert len(curves["full"]) == 4 and curves["full"][0] != curves["full"][-1]
    assert curves["accum"] == pytest.approx(curves["full"], rel=1e-4)
    assert "contrastive batch: 4 per GPU x 1 rank x 2 accumulated = 8" in caplog.text
    assert f"steps: {max(1, len(df) // 8)} per epoch, 4 in all" in caplog.text
