"""Issue 14's SEP data: ``--separate-only`` writes each clip with its speech removed, labelled with the
separator that did it, and ``lssd index`` reads the result as a one-language dataset."""

from __future__ import annotations

import pytest

from lssd.cli import main
from lssd.dataset import manifest
from lssd.dataset.worker import separated_by
from lssd.media import probe
from lssd.testing.tiny_models import build_demucs, copy_catalog, install
from tests.dataset.conftest import make_mini_lvu


def test_the_dsp_separator_is_labelled_as_the_fallback():
    assert separated_by("demucs", "mdx_extra_q") == "Demucs mdx_extra_q"
    assert "fallback" in separated_by("dsp", "htdemucs")


@pytest.mark.slow
def test_separate_only_writes_speech_removed_copies_that_index(tmp_path, clip_bank, monkeypatch):
    # mdx_extra: the paper's mdx_extra_q unquantized (the quantized one needs the diffq package)
    catalog, store = copy_catalog(tmp_path / "catalog"), tmp_path / "store"
    install(catalog, store, "mdx_extra", build_demucs(tmp_path / "b", "mdx_extra", models=2),
            stage="separate", library="demucs")
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("LSSD_MODEL_DIR", str(store))
    lvu = make_mini_lvu(tmp_path / "lvu", clips_from=clip_bank)
    out = tmp_path / "sep"
    args = ["build-dataset", str(lvu.root), "-o", str(out), "--separate-only", "--separator", "demucs",
            "--separator-model", "mdx_extra", "--source-lang", "en", "--workers", "1"]
    assert main(args) == 1  # the corrupt clip
    rows = {r["id"]: r for r in manifest.read(out)}
    for vid in lvu.speech:
        assert rows[vid]["status"] == "done" and rows[vid]["backends"] == {"separate": "demucs"}
        audio = probe(out / "videos" / f"{vid}.mkv").audio
        assert [(s.language, s.title) for s in audio] == [("eng", "English (speech removed: Demucs mdx_extra)")]
    before = {p: p.stat().st_mtime_ns for p in (out / "videos").iterdir()}
    assert main(args) == 1
    assert {p: p.stat().st_mtime_ns for p in (out / "videos").iterdir()} == before
    assert main(["index", str(out / "videos"), "--out", str(tmp_path / "i.parquet"), "--min-shot", "1"]) == 0
