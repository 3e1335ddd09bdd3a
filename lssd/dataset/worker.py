"""One worker: a process (or Ray actor) that builds one :class:`~lssd.dub.pipeline.Pipeline` and dubs
many clips with it, so every engine is loaded once per worker, not once per clip.

A clip is claimed with a lock (:mod:`lssd.locks`) beside its work directory before anything is done, so
two builders sharing ``OUT`` never work on the same clip. Once claimed, a clip whose output is already
complete for this input (an earlier build whose manifest row was lost, or a concurrent builder that just
finished it) is reported from its files, not recomputed. The work directory is removed once the output is
complete (``--keep-work`` keeps it); a failed clip keeps it, for the next attempt and for a look.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from lssd import locks, sidecar, stages
from lssd.dataset.manifest import JSONL, RowsReader
from lssd.dataset.reproducible import seed_clip
from lssd.dub.pipeline import remove_stale_temporaries
from lssd.errors import LssdError, disk_full

WORK = ".lssd-work"  # OUT/.lssd-work/<id>/ (per-clip work dirs) and OUT/.lssd-work/<id>.claim.lock (claims)
CLAIM = ".claim.lock"  # not <id>.lock: that is the pipeline's own lock of the work dir, taken inside a claim
VIDEOS = "videos"
MODE_DUB, MODE_SEPARATE = "dub", stages.SEPARATE  # --separate-only runs the pipeline up to that stage
MODES = (MODE_DUB, MODE_SEPARATE)
BUSY = "busy"  # a row status never written: another builder holds the clip
FINGERPRINT_TAG = "LSSD_SOURCE_FINGERPRINT"  # speech-removed copies: which input they were made from
SEPARATOR_TAG = "LSSD_SEPARATOR"


@dataclass
class WorkerSpec:
    """Everything a worker needs to build itself; picklable, so it crosses process and machine borders."""

    out_dir: str
    langs: list[str]
    cfg_kwargs: dict[str, Any]
    mode: str = "dub"
    keep_work: bool = False
    env: dict[str, str] = field(default_factory=dict)  # e.g. CUDA_VISIBLE_DEVICES, set before torch loads
    qc: bool = True  # record the cheap QC summary (lssd.qc.qc_summary) of each dubbed clip in its row


@dataclass
class Job:
    clip_id: str
    input: str
    has_video: bool = True
    attempt: int = 1


def make_config(langs: list[str], cfg_kwargs: dict[str, Any]):
    """The DubConfig of a build (profile applied) and the profile's deviations."""
    from lssd.config import DubConfig
    from lssd.dub.profiles import apply_profile
    from lssd.languages import parse_langs

    # --separate-only builds have no target language
    return apply_profile(DubConfig(langs=parse_langs(",".join(langs)) if langs else [], **cfg_kwargs))


def output_path(out_dir: Path, clip_id: str, has_video: bool, container: str) -> Path:
    return Path(out_dir) / VIDEOS / f"{clip_id}.{container if has_video else 'mka'}"


def work_paths(out_dir: Path, clip_id: str) -> tuple[Path, Path]:
    """(work dir, claim lock) of a clip."""
    root = Path(out_dir) / WORK
    return root / clip_id, root / f"{clip_id}{CLAIM}"


