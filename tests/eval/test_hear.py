"""lssd.hear against hear-validator's checks (the validator itself needs TensorFlow and Python < 3.9)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lssd import hear
from lssd.errors import BadInputError

# hear-validator's white-noise batches: (n_sounds, seconds)
BATCHES = ((2, 1.07), (2, 1.98), (2, 4.0), (4, 2.74))


@pytest.fixture(scope="module")
def model(tiny_runs) -> hear.HearModel:
    """A 200 ms hop (a model option, as hear-eval-kit passes them) keeps the test fast; the default
    50 ms grid is checked by test_timestamps_are_frame_centres."""
    return hear.load_model(str(tiny_runs[0]), hop_ms=200.0, device="cpu")


def noise(n: int, seconds: float, sample_rate: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(-1, 1, (n, int(round(seconds * sample_rate)))).astype(np.float32))


def test_model_attributes(model: hear.HearModel) -> None:
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate == 48_000
    assert isinstance(model.scene_embedding_size, int) and isinstance(model.timestamp_embedding_size, int)
    assert model.scene_embedding_size == model.timestamp_embedding_size == model.backbone.dim


@pytest.mark.parametrize(("n", "seconds"), BATCHES)
def test_validator_checks(model: hear.HearModel, n: int, seconds: float) -> None:
    audio = noise(n, seconds, model.sample_rate, seed=n)
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.shape == (n, model.scene_embedding_size) and scene.dtype == torch.float32
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert emb.dtype == torch.float32 and ts.dtype == torch.float32
    assert emb.ndim == 3 and emb.shape[0] == n and emb.shape[2] == model.timestamp_embedding_size
    assert ts.shape == emb.shape[:2]
    assert torch.isfinite(emb).all() and torch.isfinite(scene).all()
    steps = torch.diff(ts, dim=1)
    assert torch.all(torch.abs(steps - steps[0, 0]) < 1.0)  # constant spacing within 1 ms
    assert steps[0, 0] > 0
    assert torch.all(ts[:, -1] <= 1000.0 * seconds)  # never beyond the audio
    assert ts[0, -1] > 1000.0 * seconds - model.hop_ms  # and up to its end


def test_a_sound_embeds_the_same_alone_or_in_a_batch(model: hear.HearModel) -> None:
    audio = noise(3, 1.07, model.sample_rate, seed=7)
    batch_emb, _ = hear.get_timestamp_embeddings(audio, model)
    alone, _ = hear.get_timestamp_embeddings(audio[1:2], model)
    torch.testing.assert_close(alone[0], batch_emb[1], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(batch_emb[0], batch_emb[1])  # different noise, different embeddings


def test_scene_embedding_is_the_mean_of_its_windows(model: hear.HearModel) -> None:
    """2.5 s at a 1 s window: windows at 0, 1 and 1.5 s (the last aligned to the end)."""
    audio = noise(1, 2.5, model.sample_rate, seed=3)
    wave = audio[0].numpy()
    starts = np.array([0, 48_000, 72_000])
    expected = model.embed_windows(wave, starts).mean(dim=0)
    torch.testing.assert_close(hear.get_scene_embeddings(audio, model)[0], expected)


def test_timestamps_are_frame_centres() -> None:
    assert hear.timestamps_ms(48_000, 48_000, 50.0).tolist()[-3:] == [900.0, 950.0, 1000.0]
    assert len(hear.timestamps_ms(int(1.07 * 48_000), 48_000, 50.0)) == 22
    assert hear.HOP_MS == 50.0


def test_bad_input_is_one_sentence(model: hear.HearModel, tmp_path) -> None:
    with pytest.raises(BadInputError, match="n_sounds, n_samples"):
        hear.get_scene_embeddings(torch.zeros(48_000), model)
    with pytest.raises(BadInputError, match="no checkpoint"):
        hear.load_model(str(tmp_path))
    with pytest.raises(BadInputError, match="needs a run directory"):
        hear.load_model()
