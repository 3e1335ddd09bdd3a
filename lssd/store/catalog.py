"""The model catalog: one TOML file per pretrained model in ``models/``, read into frozen dataclasses.

The catalog is data, not code, so adding a model or fixing a hash never touches Python. It is checked
strictly on load: a typo in a hash or a stage name should fail at once, not after a 5 GB download.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lssd import stages
from lssd.errors import BadInputError

# catalog stages: the dub stages that load models, plus Silero's voice-activity detector
VAD = "vad"
STAGES = (*stages.BACKEND_OPTIONS, VAD)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, as its official source publishes it.

    ``sha256`` is set where the source publishes a full hash; ``sha256_prefix`` where it only publishes
    a prefix (Demucs puts 8 hex digits in each file name); both empty means the source publishes no
    checksum and the hash is recorded on first download. ``package`` names the same file inside an
    installed wheel (``module:relative/path``), which is used instead of the network when it matches.
    """

    name: str
    url: str = ""
    sha256: str = ""
    sha256_prefix: str = ""
    size: int = 0
    package: str = ""

    def __getitem__(self, key: str) -> Any:
        """Dict-style access (``f["sha256"]``) for callers that treat files as plain records."""
        return getattr(self, key)

    @property
    def pinned(self) -> bool:
        return bool(self.sha256 or self.sha256_prefix)


@dataclass(frozen=True)
class Bundled:
    """A model that ships inside a pip package, so it is present wherever that package is installed."""

    module: str
    distribution: str
    path: str
    version: str


SIZE_MARGIN = 4  # an approximate catalog size bounds one file at this many times the model's size
DEFAULT_MAX_FILE_BYTES = 16 << 30  # and never more than this (no catalogued file is larger)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    stage: str
    library: str
    title: str
    description: str
    licence: str
    licence_url: str
    non_commercial: bool
    source: str
    files: tuple[ModelFile, ...]
    size: int
    size_exact: bool
    stages: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    hf_repo: str | None = None
    hf_revision: str | None = None
    bundled: Bundled | None = None
    notes: str = ""
    catalog_file: Path | None = field(default=None, compare=False)

    def max_file_bytes(self, spec: ModelFile) -> int:
        """The most bytes an import or download of ``spec`` may write before it is refused: its published
        size, else the model's (approximate) size times a margin, else a default, so a file of endless
        zeros never fills the disk."""
        if spec.size:
            return spec.size
        return min(self.size * SIZE_MARGIN, DEFAULT_MAX_FILE_BYTES) if self.size else DEFAULT_MAX_FILE_BYTES

    def licence_notice(self) -> str:
        """The sentence to print when this model is pulled or used (stronger for non-commercial)."""
        if self.non_commercial:
            return (
                f"NOTICE: {self.name} ({self.title}) is licensed {self.licence}, non-commercial use only; "
                f"anything you make with it is bound by that licence: {self.licence_url}"
            )
        return f"{self.name} ({self.title}) is licensed {self.licence}: {self.licence_url}"


def _fail(path: Path, msg: str) -> BadInputError:
    return BadInputError(f"model catalog {path}: {msg}")


