"""``lssd models ...``: list, inspect, pull, import and verify the pretrained weights the pipeline uses."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lssd.errors import LssdError

from .install import InstallReport
from .store import Store, get_store
from .verify import ModelCheck


class VerifyFailed(LssdError):
    """Some model files do not hash to what the catalog or the install recorded."""

    exit_code = 1


STATUS_STYLE = {"present": "green", "bundled": "cyan", "partial": "yellow", "missing": "red"}
CHECK_STYLE = {"ok": "green", "missing": "dim", "partial": "yellow", "mismatch": "bold red"}


def human_size(n: int, approx: bool = False) -> str:
    """Decimal units, as model hubs print them (5.0 GB, 75.5 MB); ``approx`` drops false precision."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            break
        size /= 1000
    else:
        unit = "TB"
    if approx:
        return f"~{size:.0f} {unit}" if size >= 10 else f"~{size:.1f} {unit}"
    return f"{size:.0f} {unit}" if unit == "B" or size >= 100 else f"{size:.1f} {unit}"


def _out() -> Console:
    # Piped output is not cut to 80 columns: a model name or licence must never be truncated.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _size_cell(store: Store, name: str, status: str) -> str:
    entry = store.entry(name)
    if status in ("present", "bundled"):
        return human_size(store.disk_size(name))
    if entry.size:
        return human_size(entry.size, approx=not entry.size_exact)
    return "?"


def _licence_cell(licence: str, non_commercial: bool) -> str:
    return f"{licence} (non-commercial)" if non_commercial else licence


def list_models(stage: str | None = typer.Option(None, "--stage", help="Only models used by this stage.")) -> None:
    """Every model the catalog knows: stage, library, size, licence, and whether it is present."""
    store = get_store()
    table = Table(title=f"model store: {store.root}", title_justify="left")
    for col in ("model", "stage", "library", "size", "licence", "status"):
        table.add_column(col, no_wrap=True, justify="right" if col == "size" else "left")
    for entry in store.entries(stage):
        status = store.status(entry.name)
        table.add_row(
            entry.name,
            ",".join(entry.stages),
            entry.library,
            _size_cell(store, entry.name, status),
            _licence_cell(entry.licence, entry.non_commercial),
            f"[{STATUS_STYLE[status]}]{status}[/]",
        )
    _out().print(table)


def info(name: str = typer.Argument(..., help="Model name (see `lssd models list`).")) -> None:
    """Everything the catalog says about one model, and where it is (or would be)."""
    store = get_store()
    entry = store.entry(name)
    status = store.status(entry.name)
    out = _out()
    rows = [
        ("model", entry.name + (f" (also: {', '.join(entry.aliases)})" if entry.aliases else "")),
        ("title", entry.title),
        ("stage", ", ".join(entry.stages)),
        ("library", entry.library),
        ("licence", f"{_licence_cell(entry.licence, entry.non_commercial)}  {entry.licence_url}"),
        ("source", entry.source),
        ("size", _size_cell(store, entry.name, status)),
        ("status", status),
        ("path", str(store.path(entry.name))),
        ("description", entry.description),
    ]
    if entry.hf_repo:
        rows.append(("hugging face", f"{entry.hf_repo} @ {entry.hf_revision or 'main'}"))
    if entry.bundled:
        rows.append(("bundled in", f"pip package {entry.bundled.distribution}=={entry.bundled.version}"))
    if entry.requires:
        rows.append(("requires", ", ".join(entry.requires)))
    if entry.notes:
        rows.append(("notes", entry.notes))
    for key, value in rows:
        out.print(f"[bold]{key:>12}[/]  {value}", soft_wrap=True)
    for f in entry.files:
        pin = f.sha256 or (f"{f.sha256_prefix}… (prefix)" if f.sha256_prefix else "not published")
        out.print(f"[bold]{'file':>12}[/]  {f.name}  sha256 {pin}", soft_wrap=True)
    if entry.non_commercial:
        out.print(f"[bold yellow]{entry.licence_notice()}[/]", soft_wrap=True)


