"""HEAR scene tasks scored by lssd: hear-eval-kit's prepared format in, Table-2-shaped scores out.

hear-eval-kit needs TensorFlow and an old numpy, so it does not install next to lssd; every task the
paper reports from HEAR is a *scene* task (one embedding per clip), and for those the kit's protocol
is small. This module follows ``heareval/embeddings/task_embeddings.py`` and
``heareval/predictions/task_predictions.py`` (v2021.1.3):

* a task folder holds ``task_metadata.json`` (``task_name``, ``embedding_type``, ``prediction_type``
  multiclass|multilabel, ``split_mode`` trainvaltest|new_split_kfold|presplit_kfold, ``splits``,
  ``evaluation``: score names, the first one selects), ``labelvocabulary.csv`` (``idx,label``), one
  ``{split}.json`` per split (``{filename: [label, ...]}``) and the audio at
  ``{sample_rate}/{split}/{filename}``, read at the model's rate (48 kHz for lssd's recipes);
* scene embeddings come from :mod:`lssd.hear` and are cached per run and task in an
  :class:`~lssd.eval.embed.EmbeddingStore` (one item per file, written atomically: resumable);
* trainvaltest tasks train on ``train``, select on ``valid`` and report ``test``; k-fold tasks rotate
  folds (sorted; test = fold i, valid = fold i+1, train = the rest), search the grid on the first
  rotation only and retrain the chosen point on the others, and report the mean and the standard
  deviation over folds;
* the predictor is :data:`lssd.eval.probes.HEAR_GRID` (the kit's MLP grid, early stopping, val-best
  checkpoint), scored by top-1 and mAP (scikit-learn's ``average_precision_score``, as the kit).

Event (timestamp) tasks such as DCASE 2016 task 2 are refused in one sentence: they need the kit's
event post-processing and sed_eval.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lssd import locks
from lssd.errors import BadInputError
from lssd.eval.backbones import load_backbones, run_name, unique_names
from lssd.eval.embed import EmbeddingStore, progress_bar, store_meta
from lssd.eval.probes import (CLASSIFICATION, HEAR_GRID, MULTILABEL, MLPGrid, ProbeResult, Split, mlp_fit, percent,
                              prepare)
from lssd.media import atomic_output, write_json

log = logging.getLogger(__name__)

RESULTS = "hear_results.json"
SPLIT_MODES = ("trainvaltest", "new_split_kfold", "presplit_kfold")
# hear-eval-kit score names → the probe's metric names
SCORE_NAMES = {"top1_acc": "top1", "mAP": "mAP"}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class HearTask:
    """One prepared HEAR task: metadata, label vocabulary and the files of every split."""

    root: Path
    metadata: dict[str, Any]
    vocabulary: dict[str, int]  # label → index
    splits: dict[str, dict[str, list[str]]]  # split → filename → labels

    @property
    def name(self) -> str:
        return str(self.metadata.get("task_name") or self.root.name)

    @property
    def kind(self) -> str:
        return MULTILABEL if self.metadata["prediction_type"] == "multilabel" else CLASSIFICATION

    @property
    def metric(self) -> str:
        """The selection (and headline) metric: the first of the task's ``evaluation`` we compute."""
        for score in self.metadata.get("evaluation", []):
            if score in SCORE_NAMES:
                return SCORE_NAMES[score]
        return "mAP" if self.kind == MULTILABEL else "top1"

    def audio_path(self, sample_rate: int, split: str, filename: str) -> Path:
        return self.root / str(sample_rate) / split / filename


def find_tasks(tasks_dir: Path, names: str | Sequence[str] | None = None) -> list[Path]:
    """Task folders under ``tasks_dir`` (those holding ``task_metadata.json``), or the named ones."""
    tasks_dir = Path(tasks_dir)
    if not tasks_dir.is_dir():
        raise BadInputError(f"{tasks_dir} is not a folder of HEAR tasks")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if names:
        missing = [n for n in names if not (tasks_dir / n / "task_metadata.json").is_file()]
        if missing:
            raise BadInputError(f"no HEAR task {', '.join(missing)} in {tasks_dir} (no task_metadata.json)")
        return [tasks_dir / n for n in names]
    found = sorted(p.parent for p in tasks_dir.glob("*/task_metadata.json"))
    if not found:
        raise BadInputError(f"no HEAR task in {tasks_dir}: expected TASK/task_metadata.json (hear-eval-kit's "
                            f"prepared format)")
    return found


