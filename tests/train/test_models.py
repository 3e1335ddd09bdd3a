"""Backbones: published sizes (built, not run), tiny forward passes, the two-tower model's outputs."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.video import mvit_v1_b

from lssd.errors import BadInputError
from lssd.train.models import AUDIO_MODELS, VIDEO_MODELS, create_av_model, create_model

VIDEO = dict(frames=16, crop=224)
AUDIO = dict(n_mels=96, frames=288)  # 3 s at 48 kHz, hop 501 (App. A)
TINY_VIDEO = dict(frames=4, crop=32)
TINY_AUDIO = dict(n_mels=32, frames=64)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def published_count(m: torch.nn.Module) -> int:
    """Published sizes count a Kinetics-400 linear classifier on top of the pooled features."""
    return n_params(m) + m.dim * 400 + 400


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


@pytest.mark.parametrize(
    ("name", "size", "millions"),
    [("mvit_s", VIDEO, 26.0), ("mvit_b", VIDEO, 36.6)],
)
def test_published_video_sizes(name: str, size: dict, millions: float) -> None:
    assert published_count(create_model(name, **size)) / 1e6 == pytest.approx(millions, rel=0.01)


def test_x3d_m_is_the_published_trunk_with_a_1024_d_output() -> None:
    """App. B.3: "Both models output 1024-dimensional representations per clip"; the published X3D-M
    (3.8 M with a Kinetics-400 classifier) projects to 2048."""
    model = create_model("x3d_m", frames=16, crop=224)
    projection = model.net.blocks[-1].pool.post_conv
    assert model.dim == projection.out_channels == 1024
    published = n_params(model) + (2048 - 1024) * projection.in_channels + 2048 * 400 + 400
    assert published / 1e6 == pytest.approx(3.8, rel=0.01)


def test_mvit_b_is_torchvisions_mvit_v1_b() -> None:
    ours = create_model("mvit_b", **VIDEO).net.state_dict()
    ref = {k: v.shape for k, v in mvit_v1_b().state_dict().items() if not k.startswith("head.")}
    assert {k: v.shape for k, v in ours.items()} == ref


def test_audio_backbones() -> None:
    resnet = create_model("audio_resnet50", **AUDIO)
    assert resnet.dim == 1024
    mvit = create_model("audio_mvit_s", **AUDIO)
    assert mvit.net.conv_proj.in_channels == 2 and mvit.net.pos_encoding.temporal_size == 1
    assert published_count(mvit) / 1e6 == pytest.approx(26.0, rel=0.02)  # same blocks as the video MViT-S


@pytest.mark.parametrize("name", ["mvit_tiny", "x3d_tiny"])
def test_tiny_video_forward(name: str) -> None:
    model = create_model(name, **TINY_VIDEO)
    out = model(torch.randn(2, 3, TINY_VIDEO["frames"], TINY_VIDEO["crop"], TINY_VIDEO["crop"]))
    assert out.shape == (2, model.dim) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["audio_mvit_tiny", "audio_resnet_tiny"])
def test_tiny_audio_forward(name: str) -> None:
    model = create_model(name, **TINY_AUDIO)
    out = model(torch.randn(2, 2, TINY_AUDIO["n_mels"], TINY_AUDIO["frames"]))
    assert out.shape == (2, model.dim) and torch.isfinite(out).all()


def tiny_batch(b: int = 3) -> dict[str, torch.Tensor]:
    v = (b, 3, TINY_VIDEO["frames"], TINY_VIDEO["crop"], TINY_VIDEO["crop"])
    a = (b, 2, TINY_AUDIO["n_mels"], TINY_AUDIO["frames"])
    return {"v_p": torch.randn(v), "v_s": torch.randn(v), "a_p": torch.randn(a), "a_s": torch.randn(a)}


def test_av_model_embeds_quadruplets_on_the_unit_sphere() -> None:
    model = create_av_model("mvit_tiny", "audio_mvit_tiny", video_size=TINY_VIDEO, audio_size=TINY_AUDIO,
                            embed_dim=16)
    z = model(tiny_batch())
    assert set(z) == {"z_vp", "z_vs", "z_ap", "z_as"}
    for v in z.values():
        assert v.shape == (3, 16)
        torch.testing.assert_close(v.norm(dim=1), torch.ones(3))
    assert set(model.backbones()) == {"video", "audio"}
    exported = model.backbones()["audio"].state_dict()
    assert exported and not any("head" in k for k in exported)


def test_separate_audio_heads_share_the_backbone() -> None:
    model = create_av_model(
        None, "audio_mvit_tiny", video_size={}, audio_size=TINY_AUDIO, embed_dim=16, separate_audio_heads=True
    ).eval()
    batch = tiny_batch()
    batch["a_s"] = batch["a_p"]
    z = model(batch)
    assert set(z) == {"z_ap", "z_as"}  # audio-only
    assert not torch.allclose(z["z_ap"], z["z_as"])  # same input, same backbone, different heads
    shared = create_av_model(None, "audio_mvit_tiny", video_size={}, audio_size=TINY_AUDIO, embed_dim=16)
    shared.eval()
    z = shared(batch)
    torch.testing.assert_close(z["z_ap"], z["z_as"])


def test_unknown_or_misplaced_model_names_are_user_errors() -> None:
    with pytest.raises(BadInputError, match="unknown model"):
        create_model("resnet9000")
    with pytest.raises(BadInputError, match="not a video model"):
        create_av_model("audio_mvit_tiny", "audio_mvit_tiny", video_size=TINY_VIDEO, audio_size=TINY_AUDIO)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n in VIDEO_MODELS if "tiny" not in n))
def test_full_size_video_forward(name: str) -> None:
    model = create_model(name, **VIDEO).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 224, 224)).shape == (1, model.dim)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n in AUDIO_MODELS if "tiny" not in n))
def test_full_size_audio_forward(name: str) -> None:
    model = create_model(name, **AUDIO).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 2, 96, 288)).shape == (1, model.dim)
