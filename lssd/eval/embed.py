"""Frozen embeddings of many media files: per window and per file (the mean over its windows).

A store is a folder: ``meta.json`` (what made the embeddings: checkpoint, window, audio language,
widths) and ``items/<id>.npz`` per file with ``starts`` (n,), ``audio_windows`` (n, Da), ``audio``
(Da,) and, for audiovisual runs, ``video_windows`` (n, Dv) and ``video`` (Dv,). Each item is written
under a temporary name then renamed, so a killed run leaves only whole items and the next run embeds
what is missing (resumable). Windows of consecutive files are batched through the backbones; decoding
runs in DataLoader workers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lssd import locks
from lssd.errors import BadInputError, LssdError
from lssd.eval.backbones import Backbones
from lssd.eval.windows import MediaInfo, audio_input, probe_media, video_input, window_starts
from lssd.media import atomic_output, read_json, write_json

log = logging.getLogger(__name__)

STORE_FORMAT = "lssd-embeddings/1"
META = "meta.json"
ITEMS = "items"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


class EmbeddingStore:
    """One folder of embeddings made by one model with one set of input settings."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, item: str) -> Path:
        return self.root / ITEMS / f"{item}.npz"

    def has(self, item: str) -> bool:
        return self.path(item).is_file()

    def ids(self) -> list[str]:
        folder = self.root / ITEMS
        return sorted(p.name[:-4] for p in folder.glob("*.npz")) if folder.is_dir() else []

    def meta(self) -> dict[str, Any] | None:
        return read_json(self.root / META) if (self.root / META).is_file() else None

    def claim(self, meta: dict[str, Any]) -> None:
        """Write ``meta`` for a new store, or check that an existing store was made the same way:
        mixing two models' embeddings in one store would make every probe meaningless."""
        old = self.meta()
        if old is None:
            write_json(self.root / META, meta)
        elif old != meta:
            diff = ", ".join(f"{k}: {old.get(k)!r} here, {meta.get(k)!r} now" for k in meta if old.get(k) != meta.get(k))
            raise BadInputError(f"{self.root} holds embeddings made differently ({diff}); "
                                f"use another output folder or delete it")

    def write(self, item: str, arrays: Mapping[str, np.ndarray]) -> None:
        with atomic_output(self.path(item)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def read(self, item: str) -> dict[str, np.ndarray]:
        if not self.has(item):
            raise BadInputError(f"no embedding of {item} in {self.root}")
        with np.load(self.path(item)) as data:
            return {k: data[k] for k in data.files}

    def matrix(self, items: list[str], key: str) -> np.ndarray:
        """(len(items), D) float32 of one key (``video``, ``audio``) in the order of ``items``."""
        return np.stack([self.read(item)[key] for item in items]).astype(np.float32, copy=False)


def store_meta(backbones: Backbones, language: str | None) -> dict[str, Any]:
    return {"format": STORE_FORMAT, "source": backbones.source, "window": backbones.window,
            "audio_language": language or "original", "video_dim": backbones.video_dim,
            "audio_dim": backbones.audio_dim, "video": _plain(backbones.video_cfg),
            "audio": _plain(backbones.audio_cfg)}


def _plain(cfg: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(cfg)))  # tuples → lists, as they read back from JSON


# ----------------------------------------------------------------------------------------- decoding

@dataclass(frozen=True)
class _Window:
    item: str
    info: MediaInfo
    index: int
    start: float


class _WindowDataset(Dataset):
    """One decoded window per index; a decoding failure becomes an ``error`` entry, not a crash, so
    one broken file among thousands only drops that file."""

    def __init__(self, windows: list[_Window], backbones: Backbones) -> None:
        self.windows = windows
        self.window = backbones.window
        self.video_cfg = backbones.video_cfg if backbones.video is not None else None
        self.audio_cfg = backbones.audio_cfg

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from lssd.train.data import MediaReader

        w = self.windows[i]
        out: dict[str, Any] = {"item": w.item, "index": w.index, "error": None}
        try:
            reader = MediaReader(w.info.path, w.info.video_stream)
            try:
                if self.video_cfg is not None:
                    out["v"] = video_input(reader, w.info, w.start, self.window, self.video_cfg)
                out["a"] = audio_input(reader, w.info, w.start, self.window, self.audio_cfg)
            finally:
                reader.close()
        except LssdError as err:
            out["error"] = str(err)
        except Exception as err:  # noqa: BLE001 - PyAV raises many types for broken streams
            out["error"] = f"{type(err).__name__}: {err}"
        return out


