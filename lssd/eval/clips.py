"""Labelled-clip tasks (VGGSound, UCF101, HMDB51, ESC-50 once downloaded): a folder of clips and a CSV.

The CSV (``labels.csv``, or the only ``*.csv`` in the folder) has a header and the columns ``path``
(relative to the folder), ``label`` (one label, or several joined by ``;`` for a multi-label task) and
either ``split`` (``train``, ``val``/``valid``, ``test``) or ``fold`` (any names; folds rotate as
HEAR's: test = fold i, val = fold i+1, train = the rest, and the scores are the mean ± std over
rotations). Each run embeds every clip once (``OUT/embeddings/<run>``, resumable; clips that cannot
be decoded are dropped and counted) and is probed on video, audio and audio+video embeddings:
linear (App. B.3.1) or the MLP grid (Table B.1's protocol), scored by top-1 and mAP (mAP only for
multi-label tasks). The LVU runner shares the probing and the table cells (:mod:`lssd.eval.modalities`).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lssd.errors import BadInputError
from lssd.eval.backbones import load_backbones, run_name, unique_names
from lssd.eval.embed import EmbeddingStore, embed_media
from lssd.eval.hear_tasks import rotate_folds
from lssd.eval.modalities import MODALITIES, cell, check_probe, probe_modalities
from lssd.eval.probes import CLASSIFICATION, METRICS, MULTILABEL, LinearConfig, MLPGrid, ProbeResult
from lssd.media import write_json

RESULTS = "clips_results.json"
DEFAULT_CSV = "labels.csv"
SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Clip:
    item: str  # embedding id
    path: Path
    labels: tuple[str, ...]
    split: str  # train | val | test, or a fold name


@dataclass
class ClipTask:
    name: str
    clips: list[Clip]
    labels: list[str]  # sorted vocabulary
    multilabel: bool
    folds: list[str] | None  # None: fixed train/val/test

    @property
    def kind(self) -> str:
        return MULTILABEL if self.multilabel else CLASSIFICATION

    def rotations(self) -> list[dict[str, list[str]]]:
        if self.folds is None:
            return [{"train": ["train"], "valid": ["val"], "test": ["test"]}]
        return rotate_folds(self.folds)

    def targets(self, clips: list[Clip]) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels)}
        if not self.multilabel:
            return np.array([index[c.labels[0]] for c in clips], dtype=np.int64)
        y = np.zeros((len(clips), len(self.labels)), dtype=np.float32)
        for i, c in enumerate(clips):
            y[i, [index[lab] for lab in c.labels]] = 1.0
        return y


def clip_item(relative: str) -> str:
    """An embedding id for a clip path: the path with ``/`` as ``__``, hashed if it has other characters
    or a ``__`` of its own (``a/b.mp4`` and ``a__b.mp4`` must not share one embedding)."""
    item = relative.replace("/", "__")
    safe = _UNSAFE.sub("_", item).lstrip(".") or "clip"
    return safe if safe == item and "__" not in relative else f"{safe}-{hashlib.sha1(relative.encode()).hexdigest()[:8]}"


def read_clip_task(folder: Path, csv_name: str | None = None) -> ClipTask:
    """Read and check a task folder; every problem is one sentence."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"{folder} is not a folder")
    path = _find_csv(folder, csv_name)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        raise BadInputError(f"{path} cannot be read ({err})") from None
    columns = set(rows[0]) if rows else set()
    if not rows or not {"path", "label"} <= columns or not ({"split", "fold"} & columns):
        raise BadInputError(f"{path.name} needs a header with path, label and split (or fold) columns, and rows")
    by_fold = "split" not in columns
    clips, seen = [], set()
    for n, row in enumerate(rows, start=2):
        rel = (row["path"] or "").strip()
        labels = tuple(sorted({x.strip() for x in (row["label"] or "").split(";") if x.strip()}))
        part = ((row["fold"] if by_fold else row["split"]) or "").strip()  # a short row reads None
        if not rel or not labels or not part:
            raise BadInputError(f"{path.name} line {n}: path, label and {'fold' if by_fold else 'split'} are needed")
        if not by_fold:
            if part.lower() not in SPLIT_ALIASES:
                raise BadInputError(f"{path.name} line {n}: split must be train, val or test, got {part!r}")
            part = SPLIT_ALIASES[part.lower()]
        if rel in seen:
            raise BadInputError(f"{path.name} line {n}: {rel} is listed twice")
        seen.add(rel)
        clips.append(Clip(clip_item(rel), folder / rel, labels, part))
    multilabel = any(len(c.labels) > 1 for c in clips)
    folds = sorted({c.split for c in clips}) if by_fold else None
    if folds is None:
        missing = [s for s in ("train", "val", "test") if not any(c.split == s for c in clips)]
        if missing:
            raise BadInputError(f"{path.name} has no {', '.join(missing)} clips")
    labels = sorted({lab for c in clips for lab in c.labels})
    return ClipTask(folder.name, clips, labels, multilabel, folds)


