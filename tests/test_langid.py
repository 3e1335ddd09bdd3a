"""lssd.langid: the multilingual Whisper base joined from its two wheels, and language ID with it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from lssd import langid
from lssd.dsp.testsignals import espeak
from lssd.store import ChecksumError, get_store
from lssd.store.joined import materialise


def test_whisper_codes_become_container_tags():
    assert [langid.iso3(c) for c in ("en", "es", "de", "zh", "haw", "jw", "sw")] == \
        ["eng", "spa", "deu", "zho", "haw", "jav", "swa"]


def test_loudest_window_finds_the_speech():
    sr = langid.WHISPER_SR
    audio = np.zeros(70 * sr, dtype=np.float32)
    audio[50 * sr:52 * sr] = 0.5
    window = langid.loudest_window(audio)
    assert window.size == 30 * sr and np.sum(window**2) == pytest.approx(np.sum(audio**2))
    assert langid.loudest_window(audio[: 5 * sr]).size == 5 * sr


def _split_package(root, name: str, rel: str, data: bytes) -> None:
    pkg = root / name
    (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / rel).write_bytes(data)


def _catalog(tmp_path, sha: str, size: int):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "split.toml").write_text(f'''
name = "split-model"
title = "t"
stage = "transcribe"
library = "x"
description = "d"
licence = "MIT"
licence_url = "u"
source = "s"
[[files]]
name = "model.bin"
url = "https://example.invalid/model.bin"
sha256 = "{sha}"
size = {size}
package = "qc_part_a:data/m.part1+qc_part_b:data/m.part2"
''')
    return get_store(catalog_dir=tmp_path / "cat", model_dir=tmp_path / "store", echo=lambda m: None)


def test_split_wheels_join_into_the_store_checked(tmp_path, monkeypatch):
    one, two = b"a" * 100_000, b"b" * 50_000
    _split_package(tmp_path / "site", "qc_part_a", "data/m.part1", one)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    store = _catalog(tmp_path, hashlib.sha256(one + two).hexdigest(), len(one + two))
    assert materialise(store, "split-model") is False  # part 2's wheel is missing: nothing written
    assert not (store.root / "split-model" / "model.bin").exists()
    _split_package(tmp_path / "site", "qc_part_b", "data/m.part2", two)
    assert materialise(store, "split-model") is True
    assert (store.root / "split-model" / "model.bin").read_bytes() == one + two
    assert store.status("split-model") == "present" and store.verify("split-model").ok
    assert sorted(p.name for p in (store.root / "split-model").iterdir()) == [".lssd-manifest.json", "model.bin"]


def test_a_part_that_does_not_join_to_the_pinned_hash_is_refused(tmp_path, monkeypatch):
    _split_package(tmp_path / "site", "qc_part_a", "data/m.part1", b"a" * 10)
    _split_package(tmp_path / "site", "qc_part_b", "data/m.part2", b"tampered")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    store = _catalog(tmp_path, "0" * 64, 20)
    with pytest.raises(ChecksumError):
        materialise(store, "split-model")
    assert [p.name for p in (store.root / "split-model").iterdir() if not p.name.startswith(".join")] == []


def test_bundled_base_model_detects_spoken_language():
    """Real model: the joined files equal Systran's (catalog sha256s), and espeak speech is recognised."""
    folder = langid.model_folder()
    assert get_store().verify(langid.MODEL).ok
    assert (folder / "model.bin").stat().st_size == 145_217_532
    for voice, text, expected in (
        ("es", "Buenos días. Me llamo Pedro y vivo en una casa grande cerca del mar con mi familia.", "spa"),
        ("fr", "Bonjour. Je m'appelle Pierre et j'habite dans une grande maison près de la mer.", "fra"),
        ("en", "Good morning. My name is Peter and I live in a big house by the sea with my family.", "eng"),
    ):
        language, probability, model = langid.detect(espeak(text, voice), 48_000)
        assert (language, model) == (expected, langid.MODEL)
        assert 0.3 < probability <= 1.0
