"""The LVU protocol (Tables 2-4): per-video embeddings, one probe per task and modality, runs side by side.

For each run: embed every video that some requested task uses (resumable, one store per run and audio
language under ``OUT/embeddings/``), then for each task train a probe on the official train split,
pick the val-best epoch and report its test score (top-1 % for the seven classification tasks, MSE
for like ratio and view count) on video, audio and concatenated audio+video embeddings. Videos that
are absent, or that cannot be decoded, are dropped and counted per task. Reading the split files and
finding the videos is :mod:`lssd.lvu`'s job; LVU-M from ``lssd build-dataset`` reads the same way,
its multi-track videos giving the original audio unless ``language`` names a dub.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lssd import lvu
from lssd.errors import BadInputError
from lssd.eval.backbones import load_backbones, run_name, unique_names
from lssd.eval.embed import EmbeddingStore, embed_media
from lssd.eval.modalities import MODALITIES, cell, check_probe, probe_modalities
from lssd.eval.probes import CLASSIFICATION, REGRESSION, LinearConfig, MLPGrid
from lssd.media import write_json

log = logging.getLogger(__name__)

RESULTS = "lvu_results.json"


@dataclass
class TaskResult:
    task: str
    metric: str
    missing: int  # examples whose video file is absent
    failed: int  # examples whose video could not be embedded
    probes: dict[str, Any] = field(default_factory=dict)  # modality → ProbeResult


@dataclass
class RunResult:
    name: str
    source: str
    store: Path
    tasks: dict[str, TaskResult] = field(default_factory=dict)


def run_lvu(runs: Sequence[Path], lvu_dir: Path, out: Path, *, videos: Path | None = None,
            tasks: str | Sequence[str] | None = None, language: str | None = None, probe: str = "linear",
            linear: LinearConfig = LinearConfig(), grid: MLPGrid = MLPGrid(), device: str | None = None,
            batch_size: int = 16, num_workers: int = 0, progress: bool = True) -> list[RunResult]:
    """Embed, probe and score every run on the LVU tasks; writes ``OUT/lvu_results.json``."""
    if not runs:
        raise BadInputError("give at least one run directory or checkpoint")
    check_probe(probe)
    examples = lvu.read_release(lvu_dir, tasks)
    videos = Path(videos) if videos is not None else Path(lvu_dir) / "videos"
    found = lvu.find_videos(videos, lvu.memberships(examples))
    if not found:
        raise BadInputError(f"none of the LVU videos is in {videos} (expected videos/<youtube_id>.<ext>)")
    names = unique_names([run_name(Path(r)) for r in runs])
    results = []
    for run, name in zip(runs, names):
        backbones = load_backbones(Path(run), device, name)
        store = Path(out) / "embeddings" / (name if language is None else f"{name}.{language}")
        report = embed_media(backbones, found, store, language=language, batch_size=batch_size,
                             num_workers=num_workers, progress=progress)
        result = RunResult(name, backbones.source, store)
        for task in lvu.parse_tasks(tasks):
            task_examples = [ex for ex in examples if ex.task == task]
            result.tasks[task] = probe_task(EmbeddingStore(store), task_examples, set(report.failed),
                                            probe, linear, grid, str(backbones.device))
        results.append(result)
    write_json(Path(out) / RESULTS, results_dict(results))
    return results


def probe_task(store: EmbeddingStore, examples: list[lvu.Example], failed: set[str], probe: str,
               linear: LinearConfig, grid: MLPGrid, device: str) -> TaskResult:
    """One task: splits of the embedded examples, one probe per modality the run has."""
    task, kind = examples[0].task, task_kind(examples[0])
    kept = task_splits(store, examples)
    n_kept = sum(len(ids) for ids, _ in kept.values())
    n_failed = sum(ex.video_id in failed for ex in examples)
    result = TaskResult(task, "mse" if kind == REGRESSION else "top1", len(examples) - n_kept - n_failed, n_failed)
    empty = [s for s, (ids, _) in kept.items() if not ids]
    if empty:
        log.warning("%s: no embedded video in the %s split; not probed", task, ", ".join(empty))
        return result
    result.probes = probe_modalities(store, list(kept.values()), kind, probe, linear, grid, device, task)
    return result


def task_kind(example: lvu.Example) -> str:
    return REGRESSION if example.is_regression else CLASSIFICATION


def task_splits(store: EmbeddingStore, examples: list[lvu.Example]) -> dict[str, tuple[list[str], np.ndarray]]:
    """split → (video ids with an embedding, their class ids or regression targets), in file order."""
    out = {}
    for split in lvu.SPLITS:
        kept = [ex for ex in examples if ex.split == split and store.has(ex.video_id)]
        values = [ex.target if ex.is_regression else ex.label for ex in kept]
        out[split] = ([ex.video_id for ex in kept], np.array(values, dtype=np.float64 if examples[0].is_regression
                                                             else np.int64))
    return out


def results_dict(results: list[RunResult]) -> dict[str, Any]:
    return {"runs": {r.name: {
        "source": r.source, "embeddings": str(r.store),
        "tasks": {t.task: {"metric": t.metric, "missing": t.missing, "failed": t.failed,
                           **{m: p.to_dict() for m, p in t.probes.items()}} for t in r.tasks.values()},
    } for r in results}}


def table(results: list[RunResult]):
    """A rich Table: one row per task and modality, one column per run (Table 4's comparison)."""
    from rich.table import Table

    out = Table("task", "metric", "embedding", *[r.name for r in results], "n train/val/test", "dropped",
                box=None, title="LVU: test score at the val-best epoch")
    for task in results[0].tasks:
        first = results[0].tasks[task]
        for modality in MODALITIES:
            cells = [_cell(r.tasks[task].probes.get(modality)) for r in results]
            if all(c == "-" for c in cells):
                continue
            probe = next(r.tasks[task].probes[modality] for r in results if modality in r.tasks[task].probes)
            dropped = f"{first.missing} missing" + (f", {first.failed} failed" if first.failed else "")
            out.add_row(task, first.metric, modality, *cells, f"{probe.n_train}/{probe.n_val}/{probe.n_test}",
                        dropped)
    return out


def _cell(result: Any) -> str:
    return "-" if result is None else cell([result.test], result.metric)
