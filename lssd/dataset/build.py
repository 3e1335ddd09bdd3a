"""Build a dataset: plan the clips, skip the finished ones, feed the rest longest-first to the workers,
record each clip's manifest row the moment it finishes, and write the card and a summary.

A clip counts as finished only when its manifest row says ``done``/``no-speech`` *and* its output files
exist; anything else is (re)done. A worker that dies on a clip gets a fresh successor and the clip is
retried once; a second death makes it ``failed``. Clips another builder holds are retried after it lets
them go, so two builders on one ``OUT`` both end with every clip recorded.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lssd.dataset import card, clips, gpus
from lssd.dataset.manifest import FINISHED, Manifest
from lssd.dataset.pool import Crash, Event, LocalPool
from lssd.dataset.progress import BuildProgress, hms
from lssd.dataset.worker import BUSY, Job, MODE_DUB, MODE_SEPARATE, WORK, WorkerSpec, make_config
from lssd.config import usable_cores
from lssd.dub.paper_profile import print_deviations
from lssd.errors import BadInputError
from lssd import outputs
from lssd.sidecar import path_for

ENGINES = ("local", "ray")
MAX_ATTEMPTS = 2  # a clip whose worker dies is retried once
BUSY_RETRY_S = 2.0  # how soon to look again at a clip another builder holds
PARQUET_EVERY_S = 60.0
# seconds of work per second of video per worker, for --dry-run before any clip of OUT is built:
# measured by benchmarks/build_dataset.py (offline profile, CPU); a built OUT gives its own figure
DEFAULT_WORK_PER_SECOND = 1.0


@dataclass
class BuildOptions:
    root: Path
    out_dir: Path
    langs: list[str]
    cfg_kwargs: dict[str, Any]
    command: str
    videos: Path | None = None
    tasks: str | None = None
    ids_file: Path | None = None
    limit: int | None = None
    shard: tuple[int, int] | None = None
    workers: int | None = None
    engine: str = "local"
    ray_address: str | None = None
    keep_work: bool = False
    qc: bool = True
    dry_run: bool = False
    mode: str = MODE_DUB  # MODE_DUB | MODE_SEPARATE (--separate-only)
    workers_per_gpu: int = 1


@dataclass
class Outcome:
    rows: dict[str, dict[str, Any]]
    exit_code: int


def default_workers(device: str = "auto", workers_per_gpu: int = 1) -> int:
    """``workers_per_gpu`` per GPU when the build uses GPUs, else one per core."""
    return gpus.default_workers(device, workers_per_gpu, usable_cores())


def build(opts: BuildOptions, console: Console) -> Outcome:
    if opts.engine not in ENGINES:
        raise BadInputError(f"--engine {opts.engine!r}: use {' or '.join(ENGINES)}")
    for option, key in (("--background", "background"), ("--source-subtitles", "source_subtitles")):
        if opts.cfg_kwargs.get(key) is not None:
            raise BadInputError(f"{option} names one clip's file; a dataset build cannot apply it to every clip")
    if opts.cfg_kwargs.get("subtitles"):
        raise BadInputError("--subtitles names one clip's files; a dataset build cannot apply them to every clip")
    cfg, deviations = make_config(opts.langs, opts.cfg_kwargs)
    out_dir = opts.out_dir.resolve()
    selection = clips.select(opts.root, opts.videos, opts.tasks, opts.ids_file, opts.limit, opts.shard)
    if not selection.clips:
        raise BadInputError(f"no clips found in {opts.root}")
    present = sum(c.path is not None for c in selection.clips)
    console.print(f"{len(selection.clips)} ids, {present} files found: probing them", highlight=False)
    clips.probe_all(selection.clips)
    manifest = Manifest(out_dir)
    previous = manifest.rows()
    workers = opts.workers or default_workers(cfg.device, opts.workers_per_gpu)
    if workers < 1:
        raise BadInputError(f"--workers must be at least 1, got {workers}")
    if opts.workers_per_gpu < 1:
        raise BadInputError(f"--workers-per-gpu must be at least 1, got {opts.workers_per_gpu}")
    if opts.dry_run:
        _dry_run(selection, previous, workers, console)
        return Outcome(previous, 0)

    from lssd.backends import registry

    registry.preflight(cfg)
    fit = gpus.check_fit(cfg, opts.workers_per_gpu)  # before any worker loads a model
    if fit:
        console.print(f"GPU memory: {fit}", highlight=False)
    print_deviations(console, deviations)
    outputs.check_writable(out_dir, "the dataset folder")
    if selection.release is not None:
        _copy_release(selection.release, out_dir)
    todo: list[Job] = []
    counts: Counter[str] = Counter()
    members = {c.id: {"tasks": c.tasks, "splits": c.splits} for c in selection.clips}
    for clip in selection.clips:
        old = previous.get(clip.id)
        if clip.path is None:
            _note(manifest, old, {"id": clip.id, **members[clip.id], "status": "missing",
                                  "reason": f"no video file for this id in {selection.videos_dir}"})
            counts["missing"] += 1
        elif clip.error is not None:
            _note(manifest, old, {"id": clip.id, **members[clip.id], "status": "failed", "reason": clip.error,
                                  "input": clips.printable(str(clip.path))})
            counts["failed"] += 1
        elif _finished(out_dir, old, opts.mode):
            counts[old["status"]] += 1
        else:
            todo.append(Job(clip.id, str(clip.path), clip.has_video))
    durations = {c.id: c.duration or 0.0 for c in selection.clips}
    todo.sort(key=lambda job: -durations[job.clip_id])  # longest first: the tail is short
    if todo:
        _run(opts, cfg, out_dir, todo, members, manifest, counts, min(workers, len(todo)), durations, console)
    rows = manifest.rows()
    manifest.write_parquet()
    built = [rows[c.id] for c in selection.clips if c.id in rows]
    failed = [row["id"] for row in built if row["status"] == "failed"]
    card.write(out_dir, list(rows.values()), opts.command, opts.mode, selection.release is not None)
    _cleanup(out_dir)
    console.print(_summary(built, failed))
    return Outcome(rows, 1 if failed else 0)


def _finished(out_dir: Path, row: dict[str, Any] | None, mode: str) -> bool:
    if row is None or row.get("status") not in FINISHED or not row.get("output"):
        return False
    output = out_dir / row["output"]
    return output.exists() and (mode == MODE_SEPARATE or path_for(output).exists())


def _worker_kwargs(opts: BuildOptions, workers: int) -> dict[str, Any]:
    """Each worker's dub options: unless ``--threads`` was given, the cores of this machine shared out
    among its workers (Ray workers, placed anywhere, take one thread each), so workers times threads
    never oversubscribes the cores."""
    kwargs = dict(opts.cfg_kwargs)
    if not kwargs.get("threads"):
        kwargs["threads"] = 1 if opts.engine == "ray" else max(1, usable_cores() // workers)
    return kwargs


def _note(manifest: Manifest, old: dict[str, Any] | None, row: dict[str, Any]) -> None:
    """Append a planner's row (missing, unreadable) unless the manifest already says the same."""
    if old is None or (old.get("status"), old.get("reason")) != (row["status"], row["reason"]):
        manifest.append(row)


