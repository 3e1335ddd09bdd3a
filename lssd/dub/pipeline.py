"""The dubbing pipeline, in the order of the paper's Fig. 5 (the stage table, :mod:`lssd.stages`):

    separate → transcribe → [per language: translate → synthesize → align → voice-convert →
    match-loudness] → remux

Each stage is a module with ``settings(cfg, lang)`` (what its cache key depends on), ``run(ctx, lang,
selection)`` and, when the stage has backends, ``choose(ctx, lang)``; this file only sequences them,
applies the run profile, skips the fresh ones, and records what ran into the sidecar.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

from lssd import __version__, locks, sidecar, stages
from lssd.backends import registry
from lssd.config import DubConfig
from lssd.dub import (
    align,
    controls,
    match_loudness,
    prepare,
    remux,
    separate,
    synthesize,
    transcribe,
    translate,
    voice_convert,
)
from lssd.dub.context import ClipContext
from lssd.dub.profiles import apply_profile
from lssd.dub.workdir import Workdir, fingerprint, make_key
from lssd.errors import BadInputError
from lssd.languages import Language, get_language
from lssd.media import MediaInfo, probe

STAGE_VERSION = 3  # bump to invalidate every cache when an algorithm changes
LOCK_WAIT_S = 24 * 3600.0  # a second run on the same clip waits this long for the first
MODULES: dict[str, ModuleType] = {
    m.NAME: m for m in (separate, transcribe, translate, synthesize, align, voice_convert, match_loudness, remux)
}
assert tuple(MODULES) == stages.NAMES, "every stage of the table has its module, in the table's order"
GLOBAL_STAGES = tuple(MODULES[s.name] for s in stages.TABLE if not s.per_language and s.name != stages.REMUX)
LANGUAGE_STAGES = tuple(MODULES[name] for name in stages.PER_LANGUAGE)

Reporter = Callable[[str, str, dict], None]  # (event, label, info): "start" | "skip" | "done"


@dataclass
class DubResult:
    output: Path
    sidecar: Path
    workdir: Path
    ran: list[str] = field(default_factory=list)  # "stage" or "stage:lang" computed in this run
    skipped: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    backends: dict[str, str] = field(default_factory=dict)


@dataclass
class _Run:
    """The state of one clip's run, threaded through every step."""

    ctx: ClipContext
    result: DubResult
    force: set[str]
    records: dict[str, dict] = field(default_factory=dict)


def default_output(input_path: Path, info: MediaInfo, cfg: DubConfig, out: Path | None) -> Path:
    suffix = f".{cfg.container}" if info.has_video else ".mka"
    name = f"{input_path.stem}.dub{suffix}"
    if out is None:
        return input_path.with_name(name)
    if out.exists() and not out.is_dir() and not out.suffix:
        raise BadInputError(f"output {out} is an existing file, not a directory; give a .mkv/.mp4 name or a directory")
    if out.is_dir() or not out.suffix:
        return out / name
    if info.has_video and out.suffix.lstrip(".") not in ("mkv", "mp4"):
        raise BadInputError(f"output {out.name}: use a .mkv or .mp4 name for a video input")
    if not info.has_video and out.suffix.lstrip(".") != "mka":
        raise BadInputError(f"output {out.name}: an audio-only input gives a multi-track .mka")
    return out


def default_workdir(input_path: Path, output: Path) -> Path:
    return output.parent / ".lssd-work" / f"{input_path.stem}-{fingerprint(input_path)[:10]}"