def read_task(root: Path) -> HearTask:
    """Read and check one prepared task folder; every problem is one sentence."""
    root = Path(root)
    try:
        metadata = json.loads((root / "task_metadata.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BadInputError(f"{root.name}: task_metadata.json cannot be read ({err})") from None
    for key in ("embedding_type", "prediction_type", "split_mode", "splits"):
        if key not in metadata:
            raise BadInputError(f"{root.name}: task_metadata.json has no {key!r}")
    if metadata["embedding_type"] != "scene":
        raise BadInputError(f"{root.name} is an {metadata['embedding_type']} (timestamp) task; lssd scores scene "
                            f"tasks only, use hear-eval-kit for event tasks")
    if metadata["prediction_type"] not in ("multiclass", "multilabel"):
        raise BadInputError(f"{root.name}: prediction_type must be multiclass or multilabel, "
                            f"got {metadata['prediction_type']!r}")
    if metadata["split_mode"] not in SPLIT_MODES:
        raise BadInputError(f"{root.name}: unknown split_mode {metadata['split_mode']!r} ({', '.join(SPLIT_MODES)})")
    vocabulary = _read_vocabulary(root)
    splits: dict[str, dict[str, list[str]]] = {}
    for split in split_names(metadata):
        path = root / f"{split}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise BadInputError(f"{root.name}: {path.name} cannot be read ({err})") from None
        unknown = sorted({str(lab) for labels in data.values() for lab in labels} - set(vocabulary))
        if unknown:
            raise BadInputError(f"{root.name}: {path.name} uses labels not in labelvocabulary.csv: "
                                f"{', '.join(unknown[:5])}")
        if metadata["prediction_type"] == "multiclass" and any(len(v) != 1 for v in data.values()):
            raise BadInputError(f"{root.name}: {path.name} has a file without exactly one label in a multiclass task")
        splits[split] = {str(k): [str(lab) for lab in v] for k, v in data.items()}
    return HearTask(root, metadata, vocabulary, splits)


def _read_vocabulary(root: Path) -> dict[str, int]:
    path = root / "labelvocabulary.csv"
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        vocabulary = {str(r["label"]): int(r["idx"]) for r in rows}
    except (OSError, KeyError, ValueError) as err:
        raise BadInputError(f"{root.name}: labelvocabulary.csv must have idx,label columns ({err})") from None
    if sorted(vocabulary.values()) != list(range(len(vocabulary))):
        raise BadInputError(f"{root.name}: labelvocabulary.csv indices must be 0..{len(vocabulary) - 1}")
    return vocabulary


def split_names(metadata: dict[str, Any]) -> list[str]:
    if metadata["split_mode"] == "trainvaltest":
        return ["train", "valid", "test"]
    return [str(s) for s in metadata["splits"]]


def data_splits(metadata: dict[str, Any]) -> list[dict[str, list[str]]]:
    """hear-eval-kit's ``get_splits_from_metadata``: one train/valid/test for trainvaltest tasks,
    else one rotation per fold (sorted folds; test = fold i, valid = fold i+1, train = the rest)."""
    if metadata["split_mode"] == "trainvaltest":
        return [{"train": ["train"], "valid": ["valid"], "test": ["test"]}]
    return rotate_folds([str(s) for s in metadata["splits"]])


def rotate_folds(folds: Sequence[str]) -> list[dict[str, list[str]]]:
    """Leave-one-out over sorted folds, the next fold validating (hear-eval-kit's
    ``data_splits_from_folds``); at least three folds."""
    folds = sorted(folds)
    if len(folds) < 3 or len(set(folds)) != len(folds):
        raise BadInputError(f"k-fold needs at least three distinct folds, got {', '.join(folds) or 'none'}")
    return [{"train": [f for f in folds if f not in (folds[i], folds[(i + 1) % len(folds)])],
             "valid": [folds[(i + 1) % len(folds)]], "test": [folds[i]]} for i in range(len(folds))]


# ------------------------------------------------------------------------------------------ embedding

def item_id(split: str, filename: str) -> str:
    """A store item name for one file of one split (names that a file system might mangle are hashed)."""
    safe = _SAFE.sub("_", filename)
    if safe != filename:
        safe += "-" + hashlib.sha1(filename.encode()).hexdigest()[:8]
    return f"{split}.{safe}"


def embed_task(model: Any, source: dict[str, Any], task: HearTask, out: Path, progress: bool = True) -> EmbeddingStore:
    """Scene embeddings of every file of ``task`` into the store ``out`` (files already there are kept)."""
    import soundfile as sf
    import torch

    from lssd.hear import get_scene_embeddings

    store = EmbeddingStore(out)
    store.root.mkdir(parents=True, exist_ok=True)
    sr = model.sample_rate
    if not (task.root / str(sr)).is_dir():
        have = sorted(p.name for p in task.root.iterdir() if p.is_dir() and p.name.isdigit())
        raise BadInputError(f"{task.name} has no audio at {sr} Hz (the model's rate; found {', '.join(have) or 'none'}): "
                            f"prepare the task at {sr} Hz")
    with locks.exclusive(store.root / ".lock", f"embedding store {store.root}"):
        store.claim(source | {"hear_task": task.name, "sample_rate": sr})
        todo = [(split, name) for split, files in task.splits.items() for name in files  # after the lock: what
                if not store.has(item_id(split, name))]  # an embedder that held it wrote is not done again
        with progress_bar(progress, len(todo), f"embed {task.name}", "clips") as bar:
            for split, name in todo:
                path = task.audio_path(sr, split, name)
                try:
                    wave, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
                except (OSError, RuntimeError) as err:  # soundfile raises LibsndfileError (a RuntimeError)
                    raise BadInputError(f"{task.name}: {path} cannot be read ({err})") from None
                if file_sr != sr:
                    raise BadInputError(f"{task.name}: {path.name} is at {file_sr} Hz, not the model's {sr} Hz")
                emb = get_scene_embeddings(torch.from_numpy(wave.mean(axis=1))[None], model)[0]
                store.write(item_id(split, name), {"audio": emb.cpu().numpy().astype(np.float32)})
                if bar is not None:
                    bar.advance(bar.task_ids[0])
    return store


# ------------------------------------------------------------------------------------------- scoring

@dataclass
class TaskScore:
    """One task for one run: a probe per fold rotation, and the headline metric over them."""

    task: str
    metric: str
    folds: dict[str, ProbeResult] = field(default_factory=dict)  # test split name → probe

    def values(self, metric: str | None = None) -> list[float]:
        return [p.scores[metric or self.metric] for p in self.folds.values()]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values()))

    @property
    def std(self) -> float:
        """Standard deviation over folds (ddof 1, as hear-eval-kit's pandas ``std``); 0 for one split."""
        values = self.values()
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def task_split(store: EmbeddingStore, task: HearTask, names: list[str]) -> tuple[Split, list[str]]:
    """Features and targets of the concatenated splits ``names``, and the files in that order."""
    items = [(split, f) for split in names for f in task.splits[split]]
    x = store.matrix([item_id(s, f) for s, f in items], "audio")
    labels = [task.splits[s][f] for s, f in items]
    if task.kind == MULTILABEL:
        y = np.zeros((len(items), len(task.vocabulary)), dtype=np.float32)
        for i, labs in enumerate(labels):
            y[i, [task.vocabulary[lab] for lab in labs]] = 1.0
    else:
        y = np.array([task.vocabulary[labs[0]] for labs in labels], dtype=np.int64)
    return Split(x, y), [f for _, f in items]