def claim_for(output: Path) -> Path | None:
    """The builder's claim lock of ``output`` when it lies in a dataset's ``OUT/videos`` (a folder beside
    a manifest or a work root), so a standalone ``lssd dub`` into a build takes the same claim the
    builder's workers take; None for any other output."""
    output = Path(output).absolute()
    for folder in output.parents:
        if folder.name == VIDEOS:
            if (folder.parent / WORK).is_dir() or (folder.parent / JSONL).exists():
                return work_paths(folder.parent, output.relative_to(folder).with_suffix("").as_posix())[1]
            return None
    return None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ClipWorker:
    def __init__(self, spec: WorkerSpec, on_stage: Callable[[str], None] | None = None) -> None:
        os.environ.update(spec.env)
        from lssd.dub.pipeline import Pipeline

        self.spec = spec
        self.out_dir = Path(spec.out_dir)
        self.cfg, _ = make_config(spec.langs, spec.cfg_kwargs)
        self.on_stage = on_stage or (lambda label: None)
        self.pipeline = Pipeline(self.cfg, reporter=self._report)
        self.clips = 0

    def _report(self, event: str, label: str, info: dict) -> None:
        if event == "start":
            self.on_stage(label)

    def run(self, job: Job) -> dict[str, Any]:
        """Claim, dub (or separate) one clip and return its manifest row (without tasks/splits);
        ``{"status": BUSY}`` when another builder holds the clip."""
        workdir, lock = work_paths(self.out_dir, job.clip_id)
        fd = locks.try_lock(lock)
        if fd is None:
            return {"id": job.clip_id, "status": BUSY, "reason": locks.holder(lock)}
        t0, cpu0 = time.perf_counter(), process_cpu_seconds()
        engines = loaded_engines()
        seed_clip(job.clip_id)  # a library drawing on a global generator draws the same for this clip anywhere
        try:
            output = output_path(self.out_dir, job.clip_id, job.has_video, self.cfg.container)
            remove_stale_temporaries(output, claimed=True)
            full = False
            try:
                row = self._reuse(job, output) or self._make(job, output, workdir)
            except LssdError as err:
                row, full = _failed(job, str(err)), NO_SPACE in str(err).lower()
            except Exception as err:  # a bug or a library failure on this clip: record it, keep building
                full = disk_full(err)
                row = _failed(job, _failure_reason(err, workdir, self.out_dir, job.clip_id, full))
            if full or (row["status"] != "failed" and not self.spec.keep_work):
                shutil.rmtree(workdir, ignore_errors=True)  # a full disk gets its space back at once
        finally:
            locks.unlock(lock, fd)
        self.clips += 1
        loaded = loaded_engines() - engines
        if loaded:  # shows in the worker's log that engines load on its first clip only
            print(f"{job.clip_id}: loaded {len(loaded)} engine(s) on clip {self.clips} of this worker: "
                  + ", ".join(sorted(loaded)), file=sys.stderr, flush=True)
        row.update(attempts=job.attempt, input=job.input)
        if row.get("reused"):  # the original build's figures stand (unknown when its row is lost): none made here
            row["reused_by"] = worker_name()
            row.setdefault("finished", datetime.now(timezone.utc).isoformat(timespec="seconds"))
            return row
        row.update(wall_seconds=round(time.perf_counter() - t0, 3), cpu_seconds=round(process_cpu_seconds() - cpu0, 3),
                   finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), worker=worker_name())
        return row

    def _make(self, job: Job, output: Path, workdir: Path) -> dict[str, Any]:
        if self.spec.mode == MODE_SEPARATE:
            return self._separate(job, output, workdir)
        # the builder owns OUT/videos: an output there that _reuse did not accept is replaced
        result = self.pipeline.run(Path(job.input), output=output, workdir=workdir, overwrite=True)
        row = self._row_from_sidecar(job, output, sidecar.read_file(result.sidecar), reused=False)
        if self.spec.qc and row["status"] == "done":
            row["qc"] = _qc(output)
        return row

    def _reuse(self, job: Job, output: Path) -> dict[str, Any] | None:
        """The row of an output already complete for this very input, or None."""
        from lssd.dub.workdir import fingerprint

        if not output.exists():
            return None
        if self.spec.mode == MODE_SEPARATE:
            tags = _format_tags(output)
            if tags.get(FINGERPRINT_TAG.lower()) != fingerprint(Path(job.input)):
                return None
            return self._separate_row(job, output, tags.get(SEPARATOR_TAG.lower(), ""), {}, reused=True)
        side = sidecar.path_for(output)
        if not side.exists():
            return None
        try:
            data = sidecar.read_file(side)
        except LssdError:
            return None
        written = {t.get("language") for t in data.get("tracks", [])}
        wanted = set(self.cfg.lang_codes) - {data.get("source_language")}
        if data.get("input", {}).get("fingerprint") != fingerprint(Path(job.input)) or not wanted <= written:
            return None
        return self._original(self._row_from_sidecar(job, output, data, reused=True))

    def _original(self, row: dict[str, Any]) -> dict[str, Any]:
        """A reused row keeps the timing and worker of the build that made the output, when the manifest
        still has that build's row (a concurrent builder's, or an earlier one's)."""
        from lssd.dataset.manifest import FINISHED

        prior = self._manifest_rows.rows().get(row["id"])
        if prior and prior.get("status") in FINISHED and prior.get("output") == row["output"]:
            row.update({k: prior[k] for k in ("wall_seconds", "cpu_seconds", "worker", "finished", "qc")
                        if prior.get(k) is not None})
        return row

    @cached_property
    def _manifest_rows(self) -> RowsReader:
        """The build's manifest, read once and then only what builders append (one lookup per reused clip)."""
        return RowsReader(self.out_dir / JSONL)

    def _row_from_sidecar(self, job: Job, output: Path, data: dict[str, Any], reused: bool) -> dict[str, Any]:
        from lssd.dataset.models import identify

        records = data.get("stages", {})
        models: dict[str, str] = {}
        licences: list[str] = []
        for record in records.values():
            for prov in _provenances((record or {}).get("provenance") or {}):
                for file, sha in (prov.get("files") or {}).items():
                    entry = identify(str(file), str(sha), str(prov.get("model") or ""))
                    models[f"{entry.name if entry else record.get('backend')}/{file}"] = str(sha)
                    if entry is not None:
                        licences.append(f"{entry.name}: {entry.licence}")
                if prov.get("licence_notice"):
                    licences.append(str(prov["licence_notice"]))
                elif prov.get("licence"):
                    licences.append(f"{prov.get('model') or record.get('backend')}: {prov['licence']}")
        speech = bool(data.get("segments"))
        return {
            "id": job.clip_id, "status": "done" if speech else "no-speech",
            "reason": "" if speech else "no speech found: every dub track equals the original",
            "duration": data.get("duration"), "source_language": data.get("source_language") or "und",
            "languages": [t["language"] for t in data.get("tracks", []) if t.get("kind") != sidecar.KIND_ORIGINAL],
            "backends": {k: str(v.get("backend")) for k, v in records.items() if v and v.get("backend")},
            "stage_seconds": {k: float(v["seconds"]) for k, v in records.items() if v and "seconds" in v},
            "output": output.relative_to(self.out_dir).as_posix(),
            "sidecar": sidecar.path_for(output).relative_to(self.out_dir).as_posix(),
            "models": models, "licences": sorted(set(licences)), "reused": reused,
            "speakers": len(data["speakers"]) if data.get("speakers") else None,
        }

    def _separate(self, job: Job, output: Path, workdir: Path) -> dict[str, Any]:
        """``--separate-only``: the clip with its audio replaced by the separated background (speech
        removed), for the SEP experiment (App. B.3)."""
        from lssd.dub.workdir import Workdir, fingerprint
        from lssd.dub.context import BACKGROUND
        from lssd.media import atomic_output, ff_path, probe, require_tool

        self.pipeline.run(Path(job.input), output=output, workdir=workdir, until=stages.SEPARATE, overwrite=True)
        record = Workdir(workdir).done(stages.SEPARATE) or {}
        backend = str(record.get("backend", ""))
        info = probe(Path(job.input))
        language = self.cfg.source_language or _iso3(info.audio[0].language) or "und"
        title = f"{_language_name(language)} (speech removed: {separated_by(backend, self.cfg.separator_model)})"
        cmd = [require_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", "-i", ff_path(Path(job.input)),
               "-i", ff_path(workdir / stages.SEPARATE / BACKGROUND)]
        cmd += (["-map", f"0:{info.video[0].index}", "-c:v", "copy"] if info.has_video else [])
        cmd += ["-map", "1:a:0", "-c:a", "flac", "-metadata:s:a:0", f"language={language}",
                "-metadata:s:a:0", f"title={title}", "-disposition:a:0", "default",
                "-metadata", f"{FINGERPRINT_TAG}={fingerprint(Path(job.input))}",
                "-metadata", f"{SEPARATOR_TAG}={backend}",
                "-metadata", "comment=lssd speech-removed copy (background stem of the original audio)"]
        with atomic_output(output) as tmp:
            proc = subprocess.run([*cmd, "-f", "matroska", str(tmp)], capture_output=True, text=True)
            if proc.returncode != 0:
                reason = (proc.stderr.strip().splitlines() or ["unknown ffmpeg error"])[-1]
                raise LssdError(f"muxing {output.name} failed: {reason}")
        return self._separate_row(job, output, backend, record, reused=False, language=language,
                                  duration=info.duration)

    def _separate_row(self, job: Job, output: Path, backend: str, record: dict, reused: bool,
                      language: str | None = None, duration: float | None = None) -> dict[str, Any]:
        prov = record.get("provenance") or {}
        return {"id": job.clip_id, "status": "done", "duration": duration, "source_language": language or "",
                "backends": {stages.SEPARATE: backend} if backend else {},
                "stage_seconds": {stages.SEPARATE: float(record["seconds"])} if "seconds" in record else {},
                "output": output.relative_to(self.out_dir).as_posix(),
                "models": {str(k): str(v) for k, v in (prov.get("files") or {}).items()}, "reused": reused}


