"""kNN-VC: the matching step, the vocoder's compatibility with the authors' checkpoint, WavLM from either
checkpoint format, and the backend end to end on tiny random models installed in a temporary store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lssd.backends import registry
from lssd.config import DubConfig
from lssd.segments import Segment
from lssd.dub.voice_convert import _reference
from lssd.errors import MissingWeightsError
from lssd.knnvc.hifigan import Generator, HifiGanConfig, fold_weight_norm, unfold_weight_norm
from lssd.knnvc.matching import knn_match
from lssd.knnvc.wavlm import HOP, LAYER, layer_features, load_wavlm, transformers_to_original
from lssd.store import get_store
from lssd.testing.tiny_models import build_knn_vocoder, build_wavlm, write_catalog_entry

REPO = Path(__file__).resolve().parents[2]
SR = 48_000

# bshall/knn-vc hifigan/config_v1_wavlm.json at commit 589b917 (the file the catalog pins), generator part
OFFICIAL_CONFIG = {
    "resblock": "1", "num_gpus": 0, "batch_size": 16, "learning_rate": 0.0002, "upsample_rates": [10, 8, 2, 2],
    "upsample_kernel_sizes": [20, 16, 4, 4], "upsample_initial_channel": 512, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "hubert_dim": 1024, "hifi_dim": 512,
    "segment_size": 7040, "num_mels": 80, "n_fft": 1024, "hop_size": 320, "win_size": 1024, "sampling_rate": 16000,
}
# keys and shapes of the generator state dict in prematch_g_02500000.pt (weight-normed, as trained)
OFFICIAL_KEYS = {
    "lin_pre.weight": (512, 1024), "lin_pre.bias": (512,), "conv_pre.weight_g": (512, 1, 1),
    "conv_pre.weight_v": (512, 512, 7), "ups.0.weight_g": (512, 1, 1), "ups.0.weight_v": (512, 256, 20),
    "ups.3.weight_v": (64, 32, 4), "resblocks.0.convs1.0.weight_v": (256, 256, 3),
    "resblocks.2.convs1.1.weight_v": (256, 256, 11), "resblocks.11.convs2.2.bias": (32,),
    "conv_post.weight_g": (1, 1, 1), "conv_post.weight_v": (1, 32, 7), "conv_post.bias": (1,),
}
# names in microsoft/unilm's WavLM state dict (what WavLM-Large.pt's "model" holds)
UNILM_KEYS = (
    "mask_emb", "feature_extractor.conv_layers.0.0.weight", "feature_extractor.conv_layers.0.0.bias",
    "feature_extractor.conv_layers.0.2.1.weight", "feature_extractor.conv_layers.6.2.1.bias", "layer_norm.weight",
    "post_extract_proj.weight", "encoder.pos_conv.0.bias", "encoder.pos_conv.0.weight_g", "encoder.pos_conv.0.weight_v",
    "encoder.layers.0.self_attn.relative_attention_bias.weight", "encoder.layers.0.self_attn.k_proj.weight",
    "encoder.layers.0.self_attn.grep_linear.weight", "encoder.layers.0.self_attn.grep_a",
    "encoder.layers.0.self_attn_layer_norm.weight", "encoder.layers.0.fc1.weight", "encoder.layers.5.fc2.bias",
    "encoder.layers.5.final_layer_norm.weight", "encoder.layer_norm.weight",
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The real catalog plus tiny kNN-VC entries: the vocoder with WavLM in the original format
    (as the release ships it) or in transformers format, and a vocoder whose WavLM is not installed."""
    root = tmp_path_factory.mktemp("knnvc")
    catalog = root / "catalog"
    shutil.copytree(REPO / "models", catalog)
    vocoder = build_knn_vocoder(root / "vocoder")
    encoders = {"wavlm-tiny": build_wavlm(root / "wavlm", original_format=True),
                "wavlm-tiny-hf": build_wavlm(root / "wavlm-hf", original_format=False),
                "wavlm-tiny-absent": build_wavlm(root / "wavlm-absent", original_format=True, seed=1)}
    for name, folder in encoders.items():
        write_catalog_entry(catalog, name, folder, stage="voice-convert", library="transformers")
    for name, encoder in (("knn-vc-tiny", "wavlm-tiny"), ("knn-vc-tiny-hf", "wavlm-tiny-hf"),
                          ("knn-vc-tiny-incomplete", "wavlm-tiny-absent")):
        write_catalog_entry(catalog, name, vocoder, stage="voice-convert", library="knn-vc", requires=[encoder])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSSD_CATALOG_DIR", str(catalog))
        mp.setenv("LSSD_MODEL_DIR", str(root / "models"))
        s = get_store(echo=lambda msg: None)
        installed = {"wavlm-tiny": encoders["wavlm-tiny"], "wavlm-tiny-hf": encoders["wavlm-tiny-hf"],
                     "knn-vc-tiny": vocoder, "knn-vc-tiny-hf": vocoder, "knn-vc-tiny-incomplete": vocoder}
        for name, folder in installed.items():
            s.import_(name, folder)
        yield s


