"""``lssd train``, ``lssd index`` and ``lssd recipes``: the trainer's half of the command line.

Heavy imports (torch, PyAV, pandas) happen inside the commands so ``lssd --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

recipes_app = typer.Typer(help="Training recipes (Table 1, App. A, App. B.3) shipped as YAML.",
                          no_args_is_help=True)

PROGRESS_HELP = "Show a progress bar (default: on a terminal; a file or a pipe gets log lines instead)."
SET_HELP = "Override a recipe key, e.g. --set optim.lr=1e-3 --set data.batch_size=32 (YAML-typed)."


def train(
    recipe: str = typer.Option(..., "--recipe", "-r", help="Recipe name (lssd recipes list) or YAML path."),
    index: Path | None = typer.Option(None, "--index", "-i", help="Shot index parquet (lssd index)."),
    shards: str | None = typer.Option(
        None, "--shards", help="Shard set (lssd shards): a folder or a URL prefix; streamed instead of --index."),
    out: Path = typer.Option(..., "--output", "-o", help="Run directory (checkpoints, TensorBoard, recipe)."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run's latest checkpoint."),
    init: Path | None = typer.Option(
        None, "--init", help="Checkpoint or run directory to start from (default for recipes with an "
        "init: the sibling run, runs/b3 for runs/b4)."),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    accum_freq: int | None = typer.Option(
        None, "--accum-freq", min=1, help="Micro-batches per step (sets train.accum_freq): the contrastive "
        "batch is K x data.batch_size per GPU, at the memory of one micro-batch and one extra forward pass."),
    sync_bn: bool = typer.Option(
        False, "--sync-bn", help="Batch norm over all GPUs' micro-batches (sets train.sync_bn; SyncBatchNorm, "
        "for the X3D-M / audio ResNet-50 recipes of App. B.3 under torchrun on GPUs)."),
    decode: str | None = typer.Option(
        None, "--decode", help="Where --shards frames are decoded (sets data.decode): auto (the GPU when training "
        "on one, default), cpu (loader workers) or device (the trainer's device, nvJPEG on a GPU)."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh in a run directory that holds "
                                   "checkpoints (they are deleted); without it such a run needs --resume."),
    eval_every: int | None = typer.Option(None, "--eval-every", min=1, help="Every N steps, a quick linear probe "
                                          "on --eval-task, logged to TensorBoard as probe/<embedding>_<metric>."),
    eval_task: Path | None = typer.Option(None, "--eval-task", help="A small labelled-clip task (lssd eval clips "
                                          "format) for --eval-every."),
) -> None:
    """Pretrain with a recipe; on several GPUs or nodes run it under torchrun (-m lssd.cli train ...)."""
    import logging
    import os

    from lssd.train.loop import train as run
    from lssd.train.recipes import load_recipe

    _fresh_run_dir(out, resume, overwrite, rank0=os.environ.get("RANK", "0") == "0")
    if os.environ.get("RANK", "0") == "0":
        logging.basicConfig(**log_config())
    if (index is None) == (shards is None):
        raise typer.BadParameter("give --index (a shot index) or --shards (a shard set), one of them")
    if accum_freq is not None:
        overrides = [*overrides, f"train.accum_freq={accum_freq}"]
    if sync_bn:
        overrides = [*overrides, "train.sync_bn=true"]
    if decode is not None:
        overrides = [*overrides, f"data.decode={decode}"]
    from lssd.eval.during_training import hooks_from_options

    run(load_recipe(recipe, overrides), index, out, resume=resume, init=init, device=device,
        progress=_progress(progress), hooks=hooks_from_options(eval_every, eval_task), shards=shards)


def _progress(option: bool | None) -> bool:
    import sys

    return sys.stdout.isatty() if option is None else option


def log_config() -> dict[str, Any]:
    """Rich's handler on a terminal; a file or a pipe (a batch job) gets one timestamped line per record
    instead of Rich's 80-column wrap, so the log reads line by line."""
    import logging
    import sys

    if sys.stdout.isatty():
        from rich.logging import RichHandler

        return {"level": logging.INFO, "format": "%(message)s", "handlers": [RichHandler(show_path=False)]}
    return {"level": logging.INFO, "format": "%(asctime)s %(levelname)s %(message)s",
            "datefmt": "%Y-%m-%d %H:%M:%S", "handlers": [logging.StreamHandler(sys.stdout)]}