def _run(opts: BuildOptions, cfg, out_dir: Path, todo: list[Job], members: dict, manifest: Manifest,
         counts: Counter, workers: int, durations: dict[str, float], console: Console) -> float:
    """Run the clips over the workers; the CPU seconds the workers spent."""
    specs = [WorkerSpec(str(out_dir), opts.langs, _worker_kwargs(opts, workers), opts.mode, opts.keep_work,
                        gpus.pinned_env(cfg.device, i), opts.qc)
             for i in range(workers)]
    if opts.engine == "ray":
        from lssd.dataset.ray_pool import RayPool

        pool: Any = RayPool(specs, opts.ray_address, use_gpus=cfg.device != "cpu", workers_per_gpu=opts.workers_per_gpu)
    else:
        pool = LocalPool(specs)
    queue, deferred = deque(todo), []
    idle, running = set(range(workers)), {}
    progress = BuildProgress(console, out_dir, len(todo), sum(durations[j.clip_id] for j in todo), workers,
                             opts.engine, opts.mode, counts)

    def record(slot: int | None, job: Job, row: dict[str, Any]) -> None:
        manifest.append({**row, **members[job.clip_id]})
        counts[row["status"]] += 1
        progress.clip_finished(slot, row, durations[job.clip_id])

    last_parquet = time.monotonic()
    with progress, _warnings_to(progress.log_path), _started(pool, progress):
        while queue or running or deferred:
            now = time.monotonic()
            queue.extend(job for at, job in deferred if at <= now)
            deferred = [(at, job) for at, job in deferred if at > now]
            while idle and queue:
                slot, job = idle.pop(), queue.popleft()
                pool.submit(slot, job)
                running[slot] = job
                progress.worker_took(slot, job.clip_id, durations[job.clip_id], job.attempt)
            progress.tick()
            if not running:
                time.sleep(min(at for at, _ in deferred) - now if deferred else 0.1)
                continue
            for slot, result in pool.wait(set(running), timeout=0.5):
                if isinstance(result, Event):
                    if result.kind == "ready":
                        progress.worker_ready(slot, result.info)
                    elif result.kind == "stage":
                        progress.worker_stage(slot, result.info.get("stage", ""))
                    continue
                job = running.pop(slot)
                idle.add(slot)
                progress.worker_idle(slot)
                if isinstance(result, Crash):
                    pool.restart(slot)
                    if job.attempt < MAX_ATTEMPTS:
                        progress.note(f"worker {slot} died on {job.clip_id} ({result.reason}): retrying it")
                        queue.appendleft(replace(job, attempt=job.attempt + 1))
                    else:
                        record(None, job, {"id": job.clip_id, "status": "failed", "input": job.input,
                                           "attempts": job.attempt,
                                           "reason": f"{result.reason} on every attempt"})
                elif result["status"] == BUSY:
                    progress.worker_idle(slot, f"{job.clip_id} is held by {result['reason'] or 'another builder'}")
                    deferred.append((time.monotonic() + BUSY_RETRY_S, job))
                else:
                    record(slot, job, result)
            if time.monotonic() - last_parquet > PARQUET_EVERY_S:
                manifest.write_parquet()
                last_parquet = time.monotonic()
    return progress.cpu_seconds


