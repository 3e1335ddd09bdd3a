"""No weights file runs code: for every model format lssd loads, a pickle whose loading would write a marker
file is refused in one sentence naming the file, and the marker never appears.

Each hostile file is installed the way any file gets in (``lssd models import`` with a catalog entry that
records its hash, as the unpinned kNN-VC entries do) and loaded through the real path: ``lssd dub`` for the
first stages, the backend registry (what the pipeline calls) for the later ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lssd.backends import registry
from lssd.config import DubConfig
from lssd.errors import LssdError
from lssd.languages import get_language, parse_langs
from lssd.store.safe_load import UnsafeWeightsError, load_weights
from lssd.testing.tiny_models import (
    build_knn_vocoder,
    build_seamless,
    build_wavlm,
    copy_catalog,
    install,
)

from .conftest import assert_refused, save


@pytest.fixture(autouse=True)
def _fresh_engines(monkeypatch):
    """Engines are cached per process by settings, not by file: every test loads its own files."""
    monkeypatch.setattr(registry, "_ENGINES", {})


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    """A copy of the real catalog and an empty store, seen through the environment as a user's run sees them."""
    catalog, root = copy_catalog(tmp_path / "catalog"), tmp_path / "store"
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("LSSD_MODEL_DIR", str(root))
    return catalog, root


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from lssd.samples import make_sample_clip

    return make_sample_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", duration=2.0,
                            lines=((0.3, "Hello there."),))


def _dub(clip, out: Path, *options: str, capsys) -> tuple[int, str]:
    from lssd.cli import main

    code = main(["dub", str(clip.path), "--langs", "es", "-o", str(out), "--workdir", str(out / "work"), *options])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    return code, errors[0]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_load_weights_refuses_every_global_it_was_not_given(tmp_path, payload, legacy):
    import torch

    obj, marker = payload
    path = tmp_path / "evil.pt"
    torch.save({"model": obj}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeWeightsError) as err:
        load_weights(path)
    assert_refused(str(err.value), str(path), marker)
    with pytest.raises(UnsafeWeightsError):  # allowing something else does not let it through
        load_weights(path, [Path])
    assert not marker.exists()


def test_demucs_package_is_refused_by_lssd_dub(store_env, clip, tmp_path, payload, capsys):
    catalog, root = store_env
    obj, marker = payload
    build = tmp_path / "build"
    save({"klass": obj, "args": [], "kwargs": {}, "state": {}}, build / "0badc0de.th")
    (build / "htdemucs.yaml").write_text("models: ['0badc0de']\n")
    install(catalog, root, "htdemucs", build, stage="separate", library="demucs")
    code, error = _dub(clip, tmp_path / "out", "--separator", "demucs", capsys=capsys)
    assert code != 0
    assert_refused(error, "0badc0de.th", marker)


def test_whisper_checkpoint_is_refused_by_lssd_dub(store_env, clip, tmp_path, payload, capsys):
    catalog, root = store_env
    obj, marker = payload
    save({"dims": {"n_mels": 80}, "model_state_dict": obj}, tmp_path / "build" / "large-v3.pt")
    install(catalog, root, "whisper-large-v3", tmp_path / "build", stage="transcribe", library="openai-whisper")
    code, error = _dub(clip, tmp_path / "out", "--asr", "whisper", "--source-lang", "en", capsys=capsys)
    assert code != 0
    assert_refused(error, "large-v3.pt", marker)


def test_openai_whisper_itself_loads_with_the_restricted_unpickler(tmp_path, payload):
    """Proof for the third-party loader lssd calls: whisper.load_model passes weights_only=True."""
    import pickle

    import whisper

    obj, marker = payload
    path = save({"dims": {}, "model_state_dict": obj}, tmp_path / "tiny.pt")
    with pytest.raises(pickle.UnpicklingError):
        whisper.load_model(str(path), device="cpu")
    assert not marker.exists()


def _knn_store(catalog: Path, root: Path, vocoder: Path, wavlm: Path) -> None:
    for name, folder in (("wavlm-evil", wavlm), ("knn-vc-evil", vocoder)):
        requires = ["wavlm-evil"] if name == "knn-vc-evil" else []
        install(catalog, root, name, folder, stage="voice-convert", library="knn-vc", requires=requires)


