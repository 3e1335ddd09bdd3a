"""Gradient accumulation keeps the contrastive batch: K micro-batches give the full batch's loss and
gradients (float64, BN-free models), alone and under DDP, and a toy run reproduces the full-batch run.
With batch norm: each micro-batch is normalised on its own (the gradient is that loss's exactly), the
full batch's gradient in eval mode, and running statistics advance once per micro-batch."""

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
from lssd.errors import BadInputError
from lssd.train.distributed import World, gather_with_grad, sync_batch_norm
from lssd.train.index import read_index, write_index
from lssd.train.loop import batch_norm_note, train
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


class Normed(Flat):
    """A batch-norm 'backbone', like X3D-M and the audio ResNet-50 of App. B.3."""

    def __init__(self, dim_in: int, dim: int = 12) -> None:
        super().__init__(dim_in, dim)
        self.norm = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.norm(self.proj(x.flatten(1))))


def make_model(secondary_head: bool = True, backbone: type[Flat] = Flat) -> AudioVisualModel:
    torch.manual_seed(0)
    model = AudioVisualModel(backbone(3 * 2 * 4 * 4), backbone(2 * 4 * 6), embed_dim=8,
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


def _ghost_batch_reference(model: AudioVisualModel, loss_fn: DubContrastiveLoss,
                            micro: list[dict[str, torch.Tensor]]) -> None:
    """The loss of the whole batch with each micro-batch embedded (and batch-normalised) on its own."""
    outs = [model(batch) for batch in micro]
    loss_fn({k: torch.cat([o[k] for o in outs]) for k in outs[0]}).total.backward()


def test_batch_norm_micro_batches_are_normalised_on_their_own() -> None:
    """Train-mode BN: accumulation computes exactly the gradient of the loss whose micro-batches are
    batch-normalised separately (as DDP ranks without SyncBatchNorm), which is not the full batch's."""
    loss_fn = DubContrastiveLoss(0.07, *LAMBDAS)
    micro = split(make_batch(), 2)
    accum, ghost, full = (make_model(backbone=Normed) for _ in range(3))
    contrastive_backward(accum, loss_fn, micro, gather_with_grad)
    _ghost_batch_reference(ghost, loss_fn, micro)
    contrastive_backward(full, loss_fn, [make_batch()], gather_with_grad)
    for name, grad in grads(ghost).items():
        torch.testing.assert_close(grads(accum)[name], grad, rtol=1e-9, atol=1e-12, msg=name)
    assert any(not torch.allclose(grads(accum)[n], g) for n, g in grads(full).items())


def test_batch_norm_in_eval_mode_gives_the_full_batch_gradient() -> None:
    loss_fn = DubContrastiveLoss(0.07, *LAMBDAS)
    full, micro = make_model(backbone=Normed), make_model(backbone=Normed)
    for model in (full, micro):
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.linspace(-0.5, 0.5, m.num_features))
                m.eval()
    contrastive_backward(full, loss_fn, [make_batch()], gather_with_grad)
    contrastive_backward(micro, loss_fn, split(make_batch(), 4), gather_with_grad)
    for name, grad in grads(full).items():
        torch.testing.assert_close(grads(micro)[name], grad, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_batch_norm_running_stats_advance_once_per_micro_batch(k: int) -> None:
    """The cached pass must not move them: K micro-batches = K updates, each with its own statistics."""
    accum, sequential = make_model(backbone=Normed), make_model(backbone=Normed)
    micro = split(make_batch(), k)
    contrastive_backward(accum, DubContrastiveLoss(0.07, *LAMBDAS), micro, gather_with_grad)
    with torch.no_grad():
        for batch in micro:
            sequential(batch)
    norms = [(n, m) for n, m in accum.named_modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 2
    reference = dict(sequential.named_buffers())
    for name, buffer in accum.named_buffers():
        torch.testing.assert_close(buffer, reference[name], rtol=1e-12, atol=0, msg=name)
    assert all(int(m.num_batches_tracked) == k for _, m in norms)


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


def test_sync_bn_converts_batch_norm_for_gpu_ranks_and_refuses_cpu_ranks() -> None:
    model = make_model(backbone=Normed)
    keys = set(model.state_dict())
    assert sync_batch_norm(model, World()) is model  # one process: nothing to synchronise
    with pytest.raises(BadInputError, match="SyncBatchNorm does not run on CPU"):
        sync_batch_norm(model, World(rank=0, size=2))
    synced = sync_batch_norm(model, World(rank=0, size=2, device=torch.device("cuda", 0)))
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in synced.modules()) == 2
    assert set(synced.state_dict()) == keys  # checkpoints stay interchangeable


def test_the_run_says_what_batch_norm_normalises_over() -> None:
    recipe = load_recipe("ctrl_en", ["train.accum_freq=2", "data.batch_size=13"])
    assert batch_norm_note(recipe, World()) == ("batch norm: statistics over each GPU's micro-batch of 13 on "
                                                "its own; running statistics advance 2 times per step")
    four = World(rank=0, size=4, device=torch.device("cuda", 0))
    assert "(train.sync_bn: true or --sync-bn syncs them)" in batch_norm_note(recipe, four)
    synced = load_recipe("ctrl_en", ["train.sync_bn=true"])
    assert batch_norm_note(synced, four).startswith(
        "batch norm: statistics over the 104 samples of a micro-batch on all ranks")