def cfg(model: str = "knn-vc-tiny") -> DubConfig:
    return DubConfig(langs=[], vc_model=model, device="cpu")


def converter(model: str = "knn-vc-tiny"):
    selection = registry.select("voice-convert", "auto", cfg(model))
    assert selection.backend.name == "knn-vc"
    return registry.engine(selection.backend, cfg(model))


def voice(seconds: float, f0: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A buzzy vowel-like tone with a slow pitch wobble and a little noise."""
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / sr
    x = sum(np.sin(h * phase) / h for h in range(1, 8)) * 0.2
    return (x + np.random.default_rng(seed).normal(0, 0.01, t.size)).astype(np.float32)


# -- matching ---------------------------------------------------------------------------------------------------


def test_knn_match_takes_the_reference_frames_by_cosine():
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(40, 16)).astype(np.float32)
    picks = rng.integers(0, 40, 25)
    query = pool[picks] * rng.uniform(0.2, 5.0, (25, 1)) + rng.normal(0, 0.01, (25, 16))  # scaled: cosine ignores it
    out = knn_match(torch.from_numpy(query.astype(np.float32)), torch.from_numpy(pool), k=1).numpy()
    np.testing.assert_array_equal(out, pool[picks])

    unit_q, unit_p = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (query, pool))
    cos = unit_q @ unit_p.T
    expected = pool[np.argsort(-cos, axis=1)[:, :4]].mean(axis=1)
    out4 = knn_match(torch.from_numpy(query.astype(np.float32)), torch.from_numpy(pool)).numpy()  # k = 4
    np.testing.assert_allclose(out4, expected, rtol=1e-5, atol=1e-6)


def test_knn_match_is_cosine_not_euclidean_and_copes_with_a_tiny_pool():
    pool = torch.tensor([[10.0, 1.0], [0.5, 0.5]])
    query = torch.tensor([[1.0, 0.0]])  # euclidean-nearest is the second row, cosine-nearest the first
    assert torch.equal(knn_match(query, pool, k=1), pool[:1])
    assert torch.allclose(knn_match(query, pool, k=4), pool.mean(dim=0, keepdim=True))  # k > pool: all of it


# -- vocoder ----------------------------------------------------------------------------------------------------


def test_vocoder_has_the_official_architecture_and_key_names(tmp_path):
    (tmp_path / "config_v1_wavlm.json").write_text(json.dumps(OFFICIAL_CONFIG))
    h = HifiGanConfig.from_json(tmp_path / "config_v1_wavlm.json")
    assert h == HifiGanConfig() and h.hop == 320 and h.sampling_rate == 16_000
    generator = Generator(h)
    # kNN-VC's hubconf prints "[HiFiGAN] Generator loaded with 16,523,393 parameters." for the prematched vocoder
    assert sum(p.numel() for p in generator.parameters()) == 16_523_393
    official = unfold_weight_norm(generator)
    assert len(official) == 236
    for key, shape in OFFICIAL_KEYS.items():
        assert tuple(official[key].shape) == shape, key
    reloaded = Generator(h)
    reloaded.load_state_dict(fold_weight_norm(official))  # strict: every official key has a home
    features = torch.randn(1, 7, 1024)
    with torch.no_grad():
        wav = reloaded(features)
    assert wav.shape == (1, 1, 7 * 320) and wav.abs().max() <= 1
    assert torch.allclose(wav, generator(features).detach(), atol=1e-5)


def test_fold_weight_norm_equals_torch_weight_norm():
    from torch.nn.utils.parametrizations import weight_norm

    for module in (torch.nn.Conv1d(3, 5, 7), torch.nn.ConvTranspose1d(6, 3, 4, 2)):
        module = weight_norm(module)
        p = module.parametrizations.weight
        with torch.no_grad():
            p.original0.mul_(torch.rand_like(p.original0) + 0.5)  # g no longer equals |v|
        folded = fold_weight_norm({"m.weight_g": p.original0.detach(), "m.weight_v": p.original1.detach()})
        assert torch.allclose(folded["m.weight"], module.weight.detach(), atol=1e-6)


# -- WavLM ------------------------------------------------------------------------------------------------------


def test_wavlm_original_checkpoint_gives_transformers_layer6(tmp_path):
    from transformers import WavLMModel

    original = load_wavlm(build_wavlm(tmp_path / "orig", original_format=True))
    full = WavLMModel.from_pretrained(build_wavlm(tmp_path / "hf", original_format=False)).eval()  # same seed
    state = torch.load(tmp_path / "orig" / "WavLM-Large.pt", weights_only=True)["model"]
    assert set(UNILM_KEYS) <= set(state)
    assert "encoder.layers.1.self_attn.relative_attention_bias.weight" not in state  # first layer only, as in unilm
    assert set(transformers_to_original(full.state_dict())) == set(state)
    wav = torch.from_numpy(voice(1.0, 140, 16_000))
    features = layer_features(original, wav)
    padded = torch.nn.functional.pad(wav, (0, HOP - wav.numel() % HOP))
    with torch.no_grad():
        reference = full(padded[None], output_hidden_states=True).hidden_states[LAYER][0]
    assert features.shape == (padded.numel() // HOP - 1, 32)
    assert torch.allclose(features, reference, atol=1e-5)


# -- the backend ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [SR, 22_050, 16_000])
def test_convert_keeps_length_rate_and_level(store, sr):
    engine = converter()
    speech, reference = voice(1.37, 120, sr, seed=1), voice(3.0, 210, sr, seed=2)
    out = engine.convert(speech, reference, sr)
    assert out.dtype == np.float32 and out.shape == speech.shape and np.isfinite(out).all()
    assert not np.allclose(out, speech)
    assert np.sqrt(np.mean(out**2)) == pytest.approx(np.sqrt(np.mean(speech**2)), rel=1e-3)
    assert engine.last_info["converted"] and engine.last_info["k"] == 4
    assert abs(engine.last_info["matching_frames"] - 3.0 * 50) <= 2  # 50 WavLM frames per second


def test_both_wavlm_formats_convert_identically(store):
    speech, reference = voice(1.0, 130, seed=3), voice(2.0, 200, seed=4)
    a = converter("knn-vc-tiny").convert(speech, reference, SR)
    b = converter("knn-vc-tiny-hf").convert(speech, reference, SR)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_conversion_follows_the_reference(store):
    engine = converter()
    speech = voice(1.0, 120, seed=5)
    a = engine.convert(speech, voice(2.0, 100, seed=6), SR)
    b = engine.convert(speech, voice(2.0, 300, seed=7), SR)
    assert not np.allclose(a, b, atol=1e-3)


def test_too_short_reference_leaves_the_dub_unchanged(store):
    engine = converter()
    speech = voice(1.0, 120)
    out = engine.convert(speech, voice(0.02, 200), SR)
    np.testing.assert_array_equal(out, speech)
    assert engine.last_info["converted"] is False and "40 ms" in engine.last_info["reason"]
    engine.convert(speech, voice(0.06, 200), SR)  # three frames: fewer neighbours than k
    assert engine.last_info["converted"] and engine.last_info["k"] == engine.last_info["matching_frames"] < 4


def test_provenance_names_both_models_with_hashes(store):
    prov = converter().provenance()
    for name in ("knn-vc-tiny", "wavlm-tiny"):
        for f in store.entry(name).files:
            assert prov["files"][f"{name}/{f.name}"] == f.sha256
        assert prov["models"][name]["licence"] == "MIT"
    assert prov["backend"] == "knn-vc" and prov["model"] == "knn-vc-tiny"
    assert prov["settings"] == {"device": "cpu", "k": 4, "wavlm_layer": 6, "distance": "cosine", "vocoder_sr": 16_000,
                                "min_reference_s": 10.0}


def test_missing_weights_one_sentence_and_auto_falls_back(store):
    with pytest.raises(MissingWeightsError) as err:
        registry.select("voice-convert", "knn-vc", cfg("knn-vc"))  # the real entry, not installed here
    assert "\n" not in str(err.value) and "lssd models pull" in str(err.value)
    auto = registry.select("voice-convert", "auto", cfg("knn-vc"))
    assert auto.backend.name != "knn-vc" and any("'knn-vc'" in n for n in auto.notices)
    # the vocoder alone is not enough: its WavLM must be installed too
    with pytest.raises(MissingWeightsError, match="wavlm-tiny-absent"):
        registry.select("voice-convert", "knn-vc", cfg("knn-vc-tiny-incomplete"))


def test_short_spans_borrow_the_nearest_segments_speech():
    sr = 100
    segments = [Segment(0, 0.0, 1.0), Segment(1, 2.0, 3.0), Segment(2, 5.0, 6.0), Segment(3, 9.0, 10.0)]
    timeline = np.arange(12 * sr, dtype=np.float32) / sr  # each sample holds its own time

    ctx = SimpleNamespace(sr=sr, transcript=SimpleNamespace(segments=segments),
                          original_speech=lambda a, b: timeline[int(round(a * sr)) : int(round(b * sr))])
    span = {"span_start": 5.0, "span_end": 6.0}
    np.testing.assert_array_equal(_reference(ctx, span, 0.0), timeline[500:600])
    ref = _reference(ctx, span, 2.5)  # span (1 s) + 2-3 s (2 s away) + 9-10 s (3 s away, nearer than 0-1 s)
    np.testing.assert_array_equal(ref, np.concatenate([timeline[500:600], timeline[200:300], timeline[900:1000]]))


@pytest.mark.weights
def test_real_knn_vc_converts():
    real = DubConfig(langs=[])
    if not get_store().is_present(real.vc_model):
        pytest.skip(f"{real.vc_model} is not in the model store")
    engine = registry.engine(registry.select("voice-convert", "knn-vc", real).backend, real)
    speech = voice(2.0, 120)
    out = engine.convert(speech, voice(8.0, 220, seed=9), SR)
    assert out.shape == speech.shape and np.isfinite(out).all() and engine.last_info["matching_frames"] > 350
