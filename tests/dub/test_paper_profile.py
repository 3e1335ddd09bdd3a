"""``--profile paper``: the paper's stack where its weights are present, a line per deviation where not,
and ``--strict`` refusing every avoidable deviation."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from lssd.backends import registry
from lssd.config import DubConfig
from lssd.dub.profiles import apply_profile
from lssd.errors import FallbackRefusedError
from lssd.languages import parse_langs
from lssd.testing.tiny_models import build_demucs, build_whisper, copy_catalog, install

STAGES = ("separate", "transcribe", "translate", "synthesize", "voice-convert", "match-loudness")


@pytest.fixture
def empty_store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LSSD_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("LSSD_CATALOG_DIR", raising=False)
    return tmp_path / "empty"


@pytest.fixture
def tiny_paper_store(tmp_path, monkeypatch) -> Path:
    """Tiny models under the paper's names: mdx_extra (a bag of two) and whisper-large-v3."""
    catalog, root = copy_catalog(tmp_path / "catalog"), tmp_path / "store"
    install(catalog, root, "mdx_extra", build_demucs(tmp_path / "build" / "mdx", "mdx_extra", models=2),
            stage="separate", library="demucs")
    build_whisper(tmp_path / "build" / "whisper", "large-v3.pt")
    install(catalog, root, "whisper-large-v3", tmp_path / "build" / "whisper", stage="transcribe",
            library="openai-whisper")
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("LSSD_MODEL_DIR", str(root))
    return root


def _cfg(**kw) -> DubConfig:
    return DubConfig(langs=parse_langs("es,ja"), profile="paper", **kw)


def _for(stage: str, deviations: list[str]) -> list[str]:
    return [d for d in deviations if d.startswith(f"{stage}:")]


def test_without_weights_every_stage_says_what_it_uses_instead(empty_store):
    cfg, deviations = apply_profile(_cfg())
    for stage in STAGES:
        assert _for(stage, deviations), f"no deviation reported for {stage}"
    assert "'mdx_extra' is not in the model store" in _for("separate", deviations)[0]
    assert "'auto' uses 'dsp' instead" in _for("separate", deviations)[0]
    assert "'whisper-large-v3'" in _for("transcribe", deviations)[0]
    assert any("LVC-VC" in d for d in _for("voice-convert", deviations))
    assert (cfg.separator, cfg.asr, cfg.separator_model) == ("auto", "auto", "mdx_extra")


def test_strict_refuses_the_avoidable_deviations_in_one_sentence(empty_store):
    with pytest.raises(FallbackRefusedError) as err:
        apply_profile(_cfg(strict=True))
    message = str(err.value)
    assert "mdx_extra" in message and "whisper-large-v3" in message and "\n" not in message
    assert "LVC-VC" not in message  # inherent: accepted by --strict


def test_present_paper_models_are_chosen(tiny_paper_store):
    cfg, deviations = apply_profile(_cfg())
    assert (cfg.separator, cfg.separator_model, cfg.asr) == ("demucs", "mdx_extra", "whisper")
    assert not _for("separate", deviations) and not _for("transcribe", deviations)
    separator = registry.select("separate", cfg.separator, cfg).backend
    assert len(registry.engine(separator, cfg).model.models) == 2  # the bag in the store, loaded
    assert registry.select("transcribe", cfg.asr, cfg).backend.name == "whisper"


def test_user_choices_and_material_are_deviations(tiny_paper_store, tmp_path):
    stem = tmp_path / "me.wav"
    _, deviations = apply_profile(_cfg(background=stem, asr="vad"))
    assert any("me.wav replaces Demucs" in d for d in _for("separate", deviations))
    assert any("--asr vad replaces the paper's Whisper" in d for d in _for("transcribe", deviations))
    with pytest.raises(FallbackRefusedError):
        apply_profile(_cfg(background=stem, strict=True))


def test_the_quantized_separator_of_the_appendix_is_kept(tiny_paper_store):
    cfg, _ = apply_profile(_cfg(separator_model="mdx_extra_q"))
    assert cfg.separator_model == "mdx_extra_q"
    cfg, _ = apply_profile(replace(_cfg(), separator_model="htdemucs"))
    assert cfg.separator_model == "mdx_extra"


def test_cli_strict_paper_profile_without_weights_exits_with_one_line(empty_store, tmp_path, capsys):
    from lssd.cli import main

    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"")
    code = main(["dub", str(clip), "--langs", "es", "--profile", "paper", "--strict"])
    err = capsys.readouterr().err
    assert code == FallbackRefusedError.exit_code
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --profile paper --strict")
    assert "Traceback" not in err


def test_cli_paper_profile_runs_the_models_it_found(tiny_paper_store, tmp_path, capsys):
    """End to end: the tiny paper models separate and transcribe; the rest deviates, and says so."""
    import json

    from lssd.cli import main
    from lssd.samples import make_sample_clip

    clip = make_sample_clip(tmp_path / "clip.mp4", duration=4.0, lines=((0.5, "Welcome to the harbour."),))
    out = tmp_path / "out"
    code = main(["dub", str(clip.path), "--langs", "es", "--profile", "paper", "--source-lang", "en", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "paper profile deviation: translate:" in err and "LVC-VC" in err
    if importlib.util.find_spec("matchering") is None:  # the install hint survives Rich's markup
        assert "pip install 'lssd[matchering]'" in " ".join(err.split()), err
    stages = json.loads((out / "clip.dub.lssd.json").read_text())["stages"]
    assert stages["separate"]["backend"] == "demucs" and stages["separate"]["provenance"]["model"] == "mdx_extra"
    assert len(stages["separate"]["provenance"]["files"]) == 3  # the bag's yaml and its two checkpoints
    assert stages["transcribe"]["backend"] == "whisper"
    assert stages["transcribe"]["provenance"]["model"] == "whisper-large-v3"