def path(name: str = typer.Argument(..., help="Model name.")) -> None:
    """Print the model's folder (whether present or not), for scripts."""
    typer.echo(get_store().path(name))


def _report(out: Console, report: InstallReport, verb: str) -> None:
    for sub in report.requirements:
        _report(out, sub, verb)
    done = f"{len(report.installed)} file(s) {verb}" + (f", {len(report.kept)} already there" if report.kept else "")
    out.print(f"[green]{report.name}[/]: {done} in {report.path}", soft_wrap=True)


def pull(
    name: str = typer.Argument(..., help="Model name."),
    force: bool = typer.Option(False, "--force", help="Download again even if the files are present."),
    progress: bool = typer.Option(sys.stderr.isatty(), "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Download a model from its official source and verify it (prints its licence)."""
    store = get_store()
    _report(_out(), store.pull(name, progress=progress, force=force), "downloaded")


def import_model(
    name: str = typer.Argument(..., help="Model name."),
    src: Path = typer.Argument(..., help="A folder, a single file, or a .tar/.tar.gz/.zip holding the files."),
) -> None:
    """Copy a model in from a folder or archive and verify it: the route for air-gapped machines."""
    _report(_out(), get_store().import_(name, src), "imported")


PIN_LABEL = {
    "ok": "a full sha256 its source publishes",
    "prefix": "only the sha256 prefix its source publishes",
    "recorded": "only the sha256 recorded at first install",
    "other-version": "only the sha256 recorded at install (another package version)",
}


def _pins(check: ModelCheck) -> str:
    """How strongly each file of a verified model is pinned: a published full hash, a published prefix (a
    Demucs file name's 32 bits), or nothing but what was recorded when it was first installed."""
    groups: dict[str, list[str]] = {}
    for f in check.files:
        groups.setdefault(f.status, []).append(f.name)
    parts = [f"{', '.join(names)} by {PIN_LABEL[status]}" for status, names in groups.items() if status in PIN_LABEL]
    return escape(f" (pinned: {'; '.join(parts)})") if parts else ""


def verify(name: str | None = typer.Argument(None, help="One model; all present models if omitted.")) -> None:
    """Re-hash model files against the catalog; exits non-zero on any mismatch."""
    report = get_store().verify(name)
    out = _out()
    for check in report.checks:
        if check.status == "missing" and not check.required:
            continue
        style = CHECK_STYLE.get(check.status, "")
        pins = _pins(check) if check.status == "ok" else ""
        out.print(f"[{style}]{check.name}: {check.status}[/]{pins}", soft_wrap=True, markup=True)
        for f in check.files:
            if not f.ok:
                detail = f" (expected {f.expected}, found {f.sha256})" if f.status == "mismatch" else ""
                out.print(f"  {f.name}: {f.status}{detail}", soft_wrap=True)
            elif f.status == "other-version":
                out.print(f"  {f.name}: from another package version than catalogued; hash recorded", soft_wrap=True)
    if not any(c.status != "missing" for c in report.checks) and name is None:
        out.print("no model is present yet; see `lssd models list`.")
    failed = [c for c in report.checks if not c.ok]
    if failed:
        names = ", ".join(f"{c.name} ({c.status})" for c in failed)
        target = failed[0].name if len(failed) == 1 else "NAME"
        raise VerifyFailed(
            f"verification failed for {names}; run `lssd models pull {target} --force` or import a good copy."
        )


def register(app: typer.Typer) -> None:
    """Add the ``models`` sub-command group."""
    models = typer.Typer(
        name="models",
        help="Pretrained weights: list what is known and present, pull, import (air-gapped), verify.",
        no_args_is_help=True,
    )
    models.command("list")(list_models)
    models.command("info")(info)
    models.command("path")(path)
    models.command("pull")(pull)
    models.command("import")(import_model)
    models.command("verify")(verify)
    app.add_typer(models, name="models")
