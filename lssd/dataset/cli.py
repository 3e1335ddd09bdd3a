"""``lssd build-dataset``: every ``lssd dub`` option (shared through :func:`lssd.dub.cli.with_config_options`)
plus the dataset's own: subsets, workers, engine, resume."""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from lssd.dataset.worker import MODE_DUB, MODE_SEPARATE
from lssd.dub.cli import with_config_options
from lssd.errors import BadInputError

console = Console()  # stdout: a batch job's log shows the progress lines (errors go to stderr)


class Engine(str, Enum):
    local = "local"
    ray = "ray"


def command_line(ctx: typer.Context) -> str:
    """The command as given (options at their defaults left out), for the dataset card."""
    words = ["lssd", ctx.info_name or "build-dataset"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        source = ctx.get_parameter_source(param.name)
        if value is None or source is None or source.name == "DEFAULT":
            continue
        if param.param_type_name == "argument":
            words.append(str(value))
        elif isinstance(value, bool):
            flag = param.opts[0] if value else (param.secondary_opts or [""])[0]
            words.append(flag)
        else:
            for item in value if isinstance(value, (list, tuple)) else [value]:
                words += [param.opts[0], str(getattr(item, "value", item))]
    return shlex.join(w for w in words if w)


@with_config_options
def build_dataset(
    ctx: typer.Context,
    root: Path = typer.Argument(..., help="LVU folder (lvu_1.0/ and videos/) or any folder of videos."),
    langs: str | None = typer.Option(None, "--langs", "-l", help="Target languages: es,fr,ja (not with --separate-only)."),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to write (OUT_DIR)."),
    videos: Path | None = typer.Option(None, help="Folder of <id>.<ext> videos \\[default: ROOT/videos]."),
    tasks: str | None = typer.Option(None, help="Only ids of these LVU tasks: genre,scene."),
    ids: Path | None = typer.Option(None, help="Only the ids listed in this file (one per line)."),
    limit: int | None = typer.Option(None, help="Only the first N ids."),
    shard: str | None = typer.Option(None, help="i/n: this job's share of the ids (job arrays)."),
    workers: int | None = typer.Option(None, help="Workers \\[default: --workers-per-gpu per GPU, else one per core]."),
    workers_per_gpu: int = typer.Option(1, help="Workers sharing each GPU (local: pinned round-robin; Ray: 1/N GPU "
                                                "each), so the GPU computes while the others are in CPU stages; "
                                                "refused when their models cannot fit its memory."),
    engine: Engine = typer.Option(Engine.local, help="local processes, or ray (a Ray cluster)."),
    ray_address: str | None = typer.Option(None, help="Ray cluster to join \\[default: RAY_ADDRESS, else a local one]."),
    keep_work: bool = typer.Option(False, help="Keep each clip's work directory (intermediate WAVs)."),
    qc: bool = typer.Option(True, help="Record each dub's cheap QC summary in its manifest row (≈9 s CPU per "
                                       "minute of audio per track; `lssd qc --manifest` reads it)."),
    dry_run: bool = typer.Option(False, help="Count ids found/missing, hours and time; write nothing."),
    separate_only: bool = typer.Option(False, help="Only separate: OUT/videos/<id>.mkv with speech removed (SEP)."),
    cfg_kwargs: dict | None = None,
) -> None:
    """Dub every clip of a dataset (LVU → LVU-M): parallel workers, resume, a manifest and a dataset card."""
    from lssd.dataset.build import BuildOptions, build
    from lssd.dataset.clips import parse_shard
    from lssd.languages import parse_langs

    if separate_only and langs:
        raise BadInputError("--separate-only writes speech-removed copies: it takes no --langs")
    if not separate_only and not langs:
        raise BadInputError("--langs is required (e.g. --langs es,fr,ja)")
    codes = [lang.iso3 for lang in parse_langs(langs)] if langs else []
    opts = BuildOptions(root=root, out_dir=output, langs=codes, cfg_kwargs=cfg_kwargs or {},
                        command=command_line(ctx), videos=videos, tasks=tasks, ids_file=ids, limit=limit,
                        shard=parse_shard(shard), workers=workers, workers_per_gpu=workers_per_gpu, engine=engine.value, ray_address=ray_address,
                        keep_work=keep_work, qc=qc, dry_run=dry_run, mode=MODE_SEPARATE if separate_only else MODE_DUB)
    outcome = build(opts, console)
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    app.command("build-dataset", rich_help_panel="Dubbing")(build_dataset)