def _str(data: dict[str, Any], key: str, path: Path, *, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise _fail(path, f"'{key}' must be a string")
    if required and not value.strip():
        raise _fail(path, f"'{key}' is required")
    return value.strip()


def _strs(data: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"'{key}' must be a list of strings")
    return tuple(value)


def _file(raw: Any, path: Path, bundled: bool) -> ModelFile:
    if not isinstance(raw, dict):
        raise _fail(path, "each [[files]] must be a table")
    name = _str(raw, "name", path)
    if name.startswith(("/", ".")) or ".." in Path(name).parts:
        raise _fail(path, f"file name '{name}' must be a relative path inside the model folder")
    url = _str(raw, "url", path, required=not bundled)
    sha = _str(raw, "sha256", path, required=False).lower()
    prefix = _str(raw, "sha256_prefix", path, required=False).lower()
    if sha and not _HEX64.match(sha):
        raise _fail(path, f"sha256 of '{name}' is not 64 hex digits")
    if prefix and (not _HEX.match(prefix) or len(prefix) >= 64):
        raise _fail(path, f"sha256_prefix of '{name}' is not a short hex string")
    if sha and prefix:
        raise _fail(path, f"'{name}' has both sha256 and sha256_prefix; keep the full one")
    size = raw.get("size", 0)
    if not isinstance(size, int) or size < 0:
        raise _fail(path, f"size of '{name}' must be a whole number of bytes")
    package = _str(raw, "package", path, required=False)
    if package and ":" not in package:
        raise _fail(path, f"package of '{name}' must look like 'module:relative/path'")
    return ModelFile(name=name, url=url, sha256=sha, sha256_prefix=prefix, size=size, package=package)


def parse_entry(path: Path) -> ModelEntry:
    """Read and check one catalog TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML ({exc})") from None
    name = _str(data, "name", path)
    if not _NAME.match(name):
        raise _fail(path, f"name '{name}' may only use letters, digits, '.', '_' and '-'")
    stage = _str(data, "stage", path)
    stages = _strs(data, "stages", path) or (stage,)
    if stage not in stages:
        stages = (stage, *stages)
    for s in stages:
        if s not in STAGES:
            raise _fail(path, f"stage '{s}' is not one of {', '.join(STAGES)}")
    non_commercial = data.get("non_commercial", False)
    if not isinstance(non_commercial, bool):
        raise _fail(path, "'non_commercial' must be true or false")

    bundled = None
    if "bundled" in data:
        b = data["bundled"]
        if not isinstance(b, dict):
            raise _fail(path, "[bundled] must be a table")
        bundled = Bundled(
            module=_str(b, "module", path),
            distribution=_str(b, "distribution", path),
            path=_str(b, "path", path, required=False),
            version=_str(b, "version", path),
        )
    raw_files = data.get("files", [])
    if not isinstance(raw_files, list) or not raw_files:
        raise _fail(path, "at least one [[files]] entry is required")
    files = tuple(_file(f, path, bundled is not None) for f in raw_files)
    if len({f.name for f in files}) != len(files):
        raise _fail(path, "file names must be unique")

    declared = data.get("size", 0)
    if not isinstance(declared, int) or declared < 0:
        raise _fail(path, "'size' must be a whole number of bytes")
    exact = all(f.size for f in files)
    size = sum(f.size for f in files) if exact else declared

    hf_repo = _str(data, "hf_repo", path, required=False) or None
    hf_revision = _str(data, "hf_revision", path, required=False) or None
    return ModelEntry(
        name=name,
        stage=stage,
        stages=stages,
        library=_str(data, "library", path),
        title=_str(data, "title", path),
        description=_str(data, "description", path),
        licence=_str(data, "licence", path),
        licence_url=_str(data, "licence_url", path),
        non_commercial=non_commercial,
        source=_str(data, "source", path),
        files=files,
        size=size,
        size_exact=exact,
        aliases=_strs(data, "aliases", path),
        requires=_strs(data, "requires", path),
        hf_repo=hf_repo,
        hf_revision=hf_revision,
        bundled=bundled,
        notes=_str(data, "notes", path, required=False),
        catalog_file=path,
    )


@dataclass(frozen=True)
class Catalog:
    """All entries of one catalog directory, by name, with aliases resolved."""

    directory: Path
    by_name: dict[str, ModelEntry]
    aliases: dict[str, str]

    def resolve(self, name: str) -> ModelEntry:
        key = self.aliases.get(name, name)
        try:
            return self.by_name[key]
        except KeyError:
            known = ", ".join(sorted(self.by_name))
            raise BadInputError(f"unknown model '{name}'; known models: {known}.") from None

    def entries(self, stage: str | None = None) -> list[ModelEntry]:
        if stage is not None and stage not in STAGES:
            raise BadInputError(f"unknown stage '{stage}'; stages are {', '.join(STAGES)}.")
        found = [e for e in self.by_name.values() if stage is None or stage in e.stages]
        return sorted(found, key=lambda e: (STAGES.index(e.stage), e.name))


def load_catalog(directory: Path) -> Catalog:
    """Parse every ``*.toml`` in ``directory`` (cached per directory and modification times)."""
    directory = Path(directory).expanduser().resolve()
    if not directory.is_dir():
        raise BadInputError(f"model catalog folder {directory} does not exist.")
    files = sorted(directory.glob("*.toml"))
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _load(directory, stamp)


@lru_cache(maxsize=16)
def _load(directory: Path, stamp: tuple[tuple[str, int, int], ...]) -> Catalog:
    by_name: dict[str, ModelEntry] = {}
    aliases: dict[str, str] = {}
    for fname, _, _ in stamp:
        path = directory / fname
        entry = parse_entry(path)
        for key in (entry.name, *entry.aliases):
            if key in by_name or key in aliases:
                raise _fail(path, f"name '{key}' is already used by another entry")
        by_name[entry.name] = entry
        aliases.update({a: entry.name for a in entry.aliases})
    for entry in by_name.values():
        for req in entry.requires:
            if aliases.get(req, req) not in by_name:
                raise _fail(entry.catalog_file or directory, f"requires unknown model '{req}'")
    return Catalog(directory=directory, by_name=by_name, aliases=aliases)