def check_output(output: Path, overwrite: bool) -> None:
    """Before any work: the output's folder is writable, and an existing file there is lssd's own earlier
    output of the same name (its sidecar says so) unless ``overwrite`` allows replacing anything."""
    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInputError(f"cannot create the output folder {folder} ({err.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInputError(f"cannot write to the output folder {folder} (permission denied)")
    if output.exists() and not overwrite and not _is_own_output(output):
        raise BadInputError(f"{output} exists and was not written by lssd; choose another --output, "
                            f"or pass --overwrite to replace it")


def _is_own_output(output: Path) -> bool:
    path = sidecar.path_for(output)
    try:
        return path.is_file() and sidecar.read_file(path).get("output") == output.name
    except BadInputError:
        return False


def remove_stale_temporaries(output: Path, claimed: bool = False) -> None:
    """Temporary files of a killed earlier run for this output, its SRTs and sidecar
    (``.<stem>.[...]lssd-tmp-<pid>...``). Those whose process is gone are removed and a live writer's are
    left alone; a caller holding the clip's claim (``claimed``, e.g. a dataset builder on shared storage,
    where a pid may be another machine's) removes them all, since nobody else can be writing them."""
    if not output.parent.is_dir():
        return
    for tmp in output.parent.glob(f".{output.stem}.*lssd-tmp-*"):
        pid = tmp.name.rsplit(".lssd-tmp-", 1)[1].split(".", 1)[0]
        if claimed or (pid.isdigit() and not _alive(int(pid))):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Pipeline:
    """Dubs clips with one configuration. The run profile (``cfg.profile``) is applied here, so a library
    caller gets the same stack as the CLI; ``deviations`` lists what the profile could not honour."""

    def __init__(self, cfg: DubConfig, reporter: Reporter | None = None) -> None:
        self.cfg, self.deviations = apply_profile(cfg)
        self.report = reporter or (lambda event, label, info: None)

    def run(self, input_path: Path, output: Path | None = None, workdir: Path | None = None,
            until: str | None = None, force: set[str] | None = None, overwrite: bool = False) -> DubResult:
        """Dub one clip. ``until`` stops after that stage; ``force`` recomputes the named stages
        (``{"all"}`` recomputes everything); ``overwrite`` lets the output replace a file lssd did not write.

        The clip's work directory is locked for the run: a second run on it waits for the first, then
        finds its stages fresh (a killed run's lock is released by the kernel)."""
        input_path = Path(input_path)
        registry.preflight(self.cfg)
        registry.preflight_languages(self.cfg)
        info = probe(input_path)
        if until is not None:
            stages.get(until)
        output = default_output(input_path, info, self.cfg, output)
        check_output(output, overwrite)
        root = Path(workdir or default_workdir(input_path, output))
        lock = root.with_name(root.name + ".lock")
        what = f"the work directory {root}"
        try:
            with locks.exclusive(lock, what):
                return self._run(input_path, info, output, root, until, force)
        except locks.LockedError:
            self.report("wait", what, {"holder": locks.holder(lock)})
        with locks.exclusive(lock, what, wait=LOCK_WAIT_S):
            return self._run(input_path, info, output, root, until, force)

    def _run(self, input_path: Path, info: MediaInfo, output: Path, root: Path, until: str | None,
             force: set[str] | None) -> DubResult:
        remove_stale_temporaries(output)
        wd = Workdir(root)
        ctx = ClipContext(input_path=input_path, info=info, cfg=self.cfg, workdir=wd, output=output)
        run = _Run(ctx, DubResult(output=output, sidecar=sidecar.path_for(output), workdir=wd.root), force or set())

        keys = {stages.INPUT: self._step(run, prepare, None, [fingerprint(input_path), info.duration])}
        for module in GLOBAL_STAGES:
            keys[module.NAME] = self._step(run, module, None, [keys[m] for m in keys])
            if module.NAME == until:
                return self._finish(run, final=False)
        ctx.targets = self._target_langs(ctx, warn=bool(ctx.transcript.segments))
        if ctx.transcript.segments:  # the source is known now: every refusal names it, all in one message
            registry.preflight_languages(ctx.backend_cfg(), ctx.targets)
        chained = dict(keys)
        per_lang: dict[str, list[str]] = {}  # iso3 -> the dub's chained output ids, transcribe first
        for lang in ctx.targets if ctx.transcript.segments else []:
            upstream = [keys[stages.TRANSCRIBE]]
            for module in LANGUAGE_STAGES:
                upstream.append(self._step(run, module, lang, list(upstream)))
                if module.NAME == until:
                    break
            chained[lang.iso3] = upstream[-1]
            per_lang[lang.iso3] = upstream
        if until is not None and until != stages.REMUX:
            return self._finish(run, final=False)
        ctx.controls = controls.voices(ctx)
        for voice in ctx.controls:  # each control runs only the stages that make it differ from the dub
            upstream = per_lang.get(voice.iso3, [keys[stages.TRANSCRIBE]])[: controls.shared_stages(voice)]
            for module in controls.steps(voice):
                upstream.append(self._step(run, module, voice, list(upstream)))
            chained[voice.key] = upstream[-1]
        self._step(run, remux, None, [chained[k] for k in sorted(chained)] + [str(output)], must_exist=[output])
        return self._finish(run, final=True)

    def _target_langs(self, ctx: ClipContext, warn: bool) -> list[Language]:
        langs = []
        for lang in self.cfg.langs:
            if lang.iso3 == ctx.source_language:
                if warn:
                        ctx.warn(f"{lang.name} is the source language: the original track serves as its audio")
            else:
                langs.append(lang)
        return langs

    def _step(self, run: _Run, module: ModuleType, lang: Language | None, upstream: list,
              must_exist: list[Path] = ()) -> str:
        ctx, name = run.ctx, module.NAME
        control = getattr(lang, "control", None)
        label = f"{name} {lang.iso1}{f' ({control})' if control else ''}" if lang else name
        stage_id = f"{name}:{lang.work_dir(name)}" if lang else name
        settings = module.settings(self.cfg, lang)
        selection = module.choose(ctx, lang) if name in stages.BACKEND_OPTIONS else None
        for notice in selection.notices if selection else ():
            ctx.warn(notice)
        backend_id = self._backend_id(selection)
        key = make_key(name, STAGE_VERSION, settings, backend_id, upstream)
        iso = lang.work_dir(name) if lang else None
        fresh = ctx.workdir.is_fresh(name, key, iso) and all(Path(p).exists() for p in must_exist)
        if fresh and not ({"all", name} & run.force):
            run.result.skipped.append(stage_id)
            run.records[stage_id] = ctx.workdir.done(name, iso)
            self.report("skip", label, run.records[stage_id])
            return run.records[stage_id]["output_id"]
        self.report("start", label, {"backend": backend_id})
        t0 = time.perf_counter()
        ctx.progress = lambda done, total: self.report("progress", label, {"done": done, "total": total})
        try:
            record = module.run(ctx, lang, selection)
        finally:
            ctx.progress = None
        # downstream keys chain on this run's output id, so recomputing a stage (--force) also
        # invalidates everything after it even when its settings did not change
        output_id = uuid.uuid4().hex[:16]
        record = {**record, "seconds": round(time.perf_counter() - t0, 3), "settings": settings, "output_id": output_id}
        if selection is not None and selection.skipped:
            record["passed_over"] = list(selection.skipped)
        ctx.workdir.mark_done(name, key, record, iso)
        run.records[stage_id] = {"key": key, **record}
        run.result.ran.append(stage_id)
        self.report("done", label, record)
        return output_id

    def _backend_id(self, selection) -> str | None:
        if selection is None:
            return None
        backend = selection.backend
        return f"{backend.name}:{backend.model_name(self.cfg) or ''}"

    def _finish(self, run: _Run, final: bool) -> DubResult:
        result = run.result
        result.notices = list(run.ctx.notices)
        result.backends = {k: v.get("backend", "") for k, v in run.records.items() if v}
        if final:
            sidecar.write(result.sidecar, build_sidecar(run.ctx, run.records))
        return result


def build_sidecar(ctx: ClipContext, records: dict) -> dict:
    """Everything a researcher needs to trust or filter a synthetic dub: texts, times, stretch ratios,
    loudness before/after, and per-stage provenance (backend, versions, model hashes, settings)."""
    remux_record = records[stages.REMUX]
    targets = [t for t in remux_record["tracks"] if t["kind"] not in (sidecar.KIND_ORIGINAL, sidecar.KIND_CONTROL)]
    per_lang = {}

    def spoken(lang) -> tuple:
        return (ctx.translation(lang), {p["id"]: p for p in ctx.alignment(lang)["placements"]},
                ctx.loudness(lang)["segments"])

    for t in targets:
        iso = t["language"]
        if not ctx.transcript.segments:
            continue
        per_lang[iso] = spoken(get_language(iso))
    voices = {controls.voice(t["control"], get_language(t["spoken_language"])): sidecar.control_id(t)
              for t in remux_record["tracks"] if t["kind"] == sidecar.KIND_CONTROL and t["control"] != controls.BACKGROUND}
    per_control = {cid: spoken(v) for v, cid in voices.items()}
    segments = []
    for seg in ctx.transcript.segments:
        entry = {"id": seg.id, "start": seg.start, "end": seg.end, "text": seg.text,
                 "dubbed": seg.duration >= ctx.cfg.min_segment, "targets": {},
                 **({"controls": {}} if per_control else {})}
        for where, iso, (translation, placements, loud) in [("targets", *kv) for kv in per_lang.items()] + [
                ("controls", *kv) for kv in per_control.items()]:
            p = placements.get(seg.id)
            entry[where][iso] = {
                "text": translation.texts.get(seg.id, ""),
                **({"start": p["start"], "end": p["end"], "stretch_ratio": p["ratio"], "policy": p["policy"],
                    "borrowed_s": p["borrowed_s"], "trimmed_s": p["trimmed_s"],
                    "synth_duration": p["synth_duration"]} if p else {"placed": False}),
                **({"loudness": loud[str(seg.id)]} if str(seg.id) in loud else {}),
            }
        segments.append(entry)
    return {
        "format": sidecar.FORMAT,
        "lssd_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": {"path": str(ctx.input_path), "fingerprint": fingerprint(ctx.input_path),
                  "duration": ctx.info.duration, "has_video": ctx.info.has_video},
        "output": ctx.output.name,
        "duration": ctx.duration,
        "source_language": ctx.source_language,
        "source_language_detection": ctx.transcript.detection,  # {language, probability, model} or null
        "tracks": remux_record["tracks"],
        "srt": remux_record["srt"],
        "segments": segments,
        "stages": {k: v for k, v in records.items()},
        "settings": _settings(ctx.cfg),
        "notices": list(ctx.notices),
    }


def _settings(cfg: DubConfig) -> dict:
    data = asdict(cfg)
    data["langs"] = cfg.lang_codes
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()}
