"""Model store and catalog: which pretrained weights lssd knows, where they live, and how they get there.

Backends call ``get_store().require(name, stage=..., fallback=...)`` before any work and record
``provenance(name)`` in the sidecar; users run ``lssd models list|pull|import|verify|path|info``.
"""

from .catalog import STAGES, Bundled, Catalog, ModelEntry, ModelFile, load_catalog
from .download import ChecksumError, DownloadError
from .install import InstallReport
from .store import Store, get_store
from .verify import ModelCheck, VerifyReport

__all__ = [
    "STAGES",
    "Bundled",
    "Catalog",
    "ChecksumError",
    "DownloadError",
    "InstallReport",
    "ModelCheck",
    "ModelEntry",
    "ModelFile",
    "Store",
    "VerifyReport",
    "get_store",
    "load_catalog",
]
