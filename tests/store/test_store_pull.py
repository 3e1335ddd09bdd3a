"""`pull`: download from the (fake, loopback) official source, verify, write the manifest; refuse bad bytes."""

from __future__ import annotations

import json

import pytest

from lssd.cli import main
from lssd.errors import BadInputError
from lssd.store import ChecksumError, DownloadError
from lssd.store.manifest import MANIFEST

from .conftest import PAYLOADS, sha


def _one_error_line(capsys) -> str:
    """The CLI's failure is the last stderr line, alone (the licence line may precede it)."""
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


def test_pull_over_http_installs_verified_files_and_manifest(store, model_dir, server):
    report = store.pull("fake-model", progress=False)
    folder = model_dir / "fake-model"
    assert sorted(report.installed) == ["config.json", "sig-prefixed.th", "weights.bin"]
    for name in report.installed:
        assert (folder / name).read_bytes() == PAYLOADS[name]
    assert not list(folder.glob("*.part"))
    recorded = json.loads((folder / MANIFEST).read_text())
    assert recorded["model"] == "fake-model" and recorded["how"] == "pull"
    assert {k: v["sha256"] for k, v in recorded["files"].items()} == {n: sha(PAYLOADS[n]) for n in report.installed}
    assert store.is_present("fake-model") and store.status("fake-model") == "present"


def test_pull_from_a_file_url(store, model_dir):
    store.pull("fake-file", progress=False)
    assert (model_dir / "fake-file" / "weights.bin").read_bytes() == PAYLOADS["weights.bin"]
    assert store.is_present("fake-file")


def test_second_pull_downloads_nothing(store, server):
    store.pull("fake-model", progress=False)
    asked = len(server.requests)
    report = store.pull("fake-model", progress=False)
    assert report.installed == [] and len(report.kept) == 3
    assert len(server.requests) == asked
    store.pull("fake-model", progress=False, force=True)
    assert len(server.requests) == asked + 3


@pytest.mark.parametrize("name", ["fake-bad", "fake-badprefix"])
def test_sha256_mismatch_is_rejected_and_leaves_nothing(store, model_dir, name):
    with pytest.raises(ChecksumError) as err:
        store.pull(name, progress=False)
    assert "was not installed" in str(err.value) and "\n" not in str(err.value)
    folder = model_dir / name
    assert not (list(folder.rglob("*")) if folder.exists() else [])
    assert not store.is_present(name)


def test_sha256_mismatch_through_the_cli_is_one_line_and_non_zero(store, capsys):
    assert main(["models", "pull", "fake-bad", "--no-progress"]) != 0
    err = _one_error_line(capsys)
    assert "sha256" in err and "0" * 64 in err


def test_interrupted_download_resumes_from_the_part_file(store, model_dir, server):
    data = PAYLOADS["weights.bin"]
    part = model_dir / "fake-model" / "weights.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:300_000])
    store.pull("fake-model", progress=False)
    assert ("weights.bin", "bytes=300000-") in server.requests
    assert (model_dir / "fake-model" / "weights.bin").read_bytes() == data


def test_server_without_range_support_restarts_cleanly(store, model_dir, server):
    server.ranges = False
    part = model_dir / "fake-model" / "weights.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from some other attempt")
    store.pull("fake-model", progress=False)
    assert (model_dir / "fake-model" / "weights.bin").read_bytes() == PAYLOADS["weights.bin"]


def test_corrupt_part_file_is_discarded_and_the_next_pull_succeeds(store, model_dir):
    part = model_dir / "fake-model" / "weights.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage" * 1000)
    with pytest.raises(ChecksumError):
        store.pull("fake-model", progress=False)
    assert not part.exists()
    store.pull("fake-model", progress=False)
    assert store.is_present("fake-model")


def test_unpinned_file_gets_its_hash_recorded(store, model_dir):
    said = []
    store.echo = said.append
    store.pull("fake-unpinned", progress=False)
    assert any("publishes no checksum" in s and sha(PAYLOADS["free.pt"]) in s for s in said)
    assert any("licensed MIT" in s for s in said)


def test_pull_fetches_required_models_first(store):
    report = store.pull("fake-needs", progress=False)
    assert [r.name for r in report.requirements] == ["fake-unpinned"]
    assert store.is_present("fake-unpinned") and store.is_present("fake-needs")


def test_missing_remote_file_is_one_sentence(store):
    with pytest.raises(DownloadError) as err:
        store.pull("fake-missing-url", progress=False)
    assert "HTTP 404" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LSSD_OFFLINE"])
def test_offline_mode_refuses_hugging_face_pulls_pointing_to_import(store, monkeypatch, server, var):
    monkeypatch.setenv(var, "1")
    with pytest.raises(BadInputError) as err:
        store.pull("fake-hf", progress=False)
    msg = str(err.value)
    assert f"{var}=1" in msg and "lssd models import fake-hf DIR" in msg and "\n" not in msg
    assert server.requests == []


def test_hf_offline_does_not_block_non_hub_sources_but_lssd_offline_does(store, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store.pull("fake-file", progress=False)
    monkeypatch.setenv("LSSD_OFFLINE", "1")
    with pytest.raises(BadInputError, match="LSSD_OFFLINE"):
        store.pull("fake-model", progress=False)


def test_offline_refusal_through_the_cli(store, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "pull", "fake-hf"]) != 0
    assert "lssd models import fake-hf DIR" in _one_error_line(capsys)


def test_cli_pull_prints_licence_and_where_it_went(store, model_dir, capsys):
    assert main(["models", "pull", "fake-model", "--no-progress"]) == 0
    out = capsys.readouterr()
    assert "licensed MIT" in out.err
    assert "fake-model" in out.out and str(model_dir / "fake-model") in out.out


def test_non_commercial_licence_notice_is_printed_at_pull(catalog, model_dir, monkeypatch, server, capsys):
    toml = (catalog / "fake-hf.toml").read_text()
    toml = toml.replace('licence = "MIT"', 'licence = "CC-BY-NC-4.0"')
    toml = toml.replace("non_commercial = false", "non_commercial = true")
    (catalog / "fake-hf.toml").write_text(toml)
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    assert main(["models", "pull", "fake-hf", "--no-progress"]) == 0
    assert "NOTICE: fake-hf (Fake) is licensed CC-BY-NC-4.0, non-commercial use only" in capsys.readouterr().err


def test_pull_with_a_progress_bar(store, capsys):
    store.pull("fake-model", progress=True)
    assert store.is_present("fake-model")
    assert "weights.bin" in capsys.readouterr().err
