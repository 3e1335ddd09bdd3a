"""The paper's contrastive objective (§4.1, Eq. 1-3), written to run unchanged on one GPU or many.

Eq. 1 is *not* the usual symmetric InfoNCE (the mean of a video->audio and an audio->video
cross-entropy). For instance i there is ONE softmax whose denominator holds the positive pair and both
sets of negatives, {(z_x^i, z_y^j)} and {(z_x^j, z_y^i)} for j != i: 2B-1 terms.

Reduction: Eq. 2 and 3 are sums over the batch, and that is the default (``reduction="sum"``).
``reduction="mean"`` divides every term by the global batch size B; it is only a rescaling of the
loss and of its gradients by 1/B (AdamW is nearly invariant to it; the logged values are per instance).

Distributed: every rank computes ``ℓ_i`` for its own instances only, against the negatives of the whole
global batch (``gather``; see :mod:`lssd.train.distributed`). Summed over ranks this is exactly the
single-process loss of the global batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

TAU = 0.07
Gather = Callable[[Tensor], tuple[Tensor, int]]


def _no_gather(x: Tensor) -> tuple[Tensor, int]:
    return x, 0


def eq1(x: Tensor, y: Tensor, x_all: Tensor, y_all: Tensor, offset: int, tau: float = TAU) -> Tensor:
    """ℓ_i(x, y) of Eq. 1 for the local instances i, shape (b,).

    ``x``/``y``: this rank's unit embeddings (b, d); ``x_all``/``y_all``: the global batch (N, d), in
    which the local instances sit at rows ``offset .. offset + b``.
    """
    idx = torch.arange(x.shape[0], device=x.device) + offset
    x_to_all = x @ y_all.T / tau  # (b, N): z_x^i . z_y^j, the positive at column idx[i]
    all_to_y = y @ x_all.T / tau  # (b, N): z_x^j . z_y^i, the positive again at idx[i]: drop it
    all_to_y = all_to_y.scatter(1, idx[:, None], float("-inf"))
    positive = x_to_all.gather(1, idx[:, None]).squeeze(1)
    return torch.logsumexp(torch.cat([x_to_all, all_to_y], dim=1), dim=1) - positive


@dataclass
class LossTerms:
    """``total`` is what is optimised; ``cross`` (L), ``video`` (L_v), ``audio`` (L_a) are logged.

    On several ranks each term is this rank's share; the shares sum to the global-batch value.
    """

    total: Tensor
    cross: Tensor | None
    video: Tensor | None
    audio: Tensor | None


class DubContrastiveLoss(torch.nn.Module):
    """L + λ_v L_v + λ_a L_a (Eq. 2-3); audio-only models (``cross_modal=False``) optimise L_a alone.

    Embeddings without a secondary instance (``z_vp``, ``z_ap`` only: App. B.3 SEP, "no secondary
    audio") give the one cross-modal pair: L = Σ_i ℓ_i(v_p, a_p), and no within-modal terms.
    """

    def __init__(
        self,
        tau: float = TAU,
        lambda_v: float = 0.0,
        lambda_a: float = 0.0,
        cross_modal: bool = True,
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', not {reduction!r}")
        self.tau, self.lambda_v, self.lambda_a = tau, lambda_v, lambda_a
        self.cross_modal, self.reduction = cross_modal, reduction

    def forward(self, z: dict[str, Tensor], gather: Gather = _no_gather) -> LossTerms:
        keys = [k for k in ("z_vp", "z_vs", "z_ap", "z_as") if k in z]
        local = torch.stack([z[k] for k in keys])  # one collective for all four
        local = local.to(torch.promote_types(local.dtype, torch.float32))  # bf16 autocast -> fp32
        gathered, offset = gather(local)
        n_global = gathered.shape[1]
        scale = 1.0 / n_global if self.reduction == "mean" else 1.0
        pairs = {k: (local[i], gathered[i]) for i, k in enumerate(keys)}

        def term(a: str, b: str) -> Tensor:
            (x, x_all), (y, y_all) = pairs[a], pairs[b]
            return eq1(x, y, x_all, y_all, offset, self.tau).sum() * scale

        def weighted(a: str, b: str, weight: float) -> Tensor:
            if weight:
                return term(a, b)
            with torch.no_grad():  # tracked only (§4.1): no graph, no gradient
                return term(a, b)

        if "z_as" not in pairs:  # a single (v, a) pair per instance
            if not self.cross_modal or "z_vp" not in pairs or self.lambda_v or self.lambda_a:
                raise ValueError("a single video-audio pair needs the cross-modal loss without L_v, L_a")
            cross = term("z_vp", "z_ap")
            return LossTerms(total=cross, cross=cross, video=None, audio=None)
        audio = weighted("z_ap", "z_as", self.lambda_a if self.cross_modal else 1.0)
        if not self.cross_modal:
            return LossTerms(total=audio, cross=None, video=None, audio=audio)
        cross = 0.5 * (term("z_vp", "z_as") + term("z_vs", "z_ap"))
        video = weighted("z_vp", "z_vs", self.lambda_v)
        total = cross + self.lambda_v * video + self.lambda_a * audio
        return LossTerms(total=total, cross=cross, video=video, audio=audio)