def _qc(output: Path) -> str:
    """The clip's cheap QC summary as manifest JSON; a QC problem is recorded, never fails the clip."""
    import json

    from lssd.qc.report import qc_summary

    t0 = time.perf_counter()
    try:
        summary = qc_summary(output)
    except LssdError as err:
        summary = {"status": "error", "reason": str(err)}
    return json.dumps({**summary, "seconds": round(time.perf_counter() - t0, 3)})  # QC's cost, apart from the dub's


def separated_by(backend: str, model: str) -> str:
    """How a speech-removed track names its separator; the DSP one is labelled as the fallback it is."""
    if backend == "demucs":
        return f"Demucs {model}"
    if backend == "dsp":
        return "weights-free DSP separator, fallback"
    return backend or "unknown separator"


def _iso3(tag: str | None) -> str | None:
    from lssd.languages import get_language

    try:
        return get_language(tag).iso3 if tag else None
    except LssdError:
        return None


def _language_name(iso3: str) -> str:
    from lssd.languages import get_language

    try:
        return get_language(iso3).name
    except LssdError:
        return "Original"


def _format_tags(path: Path) -> dict[str, str]:
    import av

    try:
        with av.open(str(path)) as container:
            return {str(k).lower(): str(v) for k, v in container.metadata.items()}
    except (OSError, av.error.FFmpegError):
        return {}


