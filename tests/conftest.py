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
