"""Shared fixtures: where the optional real media lives, and running the CLI in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = Path(os.environ.get("LSSD_SHARED_MEDIA", REPO.parent / "shared" / "media"))


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not (SHARED_MEDIA / "jfk.flac").is_file():
        pytest.skip(f"real media not available ({SHARED_MEDIA})")
    return SHARED_MEDIA


@pytest.fixture(autouse=True, scope="session")
def _isolated_model_store(tmp_path_factory):
    """Tests never read or write a user's model store unless they ask for it."""
    if "LSSD_MODEL_DIR" not in os.environ:
        os.environ["LSSD_MODEL_DIR"] = str(tmp_path_factory.mktemp("empty-model-store"))
    yield


def _mount_tmpfs(path: Path, size: str) -> None:
    """A small tmpfs at ``path``; skips the test where mounting is not permitted (tests run as root
    here, where chmod stops nobody, so a full or read-only disk needs a real file system)."""
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip() or 'mount failed'})")


def _umount(path: Path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A factory: ``small_disk(size)`` mounts a tmpfs of that size (e.g. "2m") and returns its path."""
    mounted: list[Path] = []

    def make(size: str, name: str = "disk") -> Path:
        path = tmp_path / name
        _mount_tmpfs(path, size)
        mounted.append(path)
        return path

    yield make
    for path in mounted:
        _umount(path)


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only, empty folder (a tmpfs remounted read-only)."""
    import subprocess

    path = tmp_path / "ro"
    _mount_tmpfs(path, "1m")
    proc = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True)
    if proc.returncode != 0:
        _umount(path)
        pytest.skip("cannot remount a tmpfs read-only here")
    yield path
    _umount(path)
