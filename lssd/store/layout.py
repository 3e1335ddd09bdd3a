"""Where the model store's files are and whether they are there: the catalog plus one root folder,
laid out as ``<root>/<name>/<files>``. The part of :class:`lssd.store.Store` that every helper module
(install, pull, verify, messages, provenance, joined) needs; it imports none of them, so they all sit
below :mod:`lssd.store.store`, which adds the actions (require, pull, import, verify, provenance)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from lssd.locks import exclusive

from . import manifest
from .catalog import Catalog, ModelEntry, ModelFile
from .packages import distribution_version, package_dir

Echo = Callable[[str], None]


def _stderr(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(msg, markup=False)


class StoreLayout:
    """A catalog plus a root folder: what is known, where it is, whether it is there."""

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