@contextmanager
def _started(pool: Any, progress: BuildProgress):
    """Start the pool; close it (at once on Ctrl-C) before the final summary, which then has the
    workers' own CPU seconds."""
    interrupted = False
    try:
        pool.start()
        yield
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.close(kill=interrupted)
        progress.engine_cpu = pool.cpu_seconds


@contextmanager
def _warnings_to(log: Path):
    """Python warnings raised in the builder (Ray's, a library's) go to the build log, never the display."""
    with warnings.catch_warnings():
        def show(message, category, filename, lineno, file=None, line=None) -> None:
            with log.open("a", encoding="utf-8") as f:
                f.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = show
        yield




def _copy_release(release: Path, out_dir: Path) -> None:
    """``OUT/lvu_1.0`` as a byte copy of the release (copied to a temporary name, then renamed)."""
    dest = out_dir / "lvu_1.0"
    if dest.exists():
        return
    tmp = out_dir / f".lvu_1.0.lssd-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(release, tmp)
    try:
        os.rename(tmp, dest)
    except OSError:  # another builder renamed its copy first
        shutil.rmtree(tmp, ignore_errors=True)


def _cleanup(out_dir: Path) -> None:
    """Remove the work root when nothing is left in it (kept work dirs and failed clips keep it)."""
    work = out_dir / WORK
    if work.is_dir():
        for path in sorted(work.rglob("*"), reverse=True):
            if path.is_dir():
                try:
                    path.rmdir()
                except OSError:
                    pass
        try:
            work.rmdir()
        except OSError:
            pass


def _dry_run(selection: clips.Selection, previous: dict, workers: int, console: Console) -> None:
    present = [c for c in selection.clips if c.path is not None]
    readable = [c for c in present if c.error is None]
    left = [c for c in readable if (previous.get(c.id) or {}).get("status") not in FINISHED]
    seconds = sum(c.duration or 0.0 for c in readable)
    todo_seconds = sum(c.duration or 0.0 for c in left)
    # reused rows keep the figures of the build that made them: every row with a timing measures
    built = [r for r in previous.values() if r.get("status") in FINISHED and r.get("wall_seconds") and r.get("duration")]
    rate = (sum(r["wall_seconds"] for r in built) / sum(r["duration"] for r in built)) if built else DEFAULT_WORK_PER_SECOND
    basis = f"measured on {len(built)} clips of this OUT" if built else "default figure, CPU offline profile"
    table = Table(title="build-dataset --dry-run (nothing written)")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("ids", str(len(selection.clips)))
    table.add_row("videos found", str(len(present)))
    table.add_row("videos missing", str(len(selection.clips) - len(present)))
    table.add_row("unreadable", str(len(present) - len(readable)))
    table.add_row("hours of video found", f"{seconds / 3600:.2f}")
    table.add_row("already built", str(len(readable) - len(left)))
    table.add_row("left to build (hours)", f"{len(left)} ({todo_seconds / 3600:.2f})")
    table.add_row(f"estimate with {workers} workers", f"{_hms(todo_seconds * rate / workers)} ({basis})")
    console.print(table)


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def _summary(rows: list[dict[str, Any]], failed: list[str]) -> Table:
    counts = Counter(r["status"] for r in rows)
    seconds = sum(r.get("duration") or 0.0 for r in rows if r["status"] in FINISHED)
    table = Table(title=f"dataset: {len(rows)} ids, {hms(seconds)} of video built")
    table.add_column("status")
    table.add_column("clips", justify="right")
    table.add_column("note")
    by_id = {r["id"]: r for r in rows}
    for status in ("done", "no-speech", "missing", "failed"):
        note = ""
        if status == "failed" and failed:
            note = "; ".join(f"{cid}: {by_id[cid]['reason']}" for cid in failed[:10] if cid in by_id)
            note += f" … and {len(failed) - 10} more" if len(failed) > 10 else ""
        table.add_row(status, str(counts.get(status, 0)), note)
    return table
