"""The dataset card, ``OUT/README.md``: what a built dataset holds and what binds it, written from the
manifest so it always agrees with it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lssd.dataset.worker import MODE_SEPARATE
from lssd import __version__
from lssd.dataset.manifest import FINISHED, STATUSES
from lssd.media import atomic_output

CARD = "README.md"


def render(rows: list[dict[str, Any]], command: str, mode: str, release: bool) -> str:
    counts = Counter(r["status"] for r in rows)
    finished = [r for r in rows if r["status"] in FINISHED]
    hours = sum(r.get("duration") or 0.0 for r in finished) / 3600
    languages = sorted({lang for r in finished for lang in r.get("languages") or []})
    sources = Counter(r.get("source_language") or "und" for r in finished)
    backends: Counter[str] = Counter()
    for r in finished:
        backends.update(f"{stage.split(':')[0]}: {name}" for stage, name in (r.get("backends") or {}).items())
    models = sorted({(name, sha) for r in finished for name, sha in (r.get("models") or {}).items()})
    licences = sorted({lic for r in finished for lic in r.get("licences") or []})
    what = ("speech-removed copies (audio = the separated background of the original)" if mode == MODE_SEPARATE
            else "multi-track dubs (original audio plus one tagged synthetic dub per language)")
    lines = [
        "# Dataset card (written by lssd)",
        "",
        f"Built with lssd {__version__} on {datetime.now(timezone.utc).strftime('%Y-%m-%d')}: {what}.",
        "",
        "```",
        command,
        "```",
        "",
        "## Contents",
        "",
        "| status | clips |",
        "|---|---|",
        *(f"| {s} | {counts.get(s, 0)} |" for s in STATUSES),
        "",
        f"- {len(finished)} clips built, {hours:.2f} hours of video.",
        f"- dub languages: {', '.join(languages) or 'none'}; source languages: "
        + (", ".join(f"{k} ({v})" for k, v in sources.most_common()) or "none"),
        "- `videos/<id>.mkv` (+ `<id>.lssd.json` sidecar and `<id>.<lang>.srt` for dubs); one row per id in "
        "`manifest.parquet` / `manifest.jsonl`.",
    ]
    if release:
        lines.append("- `lvu_1.0/`: the LVU split files, copied unchanged.")
    lines += ["", "## Backends (clips per stage and backend)", ""]
    lines += [f"- {name}: {n}" for name, n in sorted(backends.items())] or ["- none"]
    lines += ["", "## Model files (sha256)", ""]
    lines += [f"- `{name}`: `{sha}`" for name, sha in models] or ["- none (weights-free backends only)"]
    lines += ["", "## Licences that bind this dataset", ""]
    lines += [f"- {lic}" for lic in licences] or ["- no model licence beyond the source videos' own terms"]
    lines += ["", "The source videos keep their own licences and terms of use.", ""]
    if any("pseudo" in (r.get("backends") or {}).get(k, "") for r in finished for k in (r.get("backends") or {})):
        lines.insert(lines.index("## Backends (clips per stage and backend)") + 2,
                     "Tracks made with the `pseudo` translator speak pseudo-text, **not a translation** "
                     "(their sidecars and titles say so).\n")
    return "\n".join(lines)


def write(out_dir: Path, rows: list[dict[str, Any]], command: str, mode: str, release: bool) -> Path:
    path = Path(out_dir) / CARD
    with atomic_output(path) as tmp:
        tmp.write_text(render(rows, command, mode, release), encoding="utf-8")
    return path
