"""The catalog in models/: every entry parses, and its hashes agree with what the libraries themselves ship."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from lssd.errors import BadInputError
from lssd.paths import data_dir
from lssd.store import STAGES, get_store, load_catalog

from .conftest import file_block, header, write_entry

EXPECTED = {
    "htdemucs", "mdx_extra", "mdx_extra_q",
    "whisper-tiny", "whisper-base", "whisper-small", "whisper-medium", "whisper-large-v3", "whisper-turbo",
    "seamless-m4t-v2-large", "knn-vc", "knn-vc-wavlm-large", "wavlm-large-hf",
    "faster-whisper-tiny.en", "silero-vad",
}


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def real():
    return load_catalog(data_dir("models"))


def test_every_catalog_toml_parses_with_required_fields(real):
    tomls = sorted(p.stem for p in data_dir("models").glob("*.toml"))
    assert sorted(real.by_name) == tomls, "one TOML per model, named after it"
    assert set(real.by_name) >= EXPECTED
    for e in real.by_name.values():
        assert e.stage in STAGES and set(e.stages) <= set(STAGES)
        assert e.licence and e.licence_url.startswith("https://") and e.source.startswith("https://")
        assert e.title and e.library and e.description
        for f in e.files:
            assert f.url.startswith("https://") or (e.bundled and not f.url), (e.name, f.name)
            assert not f.sha256 or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
        if e.hf_repo:
            assert e.hf_revision and re.fullmatch(r"[0-9a-f]{40}", e.hf_revision)
            for f in e.files:
                assert f.url == f"https://huggingface.co/{e.hf_repo}/resolve/{e.hf_revision}/{f.name}"


def test_seamless_is_marked_non_commercial_and_serves_two_stages(real):
    e = real.resolve("seamless-m4t-v2-large")
    assert e.non_commercial and e.licence == "CC-BY-NC-4.0"
    assert set(e.stages) == {"translate", "synthesize"}
    assert "non-commercial" in e.licence_notice()
    assert sum(bool(f.sha256) for f in e.files) == 3  # the LFS files: two shards and the sentencepiece model
    assert all(not e.non_commercial for e in real.by_name.values() if e.name != "seamless-m4t-v2-large")


def test_whisper_entries_match_the_installed_whisper_download_table(real):
    # whisper/__init__.py's _MODELS embeds each checkpoint's full sha256 in its URL.
    source = Path(importlib.util.find_spec("whisper").origin).read_text()
    table = dict(re.findall(r'"([\w.-]+)": "(https://openaipublic[^"]+)"', source))
    whisper_entries = [e for e in real.by_name.values() if e.library == "openai-whisper"]
    assert len(whisper_entries) == 6
    for e in whisper_entries:
        (f,) = e.files
        assert f.url == table[e.name.removeprefix("whisper-")]
        assert f.sha256 == f.url.split("/")[-2]
    assert real.resolve("whisper-large").name == "whisper-large-v3"
    assert table["large"] == table["large-v3"]


def test_demucs_entries_match_the_installed_demucs_bags(real):
    remote = _package_dir("demucs") / "remote"
    root_url = re.search(r'ROOT_URL = "([^"]+)"', (_package_dir("demucs") / "pretrained.py").read_text()).group(1)
    urls, root = {}, ""
    for line in (remote / "files.txt").read_text().splitlines():
        line = line.strip()
        if line.startswith("root:"):
            root = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#"):
            urls[line] = root_url + root + line
    for name in ("htdemucs", "mdx_extra", "mdx_extra_q"):
        e = real.resolve(name)
        bag_file = remote / f"{name}.yaml"
        yaml_spec = next(f for f in e.files if f.name == bag_file.name)
        assert yaml_spec.sha256 == hashlib.sha256(bag_file.read_bytes()).hexdigest()
        assert yaml_spec.package == f"demucs:remote/{bag_file.name}"
        checkpoints = [f for f in e.files if f.name.endswith(".th")]
        sigs = yaml.safe_load(bag_file.read_text())["models"]
        assert [f.name.split("-")[0] for f in checkpoints] == sigs
        for f in checkpoints:
            assert f.url == urls[f.name]
            assert f.sha256_prefix == Path(f.name).stem.split("-")[1]


def test_bundled_entries_hash_what_the_installed_wheels_ship(real):
    for name in ("faster-whisper-tiny.en", "silero-vad"):
        e = real.resolve(name)
        folder = _package_dir(e.bundled.module) / e.bundled.path
        for f in e.files:
            data = (folder / f.name).read_bytes()
            assert len(data) == f.size
            if name == "faster-whisper-tiny.en" or importlib.metadata.version("silero-vad") == e.bundled.version:
                assert hashlib.sha256(data).hexdigest() == f.sha256


def test_unknown_model_is_one_sentence_listing_known_ones(real):
    with pytest.raises(BadInputError) as err:
        real.resolve("htdemux")
    msg = str(err.value)
    assert msg.startswith("unknown model 'htdemux'; known models: ") and "htdemucs" in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (header("x") + file_block("a.bin", "https://e.invalid/a", sha256="abc"), "not 64 hex digits"),
        (header("x", stage="dance") + file_block("a.bin", "https://e.invalid/a"), "stage 'dance'"),
        (header("x", extra='requires = ["ghost"]') + file_block("a.bin", "https://e.invalid/a"),
         "unknown model 'ghost'"),
        (header("x") + file_block("../a.bin", "https://e.invalid/a"), "relative path"),
        (header("x"), "[[files]]"),
        (header("x").replace('licence = "MIT"\n', "") + file_block("a.bin", "https://e.invalid/a"),
         "'licence' is required"),
        ("name = [", "not valid TOML"),
    ],
)
def test_malformed_entries_are_rejected_naming_the_file(tmp_path, body, complaint):
    write_entry(tmp_path, "x", body)
    with pytest.raises(BadInputError) as err:
        load_catalog(tmp_path)
    assert complaint in str(err.value) and "x.toml" in str(err.value)


def test_a_name_used_twice_is_rejected(tmp_path):
    write_entry(tmp_path, "a", header("a", extra='aliases = ["b"]') + file_block("f", "https://e.invalid/f"))
    write_entry(tmp_path, "b", header("b") + file_block("f", "https://e.invalid/f"))
    with pytest.raises(BadInputError, match="already used"):
        load_catalog(tmp_path)


def test_entries_filter_by_stage(catalog, model_dir):
    store = get_store(catalog_dir=catalog)
    assert {e.name for e in store.entries("voice-convert")} == {"fake-unpinned", "fake-needs"}
    with pytest.raises(BadInputError, match="unknown stage"):
        store.entries("dance")
