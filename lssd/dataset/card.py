"""The dataset card, ``OUT/README.md``: what a built dataset holds and what binds it, written from the
manifest so it always agrees with it. Sections: the command, what a rebuild guarantees, contents,
coverage per task and split, failed ids with reasons, the QC summary per metric, backends (labelled
fallbacks called out), every model by catalog name + file + sha256 + licence, the licences that bind the
dataset, and the versions of lssd, its libraries and tools."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from lssd import __version__
from lssd.dataset.manifest import FINISHED, STATUSES
from lssd.dataset.progress import LOGS, hms
from lssd.dataset.reproducible import GUARANTEE
from lssd.dataset.worker import MODE_SEPARATE
from lssd.media import atomic_output, tool_version

CARD = "README.md"
FAILED_LISTED = 200  # failed ids named in the card; the manifest has them all
LIBRARIES = ("torch", "numpy", "faster-whisper", "ctranslate2", "openai-whisper", "transformers", "demucs",
             "silero-vad", "onnxruntime", "pyworld", "pyloudnorm", "librosa", "soundfile", "av", "apertium",
             "ray")
TOOLS = {"ffmpeg": "-version", "rubberband": "--version", "espeak-ng": "--version"}
SECTIONS = ("## Reproducibility", "## Contents", "## Coverage per task and split", "## Failed ids",
            "## Quality control", "## Backends", "## Models", "## Licences that bind this dataset", "## Versions")


def render(rows: list[dict[str, Any]], command: str, mode: str, release: bool,
           versions: dict[str, str] | None = None) -> str:
    counts = Counter(r["status"] for r in rows)
    finished = [r for r in rows if r["status"] in FINISHED]
    seconds = sum(r.get("duration") or 0.0 for r in finished)
    languages = sorted({lang for r in finished for lang in r.get("languages") or []})
    sources = Counter(r.get("source_language") or "und" for r in finished)
    what = ("speech-removed copies (audio = the separated background of the original)" if mode == MODE_SEPARATE
            else "multi-track dubs (original audio plus one tagged synthetic dub per language)")
    wall = sum(float(r.get("wall_seconds") or 0.0) for r in finished)
    cpu = sum(float(r.get("cpu_seconds") or 0.0) for r in finished)
    lines = [
        "# Dataset card (written by lssd)",
        "",
        f"Built with lssd {__version__} on {datetime.now(timezone.utc).strftime('%Y-%m-%d')}: {what}.",
        "",
        "```",
        command,
        "```",
        "",
        "## Reproducibility",
        "",
        GUARANTEE,
        "",
        "## Contents",
        "",
        "| status | clips |",
        "|---|---|",
        *(f"| {s} | {counts.get(s, 0)} |" for s in STATUSES),
        "",
        f"- {len(finished)} clips built, {hms(seconds)} of video ({seconds / 3600:.2f} h); workers spent "
        f"{hms(wall)} wall, {hms(cpu)} CPU on them.",
        f"- dub languages: {', '.join(languages) or 'none'}; source languages: "
        + (", ".join(f"{k} ({v})" for k, v in sources.most_common()) or "none"),
        "- `videos/<id>.mkv` (+ `<id>.lssd.json` sidecar and `<id>.<lang>.srt` for dubs); one row per id in "
        f"`manifest.parquet` / `manifest.jsonl`; the build's log in `{LOGS}/`.",
    ]
    if release:
        lines.append("- `lvu_1.0/`: the LVU split files, copied unchanged.")
    lines += ["", *_coverage(rows), "", *_failed(rows), "", *_qc(finished), "", *_backends(finished), "",
              *_models(finished), "", "## Licences that bind this dataset", ""]
    licences = sorted({lic for r in finished for lic in r.get("licences") or []})
    lines += [f"- {lic}" for lic in licences] or ["- no model licence beyond the source videos' own terms"]
    lines += ["", "The source videos keep their own licences and terms of use.", "", "## Versions", ""]
    lines += [f"- {name}: {v}" for name, v in (versions if versions is not None else tool_versions()).items()]
    return "\n".join(lines) + "\n"


def _coverage(rows: list[dict[str, Any]]) -> list[str]:
    """How many of each task/split's ids are built: what a user of one LVU task needs to know."""
    table: dict[tuple[str, str], Counter] = {}
    for r in rows:
        for task, split in zip(r.get("tasks") or [], r.get("splits") or []):
            table.setdefault((task, split), Counter())[r["status"]] += 1
    lines = ["## Coverage per task and split", ""]
    if not table:
        return lines + ["- not an LVU release: no tasks or splits"]
    lines += ["| task | split | ids | done | no-speech | missing | failed | built |", "|---|---|---|---|---|---|---|---|"]
    for (task, split), c in sorted(table.items()):
        total = sum(c.values())
        built = c["done"] + c["no-speech"]
        lines.append(f"| {task} | {split} | {total} | {c['done']} | {c['no-speech']} | {c['missing']} | "
                     f"{c['failed']} | {100 * built / total:.1f} % |")
    return lines