def _fresh_run_dir(out: Path, resume: bool, overwrite: bool, rank0: bool) -> None:
    """A run directory holding checkpoints is continued (--resume) or, on request, started afresh
    (--overwrite: its checkpoints go, so a later --resume cannot pick an old run's); never replaced silently."""
    from lssd.errors import BadInputError
    from lssd.train.checkpoint import checkpoints

    found = checkpoints(out) if Path(out).is_dir() else []
    if not found or resume:
        return
    if not overwrite:
        raise BadInputError(f"{out} already holds {len(found)} checkpoint(s) (latest {found[-1].name}); pass "
                            f"--resume to continue that run, choose another --output, or --overwrite to start afresh")
    if rank0:
        for path in found:
            path.unlink(missing_ok=True)


def index(
    root: Path = typer.Argument(..., help="Dataset root: multi-track containers (mkv/mp4/...) below it."),
    out: Path = typer.Option(..., "--output", "-o", help="Where to write the parquet index."),
    min_shot: float = typer.Option(3.0, help="Shortest shot kept, seconds (App. A: 3)."),
    max_shot: float = typer.Option(12.0, help="Longest shot kept, seconds (App. A: 12)."),
    split_long: bool = typer.Option(False, help="Split shots over --max-shot instead of dropping them."),
    original_language: Path | None = typer.Option(None, help="JSON or CSV map title -> original language."),
    workers: int = typer.Option(1, help="Titles indexed in parallel."),
    threshold: float = typer.Option(27.0, help="Cut detector threshold (PySceneDetect ContentDetector)."),
    overwrite: bool = typer.Option(False, help="Let the index replace an existing file lssd did not write."),
) -> None:
    """Cut every title into shots and write the shot index the trainer reads."""
    from lssd import outputs
    from lssd.train.index import index_titles, is_index, nothing_indexed

    outputs.check_writable(Path(out).parent)
    outputs.check_replaceable(out, overwrite, own=Path(out).is_file() and is_index(out))
    built = index_titles(root, min_shot=min_shot, max_shot=max_shot, split_long=split_long,
                         original_language=original_language, workers=workers, threshold=threshold)
    if not built.titles:
        raise nothing_indexed(built.warnings, root, min_shot, max_shot, split_long)
    built.write(out)
    typer.echo(f"{built.shots} shots from {len(built.titles)} titles -> {out}"
               + (f" ({len(built.warnings)} warnings, see the log)" if built.warnings else ""))


def shards(
    index: Path = typer.Argument(..., help="Shot index parquet (lssd index)."),
    out: Path = typer.Option(..., "--output", "-o", help="Shard folder (created; a killed build resumes)."),
    short_side: int = typer.Option(320, help="Frames' shorter side: the largest training scale."),
    sample_rate: int = typer.Option(48_000, help="Audio rate of every track (44100 for the SEP recipe)."),
    shots_per_shard: int = typer.Option(256, help="Shots per tar (whole titles are kept together)."),
    quality: int = typer.Option(90, help="JPEG quality of the frames."),
    audio_codec: str = typer.Option("wav", help="wav (16-bit PCM, fastest to read) or flac (about half the bytes)."),
    workers: int = typer.Option(1, help="Shards built in parallel."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
) -> None:
    """Pack the index's shots (25 fps JPEG frames + every audio track) into webdataset shards for --shards."""
    from lssd.train.shards import ShardSettings, build_shards

    settings = ShardSettings(short_side=short_side, sample_rate=sample_rate, quality=quality,
                             audio_codec=audio_codec, shots_per_shard=shots_per_shard)
    stats = build_shards(index, out, settings, workers=workers, progress=_progress(progress))
    typer.echo(f"{stats['shots']} shots of {stats['titles']} titles ({stats['hours']:.2f} h) in "
               f"{stats['shards']} shards, {stats['bytes'] / 1e9:.2f} GB -> {out} (stats.json)")


@recipes_app.command("list")
def recipes_list() -> None:
    """Every shipped recipe with its one-line description."""
    from rich.console import Console
    from rich.table import Table

    from lssd.train.recipes import list_recipes

    table = Table("recipe", "description", box=None)
    for name, description in list_recipes():
        table.add_row(name, description)
    Console().print(table)


@recipes_app.command("show")
def recipes_show(
    name: str = typer.Argument(..., help="Recipe name or YAML path."),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """The fully resolved recipe (inheritance and overrides applied), as YAML."""
    from lssd.train.recipes import dump, load_recipe

    typer.echo(dump(load_recipe(name, overrides)), nl=False)


def register(app: typer.Typer) -> None:
    app.command("train", rich_help_panel="Training")(train)
    app.command("index", rich_help_panel="Training")(index)
    app.command("shards", rich_help_panel="Training")(shards)
    app.add_typer(recipes_app, name="recipes", rich_help_panel="Training")
