"""Models that ship inside pip wheels: where an installed package lives and which version it is, found
without importing it (no torch at startup)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path


def package_dir(module: str) -> Path | None:
    """Directory of an installed top-level package, or None."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(ref: str) -> Path | None:
    """The file ``module:relative/path`` names inside an installed package, or None."""
    module, _, rel = ref.partition(":")
    base = package_dir(module)
    path = base / rel if base else None
    return path if path and path.is_file() else None


def distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