def _failed(rows: list[dict[str, Any]]) -> list[str]:
    failed = sorted((r for r in rows if r["status"] == "failed"), key=lambda r: r["id"])
    lines = ["## Failed ids", ""]
    if not failed:
        return lines + ["- none"]
    lines += [f"- `{r['id']}`: {r.get('reason') or 'no reason recorded'}" for r in failed[:FAILED_LISTED]]
    if len(failed) > FAILED_LISTED:
        lines.append(f"- … and {len(failed) - FAILED_LISTED} more (rows with status `failed` in the manifest)")
    return lines


def _qc(finished: list[dict[str, Any]]) -> list[str]:
    from lssd.qc import dataset as qc_dataset

    clips = []
    for r in finished:
        try:
            summary = json.loads(r["qc"]) if isinstance(r.get("qc"), str) else r.get("qc")
        except json.JSONDecodeError:
            summary = None
        if isinstance(summary, dict) and summary.get("tracks") is not None:
            clips.append({"id": r["id"], "summary": summary})
    lines = ["## Quality control", ""]
    if not clips:
        return lines + ["- no QC recorded (built with `--no-qc`): `lssd qc --manifest OUT/manifest.parquet` measures it"]
    report = qc_dataset.report(clips)
    status = ", ".join(f"{n} {s}" for s, n in report["status"].items())
    lines += [f"Cheap QC of {len(clips)} of {len(finished)} built clips: {status} (the worst track decides).", "",
              "| metric | n | median | pass | warn | fail |", "|---|---|---|---|---|---|"]
    lines += [f"| {name} ({m['unit']}) | {m['n']} | {m['p50']:.3g} | {m['pass']} | {m['warn']} | {m['fail']} |"
              for name, m in report["metrics"].items()]
    lines += ["", "`lssd qc --manifest OUT/manifest.parquet --passing ids.txt` lists the passing ids (clips speaking "
              "pseudo-text never pass)."]
    return lines


def _backends(finished: list[dict[str, Any]]) -> list[str]:
    from lssd.backends import registry

    used: Counter[tuple[str, str]] = Counter()
    for r in finished:
        used.update((stage.split(":")[0], name) for stage, name in (r.get("backends") or {}).items())
    lines = ["## Backends (clips per stage and backend)", ""]
    if not used:
        return lines + ["- none"]
    labelled = {(b.stage, b.name): b for stage, _ in used for b in _stage_backends(registry, stage)}
    fallbacks = []
    for (stage, name), n in sorted(used.items()):
        backend = labelled.get((stage, name))
        flag = " — **labelled fallback**" if backend is not None and backend.fallback else ""
        lines.append(f"- {stage}: {name} ({n} clip{'s' if n != 1 else ''}){flag}")
        if flag:
            fallbacks.append(f"{stage}: {name} ({backend.label})")
    lines.append("")
    lines.append("Labelled fallbacks used (not the paper's stack): " + "; ".join(fallbacks) + "."
                 if fallbacks else "No labelled fallback was used.")
    if any(name == "pseudo" for (stage, name) in used if stage == "translate"):
        lines.append("Tracks made with the `pseudo` translator speak pseudo-text, **not a translation** "
                     "(their sidecars and titles say so).")
    return lines


def _stage_backends(registry, stage: str) -> list:
    try:
        return registry.backends(stage)
    except Exception:  # a stage name from another lssd version: no flags to show
        return []


def _models(finished: list[dict[str, Any]]) -> list[str]:
    from lssd.dataset.models import _entries, identify

    entries = {e.name: e for e in _entries()}
    files = sorted({(key, sha) for r in finished for key, sha in (r.get("models") or {}).items()})
    lines = ["## Models (every weight file a stage loaded)", ""]
    if not files:
        return lines + ["- none (weights-free backends only)"]
    lines += ["| model (catalog) | file | sha256 | licence |", "|---|---|---|---|"]
    for key, sha in files:
        name, _, file = key.rpartition("/")
        entry = entries.get(name) if name else identify(file, sha)  # a bare name: a row from before lssd 0.1
        name = entry.name if entry else name
        licence = f"{entry.licence}{' (non-commercial)' if entry.non_commercial else ''}" if entry else "not in the catalog"
        lines.append(f"| {name or 'unknown'} | `{file}` | `{sha}` | {licence} |")
    return lines


def tool_versions() -> dict[str, str]:
    """lssd, the Python libraries a dub can use and the command-line tools, as installed here."""
    found = {"lssd": __version__}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    for tool, flag in TOOLS.items():
        path = shutil.which(tool)
        if path is None:
            continue
        found[tool] = tool_version(path, flag)[:100] or "installed"
    return found


def write(out_dir: Path, rows: list[dict[str, Any]], command: str, mode: str, release: bool) -> Path:
    path = Path(out_dir) / CARD
    with atomic_output(path) as tmp:
        tmp.write_text(render(rows, command, mode, release), encoding="utf-8")
    return path