def _load_knn_vc() -> None:
    cfg = DubConfig(langs=[], vc_model="knn-vc-evil", device="cpu")
    registry.engine(registry.select("voice-convert", "knn-vc", cfg).backend, cfg)


def test_knn_vc_vocoder_is_refused(store_env, tmp_path, payload):
    catalog, root = store_env
    obj, marker = payload
    vocoder = build_knn_vocoder(tmp_path / "vocoder")
    save({"generator": obj}, vocoder / "prematch_g_02500000.pt")
    _knn_store(catalog, root, vocoder, build_wavlm(tmp_path / "wavlm", original_format=True))
    with pytest.raises(LssdError) as err:
        _load_knn_vc()
    assert_refused(str(err.value), "prematch_g_02500000.pt", marker)


def test_knn_vc_original_wavlm_is_refused(store_env, tmp_path, payload):
    catalog, root = store_env
    obj, marker = payload
    wavlm = tmp_path / "wavlm"
    save({"cfg": obj, "model": {}}, wavlm / "WavLM-Large.pt")
    _knn_store(catalog, root, build_knn_vocoder(tmp_path / "vocoder"), wavlm)
    with pytest.raises(LssdError) as err:
        _load_knn_vc()
    assert_refused(str(err.value), "WavLM-Large.pt", marker)


def test_knn_vc_transformers_wavlm_bin_is_refused(store_env, tmp_path, payload):
    catalog, root = store_env
    obj, marker = payload
    wavlm = build_wavlm(tmp_path / "wavlm", original_format=False)
    for weights in wavlm.glob("*.safetensors"):
        weights.unlink()
    save({"encoder.layer_norm.weight": obj}, wavlm / "pytorch_model.bin")
    _knn_store(catalog, root, build_knn_vocoder(tmp_path / "vocoder"), wavlm)
    with pytest.raises(LssdError) as err:
        _load_knn_vc()
    assert_refused(str(err.value), "pytorch_model.bin", marker)


@pytest.fixture(scope="module")
def tiny_seamless(tmp_path_factory) -> Path:
    return build_seamless(tmp_path_factory.mktemp("seamless") / "tiny")


def _pickled_seamless(tiny: Path, folder: Path, obj: object) -> Path:
    """The tiny SeamlessM4T with its safetensors replaced by a hostile ``pytorch_model.bin``."""
    shutil.copytree(tiny, folder)
    (folder / "model.safetensors").unlink()
    return save({"text_encoder.layer_norm.weight": obj}, folder / "pytorch_model.bin")


def test_seamless_reads_safetensors_only(store_env, tiny_seamless, tmp_path, payload):
    catalog, root = store_env
    obj, marker = payload
    folder = tmp_path / "seamless"
    _pickled_seamless(tiny_seamless, folder, obj)
    install(catalog, root, "seamless-evil", folder, stage="translate", stages=["translate", "synthesize"],
            library="transformers")
    cfg = DubConfig(langs=parse_langs("es"), seamless_model="seamless-evil", source_language="eng", device="cpu")
    with pytest.raises(LssdError) as err:
        registry.engine(registry.select("translate", "seamless", cfg, get_language("es")).backend, cfg)
    message = str(err.value)
    assert not marker.exists()
    assert "\n" not in message and "seamless-evil" in message and "safetensors" in message, message


def test_transformers_itself_loads_bin_files_with_the_restricted_unpickler(tiny_seamless, tmp_path, payload):
    """Proof for the third-party loader: even asked for a pickled checkpoint, transformers runs no code."""
    from transformers import SeamlessM4Tv2Model

    obj, marker = payload
    folder = tmp_path / "seamless"
    _pickled_seamless(tiny_seamless, folder, obj)
    with pytest.raises(Exception):  # noqa: B017 - whatever transformers makes of it, the point is the marker
        SeamlessM4Tv2Model.from_pretrained(folder)
    assert not marker.exists()

