"""Where lssd's data files live, in a checkout and in an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """``models`` or ``recipes``: inside a built wheel (lssd/_data/NAME) or at a checkout's top level."""
    packaged = _PKG / "_data" / name
    return packaged if packaged.is_dir() else _PKG.parent / name


def model_dir() -> Path:
    """The model store: ``LSSD_MODEL_DIR`` or a per-user cache directory."""
    env = os.environ.get("LSSD_MODEL_DIR")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("lssd")) / "models"
