"""``lssd qc``: measure a dub (or a whole dataset's manifest), print a table, write JSON and figures."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lssd.errors import BadInputError
from lssd.media import write_json
from lssd.qc.thresholds import (
    CHEAP,
    LEVELS,
    METRICS,
    MODEL,
    NA,
    at_least,
    with_overrides,
)

console = Console()
STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", NA: "dim"}
THRESHOLD_HELP = "Override a metric's limits: NAME=PASS,WARN (repeatable), e.g. timing=0.9,0.8. Names: " + \
    ", ".join(m.name for m in METRICS) + "."


def _fmt(m: dict) -> str:
    v = m["value"]
    text = "—" if v is None else v if isinstance(v, str) else f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    extra = f" ({m['detected']})" if m.get("detected") else ""
    return f"[{STYLE[m['status']]}]{escape(f'{text}{extra}')} {m['status']}[/]"


def _table(report: dict) -> Table:
    orig = report["original"]
    table = Table(title=escape(f"QC of {Path(report['output']).name} — original: {orig['title']} "
                               f"[{orig['language']}], {orig['speech_s']:.1f} s of speech"), title_justify="left")
    table.add_column("metric")
    table.add_column("limits (pass/warn)", style="dim")
    for t in report["tracks"]:
        table.add_column(escape(f"{t['title']} [{t['language']}]"))
    names = [m.name for m in METRICS if any(m.name in t["metrics"] for t in report["tracks"])]
    limits = report["thresholds"]
    for name in [*names, "text"]:
        if not any(name in t["metrics"] for t in report["tracks"]):
            continue
        lim = limits.get(name)
        unit = next((t["metrics"][name]["unit"] for t in report["tracks"] if name in t["metrics"]), "")
        sign = "≥" if lim and lim["better"] == "higher" else "≤"
        table.add_row(f"{name} ({unit})" if unit else name,
                      f"{sign}{lim['pass']:g} / {sign}{lim['warn']:g}" if lim else "translation",
                      *[_fmt(t["metrics"][name]) if name in t["metrics"] else "" for t in report["tracks"]])
    table.add_row("[bold]verdict[/]", "", *[f"[{STYLE[t['status']]}]{t['status']}[/]" for t in report["tracks"]])
    return table


def _speaker_table(report: dict) -> Table:
    """Per speaker and dub track: voice similarity to the same original speaker (and the original speaker
    the dub is closest to), F0 difference; per track: the speaker-consistency figure."""
    table = Table(title="per speaker (dub speaker k against original speaker k)", title_justify="left")
    for col in ("track", "speaker", "segments", "voice (cos)", "closest original", "f0 (st)"):
        table.add_column(col)

    def num(v, fmt=".3g") -> str:
        return "—" if v is None else format(v, fmt)

    for t in report["tracks"]:
        sp = t.get("speakers")
        if not sp:
            continue
        for row in sp["speakers"]:
            closest = row.get("closest")
            mark = "" if closest in (None, row["id"]) else " [red](another speaker)[/]"
            table.add_row(escape(t["language"]), row["id"], str(row["segments"]), num(row.get("voice")),
                          f"{closest or '—'}{mark}", num(row["f0"]))
        if "consistency" in sp:
            table.add_row(escape(t["language"]), "[bold]consistency[/]", str(sp["compared"]),
                          f"{num(sp['consistency'])} of segments nearer their own speaker",
                          f"margin {num(sp['margin'])}", "")
    return table


def qc(
    output: Path | None = typer.Argument(None, help="A container `lssd dub` wrote (its sidecar is read if present)."),
    manifest: Path | None = typer.Option(None, "--manifest", "-m", help="Dataset manifest (lssd build-dataset): "
                                         "report over every clip instead of one file."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the full report as JSON ('-': to stdout)."),
    figure: Path | None = typer.Option(None, "--figure", help="Write the Fig. 4-style figure (one file) or the "
                                       "metric histograms (--manifest) to this PNG."),
    window: float | None = typer.Option(None, "--window", help="Figure: show only the middle N seconds."),
    fail_on: str | None = typer.Option(None, "--fail-on", help="Exit 1 when any track is at this level or worse "
                                       "(warn or fail); the default exit code ignores QC results."),
    thresholds: list[str] = typer.Option([], "--threshold", help=THRESHOLD_HELP),
    cheap: bool = typer.Option(False, "--cheap", help="Skip the model-based metrics (language ID, voice)."),
    track: list[int] = typer.Option([], "--track", help="Check only this audio track (0-based; repeatable)."),
    original: int | None = typer.Option(None, "--original", help="Audio track holding the original (default: the "
                                        "sidecar's, else the first)."),
    passing: Path | None = typer.Option(None, "--passing", help="--manifest: write the ids that pass, one a line."),
    reject: str = typer.Option("fail", "--reject", help="--passing: a clip with a track at this level (warn or "
                               "fail) does not pass."),
    worst_n: int = typer.Option(10, "--worst", help="--manifest: how many of the worst clips to list."),
) -> None:
    """Measure dub quality per track: timing, loudness, background, leakage, language, voice, alignment."""
    for name, level in (("--fail-on", fail_on), ("--reject", reject)):
        if level is not None and level not in LEVELS[1:]:
            raise BadInputError(f"{name} takes warn or fail, not {level!r}")
    if (output is None) == (manifest is None):
        raise BadInputError("give either a dubbed file or --manifest")
    if manifest is not None:
        status = _dataset(manifest, json_out, figure, passing, reject, worst_n)
    else:
        from lssd.qc.report import check

        costs = (CHEAP,) if cheap else (CHEAP, MODEL)
        report = check(output, table=with_overrides(thresholds), costs=costs, original=original,
                       only=set(track) or None)
        if json_out is not None and str(json_out) == "-":
            typer.echo(json.dumps(report, indent=2, default=float))
        else:
            console.print(_table(report))
            if any(t.get("speakers") for t in report["tracks"]):
                console.print(_speaker_table(report))
        if json_out is not None and str(json_out) != "-":
            write_json(json_out, report)
            console.print(f"wrote {json_out}")
        if figure is not None:
            from lssd.qc.figure import draw

            console.print(f"wrote {draw(output, figure, report, window)}")
        for notice in report["notices"]:  # a fault a glance at the table could miss
            typer.echo(f"notice: {notice}", err=True)
        status = report["status"]
    if fail_on is not None and at_least(status, fail_on):
        raise typer.Exit(1)


def _dataset(manifest: Path, json_out: Path | None, figure: Path | None, passing: Path | None, reject: str,
             worst_n: int) -> str:
    from lssd.qc import dataset

    clips = dataset.load(manifest)
    summary = dataset.report(clips, worst_n)
    table = Table(title=f"QC over {summary['clips']} clips: " + ", ".join(f"{n} {s}" for s, n in summary["status"].items()),
                  title_justify="left")
    for col in ("metric", "n", "p5", "median", "p95", "pass", "warn", "fail"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in summary["metrics"].items():
        table.add_row(f"{name} ({m['unit']})", str(m["n"]), f"{m['p5']:.3g}", f"{m['p50']:.3g}", f"{m['p95']:.3g}",
                      f"[green]{m['pass']}[/]", f"[yellow]{m['warn']}[/]", f"[red]{m['fail']}[/]")
    console.print(table)
    for c in summary["worst"]:
        console.print(f"[{STYLE[c['status']]}]{c['status']}[/] {escape(c['id'])}: {escape(', '.join(c['problems']))}")
    if json_out is not None:
        write_json(json_out, summary)
    if figure is not None:
        console.print(f"wrote {dataset.histograms(clips, figure)}")
    if passing is not None:
        ids = dataset.passing(clips, reject)
        dataset.write_ids(passing, ids)
        console.print(f"wrote {len(ids)} passing ids to {passing}")
    return max((dataset.clip_status(c) for c in clips), key=LEVELS.index, default="pass")


def register(app: typer.Typer) -> None:
    app.command("qc", rich_help_panel="Dubbing")(qc)
