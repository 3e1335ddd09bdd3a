"""QC over a dataset: read ``lssd build-dataset``'s manifest (one row per clip: ``id``, ``status``,
``output``, ``sidecar``, ``qc``), give the distribution of every metric, the worst clips, a PNG of
histograms, and the ids that pass (a filter for ``lssd index``).

A row's ``qc`` is :func:`lssd.qc.report.qc_summary` (a dict, or that dict as JSON); a finished clip
without one is measured here (cheap metrics), so a manifest written before QC existed still works.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lssd.errors import BadInputError
from lssd.media import atomic_output
from lssd.qc.report import qc_summary
from lssd.qc.thresholds import BY_NAME, LEVELS, at_least, worst

DONE = ("done", "ok", "dubbed")  # manifest statuses of a finished clip
COLUMNS = ("id", "status", "output")


def _summary(row: dict, base: Path) -> dict | None:
    qc = row.get("qc")
    if isinstance(qc, str) and qc.strip():
        try:
            qc = json.loads(qc)
        except json.JSONDecodeError:
            raise BadInputError(f"manifest row {row['id']}: its qc column is not JSON") from None
    if isinstance(qc, dict) and qc.get("tracks") is not None:
        return qc
    output = Path(str(row.get("output") or ""))
    output = output if output.is_absolute() else base / output
    return qc_summary(output) if output.is_file() else None


def load(manifest: Path) -> list[dict]:
    """``[{id, status, summary}]`` for every finished clip of a manifest (parquet or JSONL)."""
    import pandas as pd

    manifest = Path(manifest)
    if not manifest.is_file():
        raise BadInputError(f"manifest not found: {manifest}")
    try:
        frame = pd.read_json(manifest, lines=True) if manifest.suffix == ".jsonl" else pd.read_parquet(manifest)
    except Exception as exc:  # pyarrow/pandas raise many kinds for a file that is not a manifest
        raise BadInputError(f"cannot read manifest {manifest.name} ({type(exc).__name__})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise BadInputError(f"manifest {manifest.name} has no {', '.join(missing)} column(s)")
    clips = []
    for row in frame.to_dict("records"):
        if str(row["status"]) not in DONE:
            continue
        clips.append({"id": str(row["id"]), "summary": _summary(row, manifest.parent),
                      "pseudo_text": _speaks_pseudo_text(row, manifest.parent)})
    return clips


def _speaks_pseudo_text(row: dict, base: Path) -> bool:
    """Whether a dub track of the clip speaks pseudo-text (its sidecar says so): such a clip never passes,
    whatever its audio measures, because it is not a translation."""
    from lssd.sidecar import TEXT_PSEUDO

    path = Path(str(row.get("sidecar") or ""))
    path = path if path.is_absolute() else base / path
    if not row.get("sidecar") or not path.is_file():
        return False
    try:
        tracks = json.loads(path.read_text(encoding="utf-8")).get("tracks", [])
    except (OSError, ValueError):
        return False
    return any(isinstance(t, dict) and t.get("text_kind") == TEXT_PSEUDO for t in tracks)


def values_by_metric(clips: list[dict]) -> dict[str, list[float]]:
    """Every numeric value of every metric over every dub track of every clip."""
    out: dict[str, list[float]] = {name: [] for name in BY_NAME}
    for clip in clips:
        for track in (clip["summary"] or {}).get("tracks", []):
            for name, value in track.get("values", {}).items():
                if name in out and isinstance(value, (int, float)) and value is not None and np.isfinite(value):
                    out[name].append(float(value))
    return {k: v for k, v in out.items() if v}


def clip_status(clip: dict) -> str:
    summary = clip["summary"]
    return worst(t.get("status") for t in summary.get("tracks", [])) if summary else "fail"


def _badness(clip: dict) -> tuple[int, int, int]:
    statuses = [s for t in (clip["summary"] or {}).get("tracks", []) for s in t.get("statuses", {}).values()]
    return (LEVELS.index(clip_status(clip)), statuses.count("fail"), statuses.count("warn"))


def report(clips: list[dict], worst_n: int = 10) -> dict:
    """Distribution (count, mean, percentiles, status counts) of each metric, the worst clips, totals."""
    metrics = {}
    for name, vals in values_by_metric(clips).items():
        arr = np.array(vals)
        statuses = [BY_NAME[name].status(v) for v in vals]
        metrics[name] = {"unit": BY_NAME[name].unit, "n": int(arr.size), "mean": float(arr.mean()),
                         **{f"p{q}": float(np.percentile(arr, q)) for q in (5, 50, 95)},
                         "min": float(arr.min()), "max": float(arr.max()),
                         **{s: statuses.count(s) for s in LEVELS}}
    ranked = sorted(clips, key=_badness, reverse=True)[:worst_n]
    worst_clips = [{"id": c["id"], "status": clip_status(c),
                    "problems": sorted({f"{t.get('language')}:{k}" for t in (c["summary"] or {}).get("tracks", [])
                                        for k, s in t.get("statuses", {}).items() if s in ("warn", "fail")})
                    or (["no QC (output missing)"] if c["summary"] is None else [])}
                   for c in ranked if clip_status(c) != "pass"]
    return {"clips": len(clips), "status": {s: sum(clip_status(c) == s for c in clips) for s in LEVELS},
            "metrics": metrics, "worst": worst_clips}


def passing(clips: list[dict], reject: str = "fail") -> list[str]:
    """Ids of clips none of whose tracks reaches ``reject`` (fail: warn passes; warn: only clean passes);
    a clip speaking pseudo-text never passes."""
    return [c["id"] for c in clips if not at_least(clip_status(c), reject) and not c.get("pseudo_text")]


def write_ids(path: Path, ids: list[str]) -> None:
    with atomic_output(Path(path)) as tmp:
        tmp.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")


def histograms(clips: list[dict], png: Path) -> Path:
    """One PNG: a histogram per metric, pass/warn limits drawn as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = values_by_metric(clips)
    if not data:
        raise BadInputError("no QC values in the manifest to draw")
    cols = 3
    rows = -(-len(data) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, vals) in zip(axes.flat, data.items()):
        m = BY_NAME[name]
        ax.hist(vals, bins=min(30, max(5, len(vals))), color="#5c6bc0")
        for limit, colour in ((m.pass_at, "#2e7d32"), (m.warn_at, "#c62828")):
            for x in ((limit, -limit) if m.better == "abs" else (limit,)):
                ax.axvline(x, color=colour, ls="--", lw=1)
        ax.set_title(f"{m.label} ({m.unit})", fontsize=9)
    for ax in list(axes.flat)[len(data):]:
        ax.axis("off")
    fig.suptitle(f"QC over {len(clips)} clips (green: pass limit, red: warn limit)", fontsize=10)
    fig.tight_layout()
    with atomic_output(Path(png)) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(png)
