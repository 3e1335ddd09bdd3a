"""The Demucs separator, loaded as a user's run loads it: registry → model store → lssd's Demucs package reader.

A tiny random HTDemucs (and a bag of tiny HDemucs) in demucs' own repo layout stands in for the real
weights; what it separates is noise, so these tests check the bookkeeping around the model: rates,
channels, blocks, reconstruction, provenance, loading once. ``-m weights`` checks real separation.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from lssd.backends import registry
from lssd.backends.demucs import DemucsSeparator, blocks
from lssd.config import DubConfig
from lssd.errors import LssdError, MissingWeightsError
from lssd.languages import parse_langs
from lssd.testing.tiny_models import build_demucs, copy_catalog, install

SR = 48_000
@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """A store holding a tiny 'htdemucs', seen through the environment as a user's run sees it."""
    tmp = tmp_path_factory.mktemp("demucs-store")
    catalog, root = copy_catalog(tmp / "catalog"), tmp / "store"
    install(catalog, root, "htdemucs", build_demucs(tmp / "build" / "htdemucs", "htdemucs"),
            stage="separate", library="demucs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSSD_CATALOG_DIR", str(catalog))
        mp.setenv("LSSD_MODEL_DIR", str(root))
        yield root


def _cfg(**kw) -> DubConfig:
    return DubConfig(langs=parse_langs("es"), separator="demucs", device="cpu", **kw)


def _engine(cfg: DubConfig):
    return registry.engine(registry.select("separate", cfg.separator, cfg).backend, cfg)


def _mix(seconds: float, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)])
    return (tone + 0.05 * rng.standard_normal(tone.shape)).astype(np.float32)


def test_blocks_cover_every_sample_with_weights_summing_to_one():
    n, block, fade = 10_007, 3_000, 500
    total = np.zeros(n)
    previous_stop = 0
    for start, stop, weight in blocks(n, block, fade):
        assert weight.shape == (stop - start,) and stop - start <= block
        assert start == 0 or start == previous_stop - fade  # neighbours share exactly the crossfade
        total[start:stop] += weight
        previous_stop = stop
    assert previous_stop == n
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    assert [(a, b) for a, b, _ in blocks(800, 3_000, 500)] == [(0, 800)]
    assert all((w == 1).all() for _, _, w in blocks(n, block, 0))  # no crossfade: plain abutting blocks


def test_separate_keeps_rate_length_and_reconstructs_the_mix(tiny_store, monkeypatch):
    import demucs.apply

    seen = []
    real = demucs.apply.apply_model
    monkeypatch.setattr(demucs.apply, "apply_model",
                        lambda model, mix, **kw: seen.append(mix.shape) or real(model, mix, **kw))
    engine = _engine(_cfg())
    mix = _mix(1.5)
    vocals, background = engine.separate(mix, SR)
    assert vocals.shape == background.shape == mix.shape
    assert vocals.dtype == background.dtype == np.float32
    np.testing.assert_allclose(vocals + background, mix, atol=1e-6)
    assert 0 < np.std(vocals) and not np.allclose(vocals, mix, atol=1e-3)  # the model did split something off
    assert tuple(seen[0]) == (1, 2, round(mix.shape[1] * 44_100 / SR))  # the model heard 44.1 kHz stereo


def test_mono_and_multichannel_inputs_keep_their_layout(tiny_store):
    engine = _engine(_cfg())
    for channels in (1, 3):
        mix = _mix(1.0, channels)
        vocals, background = engine.separate(mix, SR)
        assert vocals.shape == mix.shape
        np.testing.assert_allclose(vocals + background, mix, atol=1e-6)