def score_task(store: EmbeddingStore, task: HearTask, grid: MLPGrid = HEAR_GRID, device: str = "cpu",
               predictions: Path | None = None) -> TaskScore:
    """HEAR's predictor on every fold rotation: the grid on the first, its best point on the rest.
    ``predictions`` (a folder) receives ``<test split>.predictions.npz`` per rotation: the files, the
    targets and the predicted probabilities, as the kit's ``predictions.pkl``."""
    result = TaskScore(task.name, task.metric)
    point: list[tuple[int, float, str]] | None = None
    for rotation in data_splits(task.metadata):
        (train, _), (val, _), (test, files) = (task_split(store, task, rotation[k]) for k in ("train", "valid", "test"))
        data = prepare(train, val, test, task.kind, device, grid.standardize, task.metric)
        probe = mlp_fit(data, grid, point if point is not None else grid.points())
        if point is None:
            config = probe.config
            point = [(config["hidden_layers"], config["lr"], config["init"])]
        name = "|".join(rotation["test"])
        result.folds[name] = probe
        if predictions is not None:
            predictions.mkdir(parents=True, exist_ok=True)
            with atomic_output(predictions / f"{_SAFE.sub('_', name)}.predictions.npz") as tmp, open(tmp, "wb") as f:
                np.savez(f, files=np.array(files), target=test.y, prediction=probe.test_predictions)
    return result


