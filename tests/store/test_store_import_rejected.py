"""A rejected import leaves nothing behind: no file of the model, no ``.part``, no staging folder; and a
damaged archive is one sentence, never click's "Aborted!" with exit 130."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from lssd.cli import main
from lssd.errors import BadInputError
from lssd.store import ChecksumError, get_store

from .conftest import PAYLOADS


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_rejected_htdemucs_import_leaves_no_yaml(model_dir, tmp_path, monkeypatch):
    """The real htdemucs entry: its .yaml verifies (first), its checkpoint fails the published prefix."""
    monkeypatch.delenv("LSSD_CATALOG_DIR", raising=False)
    store = get_store(echo=lambda msg: None)
    entry = store.entry("htdemucs")
    src = tmp_path / "usb"
    src.mkdir()
    for spec in entry.files:
        (src / spec.name).write_bytes(b"models: ['955717e8']\n" if spec.name.endswith(".yaml") else b"not it")
    with pytest.raises(ChecksumError):
        store.import_("htdemucs", src)
    assert _leftovers(model_dir) == []


def test_import_missing_a_file_installs_none_of_the_others(store, model_dir, tmp_path):
    src = tmp_path / "usb"
    src.mkdir()
    (src / "weights.bin").write_bytes(PAYLOADS["weights.bin"])
    with pytest.raises(BadInputError, match="not found"):
        store.import_("fake-model", src)
    assert _leftovers(model_dir) == []


def test_rejected_import_keeps_a_good_earlier_install(store, model_dir, tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder in (good, bad):
        folder.mkdir()
        for name, data in PAYLOADS.items():
            (folder / name).write_bytes(data)
    (bad / "weights.bin").write_bytes(b"tampered" * 100)
    store.import_("fake-model", good)
    before = {p: p.read_bytes() for p in (model_dir / "fake-model").iterdir()}
    with pytest.raises(ChecksumError):
        store.import_("fake-model", bad)
    assert {p: p.read_bytes() for p in (model_dir / "fake-model").iterdir()} == before
    assert _leftovers(model_dir) == sorted(["fake-model", *(str(p.relative_to(model_dir)) for p in before)])
    assert store.is_present("fake-model") and store.verify("fake-model").ok


def _zip_with_bad_crc(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("weights.bin", PAYLOADS["weights.bin"])
        zf.writestr("config.json", PAYLOADS["config.json"])
        zf.writestr("sig-prefixed.th", PAYLOADS["sig-prefixed.th"])
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF  # inside weights.bin's stored bytes: the member's CRC no longer matches
    path.write_bytes(bytes(data))
    return path


def test_zip_with_a_bad_crc_is_one_sentence_and_leaves_no_part(store, model_dir, tmp_path, capsys):
    archive = _zip_with_bad_crc(tmp_path / "model.zip")
    assert main(["models", "import", "fake-model", str(archive)]) == BadInputError.exit_code
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and "damaged or truncated" in errors[0] and "weights.bin" in errors[0], errors
    assert _leftovers(model_dir) == []


def _truncated_tar_gz(path: Path) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in PAYLOADS.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def test_truncated_tar_gz_is_one_sentence_not_exit_130(store, model_dir, tmp_path, capsys):
    archive = _truncated_tar_gz(tmp_path / "model.tar.gz")
    code = main(["models", "import", "fake-model", str(archive)])
    err = capsys.readouterr().err
    assert code == BadInputError.exit_code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot read archive") and "Aborted" not in err
    assert "damaged or truncated" in lines[0]
    assert _leftovers(model_dir) == []


def test_an_eof_error_reaching_the_cli_is_not_reported_as_ctrl_c(monkeypatch, capsys):
    import lssd.store.cli as store_cli

    def ends_early(*args, **kwargs):
        raise EOFError("Ran out of input")

    monkeypatch.setattr(store_cli, "get_store", ends_early)
    code = main(["models", "list"])
    err = capsys.readouterr().err
    assert code not in (0, 130)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["error: a file ended before its data did (EOFError: Ran out of input)"], lines


def test_an_import_killed_midway_leaves_nothing_the_next_one_keeps(store, model_dir, tmp_path):
    staging = model_dir / ".fake-model.import"
    staging.mkdir(parents=True)
    (staging / "weights.bin.part").write_bytes(b"half")  # what a SIGKILLed import leaves
    src = tmp_path / "usb"
    src.mkdir()
    for name, data in PAYLOADS.items():
        (src / name).write_bytes(data)
    store.import_("fake-model", src)
    assert _leftovers(model_dir) == sorted(["fake-model", "fake-model/.lssd-manifest.json", "fake-model/config.json",
                                            "fake-model/sig-prefixed.th", "fake-model/weights.bin"])


def test_a_second_install_of_the_same_model_at_once_refuses_in_one_sentence(store, model_dir, tmp_path):
    from lssd.locks import LockedError

    src = tmp_path / "usb"
    src.mkdir()
    (src / "free.pt").write_bytes(PAYLOADS["free.pt"])
    with store.installing(store.entry("fake-unpinned")):  # another process pulling or importing it
        with pytest.raises(LockedError) as err:
            get_store(echo=lambda msg: None).import_("fake-unpinned", src)
        with pytest.raises(LockedError):
            get_store(echo=lambda msg: None).pull("fake-unpinned", progress=False)
    assert "fake-unpinned" in str(err.value) and "\n" not in str(err.value)
    assert not (model_dir / "fake-unpinned").exists()