def _provenances(prov: dict[str, Any]) -> list[dict[str, Any]]:
    """A stage's provenance and those nested in it (e.g. faster-whisper's language-ID model)."""
    nested = [v for v in prov.values() if isinstance(v, dict) and "files" in v]
    return [prov, *[p for n in nested for p in _provenances(n)]]


def process_cpu_seconds() -> float:
    """CPU seconds of this process and the tools it waited for (ffmpeg, rubberband, espeak-ng)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def loaded_engines() -> set[str]:
    """The engines this process has loaded (stage:backend:model), from the registry's cache."""
    from lssd.backends import registry

    return {":".join(str(part) for part in key[:3]) for key in registry._ENGINES}


def _failed(job: Job, reason: str) -> dict[str, Any]:
    return {"id": job.clip_id, "status": "failed", "reason": " ".join(reason.split())}


NO_SPACE = "no space left on device"


def _failure_reason(err: Exception, workdir: Path, out_dir: Path, clip_id: str, disk_full: bool) -> str:
    """One line for an unexpected failure on a clip: a full disk is named as such (and the work directory
    goes, to give the space back); anything else keeps its first line and a traceback in the work dir."""
    if disk_full:
        return f"{NO_SPACE} ({out_dir / WORK / clip_id}); free space and rerun the build"
    first = (str(err).strip().splitlines() or [""])[0]
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "error.txt").write_text(traceback.format_exc())
    except OSError:
        return f"{type(err).__name__}: {first}"
    return f"{type(err).__name__}: {first} (traceback in {WORK}/{clip_id}/error.txt)"
