"""Issue 19, the model store's cases: a folder's symlink leading out is refused, a file without a
published size is bounded, a full disk is one line, and weights are hash-checked at first use (before
any library parses them), so a damaged model is passed over by ``auto`` with a notice."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lssd.backends import registry
from lssd.cli import main
from lssd.config import DubConfig
from lssd.errors import BadInputError, DamagedWeightsError
from lssd.languages import parse_langs
from lssd.store import ChecksumError, get_store
from lssd.store.catalog import DEFAULT_MAX_FILE_BYTES
from lssd.testing.tiny_models import build_demucs, copy_catalog, install

from .conftest import PAYLOADS, file_block, header, sha, write_entry


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def run(args: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def test_a_folder_symlink_leading_outside_is_refused(store, model_dir, tmp_path, capsys):
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:$6$secret")
    src = tmp_path / "usb"
    src.mkdir()
    (src / "free.pt").symlink_to(secret)
    with pytest.raises(BadInputError, match="symbolic link .* outside"):
        store.import_("fake-unpinned", src)
    assert leftovers(model_dir) == []
    code, log = run(["models", "import", "fake-unpinned", src], capsys)
    assert code == 2 and log.count("\n") == 1 and "Traceback" not in log, log
    inside = src / "real.pt"  # a link that stays inside the folder is the folder's own file
    inside.write_bytes(PAYLOADS["free.pt"])
    (src / "free.pt").unlink()
    (src / "free.pt").symlink_to(inside)
    store.import_("fake-unpinned", src)
    assert (model_dir / "fake-unpinned" / "free.pt").read_bytes() == PAYLOADS["free.pt"]


def test_a_file_without_a_published_size_is_bounded(catalog, store, model_dir, tmp_path):
    write_entry(catalog, "fake-sized", header("fake-sized", "voice-convert", "size = 1000")
                + file_block("free.pt", "https://example.invalid/free.pt"))
    archive = tmp_path / "zeros.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = bytes(200_000)
        info = tarfile.TarInfo("free.pt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(ChecksumError, match="larger than 4000 bytes"):
        get_store(echo=lambda m: None).import_("fake-sized", archive)
    assert leftovers(model_dir) == []


def test_every_catalogued_model_has_a_size_that_bounds_its_files(monkeypatch):
    monkeypatch.delenv("LSSD_CATALOG_DIR", raising=False)
    store = get_store(echo=lambda m: None)
    for entry in store.entries():
        assert entry.size > 0, entry.name  # published, or approximate in the catalog
        for spec in entry.files:
            assert entry.max_file_bytes(spec) <= min(DEFAULT_MAX_FILE_BYTES, 4 * entry.size), (entry.name, spec.name)


def test_an_import_into_a_full_disk_is_one_line(store, small_disk, tmp_path, monkeypatch, capsys):
    disk = small_disk("1m")
    monkeypatch.setenv("LSSD_MODEL_DIR", str(disk))
    src = tmp_path / "usb"
    src.mkdir()
    (src / "free.pt").write_bytes(bytes(3 << 20))
    code, log = run(["models", "import", "fake-unpinned", src], capsys)
    assert code == 1 and "No space left on device" in log and "Traceback" not in log, log
    assert [line for line in log.splitlines() if line.startswith("error:")] == [log.strip().splitlines()[-1]]
    assert leftovers(disk) == []


def test_a_planted_file_of_the_right_size_is_hashed_before_use(store, model_dir):
    folder = model_dir / "fake-model"
    folder.mkdir(parents=True)
    for name, data in PAYLOADS.items():
        (folder / name).write_bytes(data)
    assert store.require("fake-model") == folder  # good files: hashed once and recorded
    (folder / "weights.bin").write_bytes(bytes(len(PAYLOADS["weights.bin"])))  # same size, other bytes
    assert store.is_present("fake-model")  # presence is by size...
    with pytest.raises(DamagedWeightsError, match="weights.bin in the model store is damaged"):
        store.require("fake-model")  # ...use is by hash


@pytest.fixture
def damaged_demucs(tmp_path, monkeypatch):
    catalog, root = copy_catalog(tmp_path / "catalog"), tmp_path / "store"
    folder = install(catalog, root, "htdemucs", build_demucs(tmp_path / "build", "htdemucs"),
                     stage="separate", library="demucs")
    monkeypatch.setenv("LSSD_CATALOG_DIR", str(catalog))
    monkeypatch.setenv("LSSD_MODEL_DIR", str(root))
    checkpoint = next(folder.glob("*.th"))
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, a file torch may still parse
    checkpoint.write_bytes(bytes(data))
    return folder


def test_auto_passes_over_a_damaged_demucs_with_a_notice(damaged_demucs):
    cfg = DubConfig(langs=parse_langs("es"), device="cpu")
    chosen = registry.select("separate", "auto", cfg)
    assert chosen.backend.name == "dsp"
    assert any("'htdemucs' fails its hash check" in n for n in chosen.notices), chosen.notices
    with pytest.raises(DamagedWeightsError, match="htdemucs: .* is damaged"):
        registry.select("separate", "demucs", cfg)