def test_engine_loads_once_per_process(tiny_store, monkeypatch):
    from lssd.backends import demucs as backend

    calls = []
    real = backend._load_model
    monkeypatch.setattr(backend, "_load_model", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    registry._ENGINES.clear()
    first = _engine(_cfg())
    assert _engine(_cfg()) is first
    assert len(calls) == 1


def test_provenance_records_the_checkpoint_hashes(tiny_store):
    prov = _engine(_cfg()).provenance()
    folder = tiny_store / "htdemucs"
    files = sorted(p.name for p in folder.iterdir() if p.suffix in (".th", ".yaml"))
    assert sorted(prov["files"]) == files
    for name, sha in prov["files"].items():
        assert sha == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert prov["model"] == "htdemucs" and prov["library"].startswith("demucs 4.")
    assert prov["settings"]["device"] == "cpu" and prov["settings"]["model_samplerate"] == 44_100


def test_long_input_goes_through_in_crossfaded_blocks(tiny_store):
    mix = _mix(5.0)
    whole, _ = _engine(_cfg()).separate(mix, SR)
    blocked, background = DemucsSeparator("htdemucs", "cpu", block_s=2.0, crossfade_s=0.5).separate(mix, SR)
    np.testing.assert_allclose(blocked + background, mix, atol=1e-6)
    # blocks see less context than one pass, so they differ a little, never by a seam's worth
    assert np.corrcoef(whole.ravel(), blocked.ravel())[0, 1] > 0.99


def test_bag_of_models_loads_from_its_yaml(tmp_path, monkeypatch):
    catalog, root = copy_catalog(tmp_path / "catalog"), tmp_path / "store"
    install(catalog, root, "mdx_extra", build_demucs(tmp_path / "build", "mdx_extra", models=2),
            stage="separate", library="demucs")
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("LSSD_MODEL_DIR", str(root))
    engine = _engine(_cfg(separator_model="mdx_extra"))
    assert len(engine.model.models) == 2
    assert len(engine.provenance()["files"]) == 3


def test_corrupt_checkpoint_is_one_sentence(tmp_path, monkeypatch):
    build = tmp_path / "build"
    build.mkdir()
    (build / "htdemucs.yaml").write_text("models: ['0badc0de']\n")
    (build / "0badc0de.th").write_bytes(b"not a torch file")
    catalog, root = copy_catalog(tmp_path / "catalog"), tmp_path / "store"
    install(catalog, root, "htdemucs", build, stage="separate", library="demucs")
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("LSSD_MODEL_DIR", str(root))
    with pytest.raises(LssdError) as err:
        DemucsSeparator("htdemucs", "cpu")
    assert "could not load Demucs model 'htdemucs'" in str(err.value) and "\n" not in str(err.value)


def test_missing_weights_stop_the_selection_with_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("LSSD_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("LSSD_CATALOG_DIR", raising=False)
    with pytest.raises(MissingWeightsError) as err:
        registry.select("separate", "demucs", _cfg(separator_model="mdx_extra"))
    message = str(err.value)
    assert "'mdx_extra'" in message and "lssd models pull mdx_extra" in message and "lssd models import" in message
    assert "\n" not in message


def test_cli_without_weights_exits_with_one_sentence(tmp_path, monkeypatch, capsys):
    from lssd.cli import main
    from lssd.samples import make_sample_clip

    monkeypatch.setenv("LSSD_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("LSSD_CATALOG_DIR", raising=False)
    clip = make_sample_clip(tmp_path / "clip.mp4", duration=2.0, lines=((0.3, "Hello there."),))
    code = main(["dub", str(clip.path), "--langs", "es", "--separator", "demucs", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == MissingWeightsError.exit_code
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "'htdemucs'" in errors[0] and "lssd models pull htdemucs" in errors[0]


@pytest.mark.weights
def test_real_htdemucs_pulls_speech_out_of_music(user_store, tmp_path):
    """With the real htdemucs in LSSD_MODEL_DIR: the vocals are much closer to the speech than the mix was."""
    from lssd.dsp.metrics import si_sdr
    from lssd.media import read_audio
    from lssd.samples import make_sample_clip
    from lssd.store import get_store

    if not get_store().is_present("htdemucs"):
        pytest.skip(f"htdemucs is not in the model store {os.environ.get('LSSD_MODEL_DIR')}")
    clip = make_sample_clip(tmp_path / "clip.mp4", duration=8.0, background_db=-22.0)
    speech, background = read_audio(Path(clip.speech), SR), read_audio(Path(clip.background), SR)
    speech = np.broadcast_to(speech, background.shape)
    mix = (speech + background).astype(np.float32)
    vocals, _ = DemucsSeparator("htdemucs", "cpu").separate(mix, SR)
    assert si_sdr(vocals, speech) > si_sdr(mix, speech) + 6.0