def _find_csv(folder: Path, csv_name: str | None) -> Path:
    if csv_name is not None:
        path = folder / csv_name
        if not path.is_file():
            raise BadInputError(f"{path} does not exist")
        return path
    if (folder / DEFAULT_CSV).is_file():
        return folder / DEFAULT_CSV
    found = sorted(folder.glob("*.csv"))
    if len(found) != 1:
        raise BadInputError(f"{folder} needs one CSV of clips ({DEFAULT_CSV}, or name it with --csv); "
                            f"found {len(found)}")
    return found[0]


@dataclass
class ClipsResult:
    """One run on one task: per modality, a probe per rotation (test fold → probe)."""

    name: str
    source: str
    dropped: dict[str, str]  # clip → why it was not embedded
    probes: dict[str, dict[str, ProbeResult]] = field(default_factory=dict)


def run_clips(runs: Sequence[Path], task_dir: Path, out: Path, *, csv_name: str | None = None, probe: str = "linear",
              linear: LinearConfig = LinearConfig(), grid: MLPGrid = MLPGrid(), language: str | None = None,
              device: str | None = None, batch_size: int = 16, num_workers: int = 0,
              progress: bool = True) -> tuple[ClipTask, list[ClipsResult]]:
    """Embed the task's clips with every run and probe each modality; writes ``OUT/clips_results.json``."""
    check_probe(probe)
    if not runs:
        raise BadInputError("give at least one run directory or checkpoint")
    task = read_clip_task(task_dir, csv_name)
    absent = [c for c in task.clips if not c.path.is_file()]
    present = {c.item: c.path for c in task.clips if c.path.is_file()}
    if not present:
        raise BadInputError(f"none of the clips listed in {task.name}'s CSV exists")
    results = []
    for run, name in zip(runs, unique_names([run_name(Path(r)) for r in runs])):
        backbones = load_backbones(Path(run), device, name)
        store_dir = Path(out) / "embeddings" / (name if language is None else f"{name}.{language}")
        report = embed_media(backbones, present, store_dir, language=language, batch_size=batch_size,
                             num_workers=num_workers, progress=progress)
        store = EmbeddingStore(store_dir)
        dropped = {c.item: "file absent" for c in absent} | dict(report.failed)
        result = ClipsResult(name, backbones.source, dropped)
        for rotation in task.rotations():
            parts = []
            for key in ("train", "valid", "test"):
                clips = [c for c in task.clips if c.split in rotation[key] and store.has(c.item)]
                parts.append(([c.item for c in clips], task.targets(clips)))
            empty = [k for k, (ids, _) in zip(("train", "val", "test"), parts) if not ids]
            if empty:
                raise BadInputError(f"{task.name}: no embedded clip in the {', '.join(empty)} split")
            fold = "|".join(rotation["test"])
            for modality, result_ in probe_modalities(store, parts, task.kind, probe, linear, grid,
                                                      str(backbones.device), task.name).items():
                result.probes.setdefault(modality, {})[fold] = result_
        results.append(result)
    write_json(Path(out) / RESULTS, results_dict(task, results))
    return task, results


def results_dict(task: ClipTask, results: list[ClipsResult]) -> dict[str, Any]:
    return {"task": task.name, "kind": task.kind, "labels": task.labels, "folds": task.folds, "runs": {
        r.name: {"source": r.source, "dropped": r.dropped, "probes": {
            modality: {"mean": {m: float(np.mean([p.scores[m] for p in folds.values()])) for m in METRICS[task.kind]},
                       "folds": {fold: p.to_dict() for fold, p in folds.items()}}
            for modality, folds in r.probes.items()}}
        for r in results}}


def table(task: ClipTask, results: list[ClipsResult]):
    """One row per embedding and metric, one column per run (mean ± std over folds)."""
    from rich.table import Table

    out = Table("embedding", "metric", *[r.name for r in results], "n train/val/test", "dropped", box=None)
    for modality in MODALITIES:
        if not any(modality in r.probes for r in results):
            continue
        for metric in METRICS[task.kind]:
            cells = [cell([p.scores[metric] for p in r.probes.get(modality, {}).values()], metric) for r in results]
            sizes = [f"{p.n_train}/{p.n_val}/{p.n_test}" for r in results if modality in r.probes
                     for p in list(r.probes[modality].values())[:1]]
            out.add_row(modality, metric, *cells, per_run(sizes), per_run([str(len(r.dropped)) for r in results]))
    return out


def per_run(values: list[str]) -> str:
    """One value when every run agrees, else each run's in column order (a run's store may be cached from
    earlier inputs, so runs can embed different clips)."""
    return values[0] if len(set(values)) == 1 else " | ".join(values)
