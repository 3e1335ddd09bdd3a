"""Issue 3's end-to-end check: with tiny random models imported into a temporary store under the real
catalog names, ``lssd dub --profile paper`` runs through Demucs, openai-whisper, SeamlessM4T (T2ST and
S2ST) and kNN-VC, and the sidecar records each model's name and sha256."""

from __future__ import annotations

import json

import pytest

from lssd.cli import main
from lssd.samples import make_sample_clip
from lssd.testing.tiny_models import (
    build_demucs,
    build_knn_vocoder,
    build_seamless,
    build_wavlm,
    build_whisper,
    copy_catalog,
    install,
)


@pytest.fixture(scope="module")
def paper_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paper-store")
    catalog, root, build = copy_catalog(tmp / "catalog"), tmp / "store", tmp / "build"
    install(catalog, root, "mdx_extra", build_demucs(build / "mdx", "mdx_extra", models=2),
            stage="separate", library="demucs")
    build_whisper(build / "whisper", "large-v3.pt")
    install(catalog, root, "whisper-large-v3", build / "whisper", stage="transcribe", library="openai-whisper")
    install(catalog, root, "seamless-m4t-v2-large", build_seamless(build / "seamless"), stage="translate",
            stages=["translate", "synthesize"], library="transformers", non_commercial=True)
    install(catalog, root, "knn-vc-wavlm-large", build_wavlm(build / "wavlm", original_format=True),
            stage="voice-convert", library="knn-vc")
    install(catalog, root, "knn-vc", build_knn_vocoder(build / "vocoder"), stage="voice-convert",
            library="knn-vc", requires=["knn-vc-wavlm-large"])
    return catalog, root


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_sample_clip(tmp_path_factory.mktemp("paper-clip") / "clip.mp4", duration=4.0,
                            lines=((0.5, "Welcome to the harbour."),))


@pytest.mark.parametrize("mode", ["t2st", "s2st"])
def test_paper_profile_runs_every_model_backed_stage(paper_store, clip, tmp_path, monkeypatch, capsys, mode):
    catalog, root = paper_store
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("LSSD_MODEL_DIR", str(root))
    out = tmp_path / "out"
    code = main(["dub", str(clip.path), "--langs", "es", "--profile", "paper", "--seamless-mode", mode,
                 "--source-lang", "en", "-o", str(out), "--workdir", str(tmp_path / "w")])
    log = capsys.readouterr().err
    assert code == 0, log
    assert "non-commercial use only" in log, log  # the licence is shown when SeamlessM4T is used
    meta = json.loads((out / "clip.dub.lssd.json").read_text())
    stages = meta["stages"]
    expected = {"separate": ("demucs", "mdx_extra"), "transcribe": ("whisper", "whisper-large-v3"),
                "translate:spa": ("seamless", "seamless-m4t-v2-large"), "voice-convert:spa": ("knn-vc", "knn-vc")}
    for stage, (backend, model) in expected.items():
        record = stages[stage]
        assert record["backend"] == backend, stage
        provenance = record["provenance"]
        assert provenance["model"] == model, stage
        hashes = provenance["files"]
        assert hashes and all(len(h) == 64 for h in hashes.values()), (stage, hashes)
    assert stages["translate:spa"]["settings"]["seamless_mode"] == mode
    assert "speech from translate" in stages["synthesize:spa"]["backend"]  # Seamless spoke; no espeak
    assert [t["language"] for t in meta["tracks"]] == ["eng", "spa"]
