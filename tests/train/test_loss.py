"""Eq. 1-3 against a literal NumPy transcription of the paper, values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lssd.train.loss import DubContrastiveLoss, eq1

TAU = 0.07


def ell_numpy(zx: np.ndarray, zy: np.ndarray, tau: float = TAU) -> np.ndarray:
    """Eq. 1 as printed: positive (i, i) over itself plus N_i = {(x_i, y_j), (x_j, y_i) : j != i}."""
    b = len(zx)
    out = np.empty(b)
    for i in range(b):
        pos = np.exp(zx[i] @ zy[i] / tau)
        neg = sum(np.exp(zx[i] @ zy[j] / tau) + np.exp(zx[j] @ zy[i] / tau) for j in range(b) if j != i)
        out[i] = -np.log(pos / (pos + neg))
    return out


def loss_numpy(z: dict[str, np.ndarray], lambda_v: float, lambda_a: float) -> dict[str, float]:
    cross = 0.5 * np.sum(ell_numpy(z["z_vp"], z["z_as"]) + ell_numpy(z["z_vs"], z["z_ap"]))  # Eq. 2
    video = np.sum(ell_numpy(z["z_vp"], z["z_vs"]))  # Eq. 3
    audio = np.sum(ell_numpy(z["z_ap"], z["z_as"]))
    total = cross + lambda_v * video + lambda_a * audio
    return {"cross": cross, "video": video, "audio": audio, "total": total}


def random_embeddings(b: int, d: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for k in ("z_vp", "z_vs", "z_ap", "z_as"):
        v = rng.standard_normal((b, d))
        out[k] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def as_torch(z: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in z.items()}


@pytest.mark.parametrize("lambdas", [(0.0, 0.0), (0.2, 0.2), (0.1, 0.3)])
def test_loss_values_match_numpy(lambdas: tuple[float, float]) -> None:
    z = random_embeddings(b=6, d=16)
    ref = loss_numpy(z, *lambdas)
    out = DubContrastiveLoss(TAU, *lambdas)(as_torch(z))
    for name in ("cross", "video", "audio", "total"):
        assert getattr(out, name).item() == pytest.approx(ref[name], rel=1e-10), name


def test_eq1_is_one_softmax_over_2b_minus_1_terms() -> None:
    """Not the usual mean of two cross-entropies: that differs, and B=1 (no negatives) gives 0."""
    z = as_torch(random_embeddings(b=5, d=8))
    x, y = z["z_vp"], z["z_as"]
    ours = eq1(x, y, x, y, 0, TAU)
    logits = x @ y.T / TAU
    labels = torch.arange(5)
    symmetric = 0.5 * (
        torch.nn.functional.cross_entropy(logits, labels, reduction="none")
        + torch.nn.functional.cross_entropy(logits.T, labels, reduction="none")
    )
    assert not torch.allclose(ours, symmetric, rtol=1e-3)
    assert eq1(x[:1], y[:1], x[:1], y[:1], 0, TAU).item() == pytest.approx(0.0, abs=1e-12)


def test_gradients_match_finite_differences_of_numpy() -> None:
    lambdas = (0.2, 0.3)
    z = random_embeddings(b=4, d=6, seed=1)
    zt = as_torch(z)
    DubContrastiveLoss(TAU, *lambdas)(zt).total.backward()
    eps = 1e-6
    for key in z:
        numeric = np.zeros_like(z[key])
        for idx in np.ndindex(*z[key].shape):
            plus, minus = {k: v.copy() for k, v in z.items()}, {k: v.copy() for k, v in z.items()}
            plus[key][idx] += eps
            minus[key][idx] -= eps
            diff = loss_numpy(plus, *lambdas)["total"] - loss_numpy(minus, *lambdas)["total"]
            numeric[idx] = diff / (2 * eps)
        np.testing.assert_allclose(zt[key].grad.numpy(), numeric, rtol=1e-5, atol=1e-6, err_msg=key)


def test_tracked_terms_carry_no_gradient_when_lambda_is_zero() -> None:
    zt = as_torch(random_embeddings(b=4, d=8))
    out = DubContrastiveLoss(TAU, 0.0, 0.0)(zt)
    assert out.video is not None and not out.video.requires_grad and not out.audio.requires_grad
    assert out.total.requires_grad and out.total.item() == pytest.approx(out.cross.item())


def test_mean_reduction_is_sum_over_batch_size() -> None:
    z = random_embeddings(b=6, d=8)
    total_sum = DubContrastiveLoss(TAU, 0.2, 0.2, reduction="sum")(as_torch(z))
    total_mean = DubContrastiveLoss(TAU, 0.2, 0.2, reduction="mean")(as_torch(z))
    for name in ("cross", "video", "audio", "total"):
        expected = getattr(total_sum, name).item() / 6
        assert getattr(total_mean, name).item() == pytest.approx(expected, rel=1e-12)


def test_audio_only_optimises_l_a() -> None:
    z = random_embeddings(b=5, d=8)
    audio = {k: v for k, v in as_torch(z).items() if k in ("z_ap", "z_as")}
    out = DubContrastiveLoss(TAU, cross_modal=False)(audio)
    assert out.cross is None and out.video is None
    assert out.total.item() == pytest.approx(np.sum(ell_numpy(z["z_ap"], z["z_as"])), rel=1e-10)
    out.total.backward()
    assert audio["z_ap"].grad is not None


def test_bf16_embeddings_are_scored_in_float32() -> None:
    z = {k: torch.tensor(v, dtype=torch.bfloat16) for k, v in random_embeddings(b=4, d=8).items()}
    assert DubContrastiveLoss()(z).total.dtype == torch.float32