@dataclass
class HearRun:
    name: str
    source: str
    tasks: dict[str, TaskScore] = field(default_factory=dict)


def run_hear(runs: Sequence[Path], tasks_dir: Path, out: Path, *, tasks: str | Sequence[str] | None = None,
             grid: MLPGrid = HEAR_GRID, device: str | None = None, progress: bool = True) -> list[HearRun]:
    """Embed and score every run on every task; writes ``OUT/hear_results.json``, the embeddings
    (``OUT/embeddings/<run>/<task>``) and the test predictions (``OUT/predictions/<run>/<task>``)."""
    from lssd.hear import HearModel

    if not runs:
        raise BadInputError("give at least one run directory or checkpoint")
    parsed = [read_task(p) for p in find_tasks(tasks_dir, tasks)]
    names = unique_names([run_name(Path(r)) for r in runs])
    results = []
    for run, name in zip(runs, names):
        backbones = load_backbones(Path(run), device, name)
        model = HearModel(backbones).eval()
        result = HearRun(name, backbones.source)
        for task in parsed:
            store = embed_task(model, store_meta(backbones, None), task, Path(out) / "embeddings" / name / task.root.name,
                               progress)
            result.tasks[task.name] = score_task(store, task, grid, str(backbones.device),
                                                 Path(out) / "predictions" / name / task.root.name)
        results.append(result)
    write_json(Path(out) / RESULTS, results_dict(results))
    return results


def results_dict(results: list[HearRun]) -> dict[str, Any]:
    return {"runs": {r.name: {"source": r.source, "tasks": {t.task: {
        "metric": t.metric, "mean": t.mean, "std": t.std,
        "folds": {fold: p.to_dict() for fold, p in t.folds.items()},
    } for t in r.tasks.values()}} for r in results}}


def format_score(value: float, metric: str) -> str:
    """Percent, as Table 2 prints top-1 and mAP alike."""
    return f"{percent(value, metric):.2f}"


TITLE = "HEAR scene tasks: test score of the val-best MLP (%, mean ± std over folds)"


def table(results: list[HearRun]):
    """Table 2's shape: one row per run, one column per task (mean ± std over folds, in %)."""
    from rich.table import Table

    tasks = list(results[0].tasks.values())
    out = Table("run", *[f"{t.task}\n{t.metric}" for t in tasks], box=None)
    for r in results:
        cells = []
        for t in tasks:
            score = r.tasks[t.task]
            cell = format_score(score.mean, score.metric)
            if len(score.folds) > 1:
                cell += f" ± {format_score(score.std, score.metric)}"
            cells.append(cell)
        out.add_row(r.name, *cells)
    return out
