"""Gradient accumulation that keeps the contrastive batch (open_clip's ``--accum-freq``).

A contrastive loss is not a sum over micro-batches: every instance's softmax holds the negatives of
the whole batch. So with K micro-batches the step (1) embeds every micro-batch without a graph and
caches the embeddings, then (2) for each micro-batch j recomputes its embeddings with a graph, puts
them in place of its cached rows and backpropagates the loss of the *whole* K-micro-batch batch (with
DDP, gathered over ranks as usual). Only micro-batch j's rows carry gradient in pass j, so the K
backward passes sum to the gradient of the full-batch loss: one GPU trains with the negatives of K.

Cost: one extra forward pass per micro-batch (the cache), i.e. about a third more compute than the
full batch in one go, and the memory of one micro-batch's activations. Random layers (stochastic
depth) draw the same numbers in the cache and the recompute of a micro-batch: the RNG state is
restored before each recompute, so the cached rows are what the live rows compute.

Batch norm (the App. B.3 backbones X3D-M and the audio ResNet-50): in training mode a BN layer
normalises with the statistics of the batch it is given, so each micro-batch is normalised with its
own statistics, in the cache and in the recompute alike. The gradient is then exactly that of the
K-micro-batch loss in which each micro-batch is normalised on its own ("ghost" batch norm: what DDP
without SyncBatchNorm does with each GPU's batch), not that of one K-times-larger BN batch; with
batch norm in eval mode, or none (MViT: layer norm), it is the full batch's. Running statistics
advance once per micro-batch (K times per step, each with that micro-batch's statistics): the cached
pass leaves them as it found them (:func:`frozen_norm_stats`), the recompute moves them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from lssd.train.loss import DubContrastiveLoss, Gather, LossTerms


def contrastive_backward(
    net: nn.Module,
    loss_fn: DubContrastiveLoss,
    micro_batches: Sequence[dict[str, Tensor]],
    gather: Gather,
    *,
    scale: float = 1.0,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> LossTerms:
    """Backpropagate ``scale`` times the loss of all ``micro_batches`` together; return its terms.

    ``net`` may be DDP: its gradient all-reduce runs once, after the last micro-batch.
    """
    if len(micro_batches) == 1:
        with autocast():
            z = net(micro_batches[0])
        terms = loss_fn(z, gather=gather)
        (terms.total * scale).backward()
        return terms

    devices = _devices(micro_batches[0])
    states, cached = [], []
    with torch.no_grad(), frozen_norm_stats(net):
        for batch in micro_batches:
            states.append(_rng_state(devices))
            with autocast():
                cached.append(net(batch))
    after = _rng_state(devices)
    no_sync = getattr(net, "no_sync", contextlib.nullcontext)
    for j, batch in enumerate(micro_batches):
        _set_rng_state(states[j], devices)
        with no_sync() if j < len(micro_batches) - 1 else contextlib.nullcontext():
            with autocast():
                live = net(batch)
            z = {k: torch.cat([live[k] if i == j else c[k] for i, c in enumerate(cached)]) for k in live}
            terms = loss_fn(z, gather=gather)
            (terms.total * scale).backward()
    _set_rng_state(after, devices)
    return terms  # the last pass's values: the full batch's loss


@contextlib.contextmanager
def frozen_norm_stats(net: nn.Module) -> Iterator[None]:
    """Batch-norm running statistics (and batch counts) as they were before the block: the cached
    pass normalises with batch statistics like the recompute, but must not advance the buffers too."""
    norms = [m for m in net.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]
    saved = [[b.clone() for b in (m.running_mean, m.running_var, m.num_batches_tracked)] for m in norms]
    try:
        yield
    finally:
        for m, (mean, var, count) in zip(norms, saved):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)


def has_batch_norm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def _devices(batch: dict[str, Tensor]) -> list[torch.device]:
    return sorted({t.device for t in batch.values() if t.device.type == "cuda"}, key=str)


def _rng_state(cuda: list[torch.device]) -> list[Tensor]:
    return [torch.get_rng_state(), *(torch.cuda.get_rng_state(d) for d in cuda)]


def _set_rng_state(state: list[Tensor], cuda: list[torch.device]) -> None:
    torch.set_rng_state(state[0])
    for d, s in zip(cuda, state[1:]):
        torch.cuda.set_rng_state(s, d)