def _items(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


# ----------------------------------------------------------------------------------------- embedding

@dataclass
class EmbedReport:
    embedded: list[str]  # newly written
    reused: list[str]  # already in the store
    failed: dict[str, str]  # id → one-line reason


def embed_media(backbones: Backbones, media: Mapping[str, Path], out: Path, *, language: str | None = None,
                batch_size: int = 16, num_workers: int = 0, progress: bool = True) -> EmbedReport:
    """Embed every ``id → file`` of ``media`` into the store at ``out`` (those already there are kept)."""
    for item in media:
        if not _SAFE_ID.match(item):
            raise BadInputError(f"{item!r} cannot name an embedding file (letters, digits, _ - . only)")
    store = EmbeddingStore(out)
    store.root.mkdir(parents=True, exist_ok=True)
    with locks.exclusive(store.root / ".lock", f"embedding store {store.root}"):
        store.claim(store_meta(backbones, language))
        reused = [item for item in media if store.has(item)]
        failed: dict[str, str] = {}
        windows: list[_Window] = []
        for item, path in media.items():
            if store.has(item):
                continue
            try:
                info = probe_media(path, language)
            except LssdError as err:
                failed[item] = str(err)
                continue
            windows += [_Window(item, info, k, float(s))
                        for k, s in enumerate(window_starts(info.duration, backbones.window))]
        embedded = _run(backbones, windows, store, failed, batch_size, num_workers, progress)
    for item, reason in failed.items():
        log.warning("%s: not embedded, %s", item, reason)
    return EmbedReport(embedded, reused, failed)


def _run(backbones: Backbones, windows: list[_Window], store: EmbeddingStore, failed: dict[str, str],
         batch_size: int, num_workers: int, progress: bool) -> list[str]:
    if not windows:
        return []
    starts: dict[str, list[float]] = {w.item: [] for w in windows}
    for w in windows:
        starts[w.item].append(w.start)
    loader = DataLoader(_WindowDataset(windows, backbones), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=_items)
    pending: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    done: list[str] = []
    with progress_bar(progress, len(windows)) as bar:
        for batch in loader:
            good = [x for x in batch if x["error"] is None and x["item"] not in failed]
            for x in batch:
                if x["error"] is not None:
                    failed.setdefault(x["item"], x["error"])
                    pending.pop(x["item"], None)
            for x, feats in zip(good, _forward(backbones, good)):
                pending.setdefault(x["item"], {})[x["index"]] = feats
                if len(pending[x["item"]]) == len(starts[x["item"]]):
                    store.write(x["item"], _item_arrays(pending.pop(x["item"]), starts[x["item"]]))
                    done.append(x["item"])
            if bar is not None:
                bar.advance(bar.task_ids[0], len(batch))
    return done


@torch.inference_mode()
def _forward(backbones: Backbones, items: list[dict[str, Any]]) -> list[dict[str, np.ndarray]]:
    if not items:
        return []
    device = backbones.device
    out: dict[str, np.ndarray] = {}
    out["audio"] = backbones.audio(torch.stack([x["a"] for x in items]).to(device)).float().cpu().numpy()
    if backbones.video is not None:
        out["video"] = backbones.video(torch.stack([x["v"] for x in items]).to(device)).float().cpu().numpy()
    return [{k: v[i] for k, v in out.items()} for i in range(len(items))]


def _item_arrays(per_window: dict[int, dict[str, np.ndarray]], starts: list[float]) -> dict[str, np.ndarray]:
    order = sorted(per_window)
    arrays: dict[str, np.ndarray] = {"starts": np.asarray(starts, dtype=np.float64)}
    for key in per_window[order[0]]:
        stacked = np.stack([per_window[k][key] for k in order]).astype(np.float32)
        arrays[f"{key}_windows"] = stacked
        arrays[key] = stacked.mean(axis=0)
    return arrays


def progress_bar(enabled: bool, total: int, label: str = "embed", unit: str = "windows"):
    """A Rich bar with one task (``bar.task_ids[0]``), or a null context when disabled or empty."""
    import contextlib

    if not enabled or total == 0:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                   TimeRemainingColumn())
    bar.add_task(label, total=total)
    return bar
