"""``lssd eval embed|lvu|hear|clips``: the evaluation half of the command line.

A command group because evaluation has several steps a researcher runs separately (embed once, probe
many times) and more benchmarks to come; HEAR is a Python module (``lssd.hear``), as its kit expects.
Heavy imports happen inside the commands so ``lssd --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

eval_app = typer.Typer(help="Frozen-backbone evaluation: embeddings, probes, LVU, HEAR scene tasks, labelled clips (§5).",
                       no_args_is_help=True)

MEDIA_SUFFIXES = (".mkv", ".mp4", ".mov", ".m4v", ".webm", ".avi")
DEVICE_HELP = "cpu or cuda (default: cuda when available)."
LANGUAGE_HELP = "Audio track to embed, e.g. spa (default: each file's original language)."


def _media_files(paths: list[Path]) -> dict[str, Path]:
    from lssd.errors import BadInputError

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise BadInputError(f"{path} does not exist")
    media: dict[str, Path] = {}
    for f in files:
        item = f.name.split(".")[0]  # clip.dub.mkv → clip
        if item in media:
            raise BadInputError(f"{media[item].name} and {f.name} would share the id {item!r}")
        media[item] = f
    return media


@eval_app.command("embed")
def embed(
    run: Path = typer.Argument(..., help="Run directory (latest checkpoint) or checkpoint file."),
    media: list[Path] = typer.Argument(..., help="Media files or folders; the id is the name up to its first dot."),
    out: Path = typer.Option(..., "--output", "-o", help="Embedding store (resumed if it exists)."),
    language: str | None = typer.Option(None, "--language", help=LANGUAGE_HELP),
    batch_size: int = typer.Option(16, help="Windows per forward pass."),
    workers: int = typer.Option(0, help="Decoding worker processes."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Per-window and per-file embeddings (mean over windows) of video and audio, keyed by id."""
    from lssd.eval.backbones import load_backbones
    from lssd.eval.embed import embed_media

    report = embed_media(load_backbones(run, device), _media_files(media), out, language=language,
                         batch_size=batch_size, num_workers=workers, progress=progress)
    typer.echo(f"{len(report.embedded)} embedded, {len(report.reused)} already there, "
               f"{len(report.failed)} failed -> {out}")
    for item, reason in report.failed.items():
        typer.echo(f"  {item}: {reason}", err=True)


@eval_app.command("lvu")
def lvu(
    runs: list[Path] = typer.Argument(..., help="Run directories or checkpoints, one column each."),
    lvu_dir: Path = typer.Option(..., "--lvu", help="LVU root (lvu_1.0/<task>/*.csv, videos/<id>.*) or LVU-M."),
    out: Path = typer.Option(Path("lvu_eval"), "--output", "-o", help="Embeddings and lvu_results.json."),
    videos: Path | None = typer.Option(None, help="Video folder (default: LVU_DIR/videos)."),
    tasks: str | None = typer.Option(None, help="Comma-separated tasks (default: all nine)."),
    language: str | None = typer.Option(None, "--language", help=LANGUAGE_HELP),
    probe: str = typer.Option("linear", help="linear (App. B.3.1: SGD lr 0.2 cosine, 200 epochs) or mlp."),
    epochs: int = typer.Option(200, help="Linear probe epochs."),
    seed: int = typer.Option(0, help="Probe seed."),
    batch_size: int = typer.Option(16, help="Windows per forward pass."),
    workers: int = typer.Option(0, help="Decoding worker processes."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """LVU with frozen backbones: test top-1 (MSE for regression) at the val-best epoch, per task and
    embedding, one column per run."""
    from lssd.eval.lvu import RESULTS, run_lvu, table
    from lssd.eval.probes import LinearConfig, MLPGrid

    results = run_lvu(runs, lvu_dir, out, videos=videos, tasks=tasks, language=language, probe=probe,
                      linear=LinearConfig(epochs=epochs, seed=seed), grid=MLPGrid(seed=seed), device=device,
                      batch_size=batch_size, num_workers=workers, progress=progress)
    _wide_console().print(table(results))
    typer.echo(f"results -> {out / RESULTS}")


def _wide_console():
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)  # a file or a pipe: no 80-column wrap


@eval_app.command("hear")
def hear(
    runs: list[Path] = typer.Argument(..., help="Run directories or checkpoints, one row each."),
    tasks_dir: Path = typer.Option(..., "--tasks-dir", help="Folder of prepared HEAR tasks "
                                   "(TASK/task_metadata.json, TASK/{split}.json, TASK/48000/{split}/*.wav)."),
    out: Path = typer.Option(Path("hear_eval"), "--output", "-o", help="Embeddings, predictions, hear_results.json."),
    tasks: str | None = typer.Option(None, help="Comma-separated task folder names (default: all)."),
    grid_points: int = typer.Option(8, help="Random grid points searched (hear-eval-kit's --grid-points; 16 = all)."),
    max_epochs: int = typer.Option(500, help="Epochs per grid point at most (early stopping, patience 20 checks)."),
    hidden_dim: int = typer.Option(1024, help="Hidden width of the MLP."),
    seed: int = typer.Option(0, help="Probe seed (grid draw and weights)."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """HEAR scene tasks scored in-house with hear-eval-kit's protocol: MLP grid, early stopping, test
    at the val-best epoch; top-1 / mAP, mean ± std over folds, one row per run (Table 2's shape)."""
    from dataclasses import replace

    from lssd.eval.hear_tasks import RESULTS, TITLE, run_hear, table
    from lssd.eval.probes import HEAR_GRID

    grid = replace(HEAR_GRID, grid_points=grid_points, max_epochs=max_epochs, hidden_dim=hidden_dim, seed=seed)
    results = run_hear(runs, tasks_dir, out, tasks=tasks, grid=grid, device=device, progress=progress)
    typer.echo(TITLE)
    _wide_console().print(table(results))
    typer.echo(f"results -> {out / RESULTS}")


@eval_app.command("clips")
def clips(
    runs: list[Path] = typer.Argument(..., help="Run directories or checkpoints, one column each."),
    task: Path = typer.Option(..., "--task", help="Folder of clips with a CSV: path,label,split (or fold); "
                              "labels joined by ';' make a multi-label task."),
    out: Path = typer.Option(Path("clips_eval"), "--output", "-o", help="Embeddings and clips_results.json."),
    csv_name: str | None = typer.Option(None, "--csv", help="The CSV's name (default: labels.csv or the only *.csv)."),
    probe: str = typer.Option("linear", help="linear (App. B.3.1: SGD lr 0.2 cosine, 200 epochs) or mlp (Table B.1)."),
    epochs: int = typer.Option(200, help="Linear probe epochs."),
    seed: int = typer.Option(0, help="Probe seed."),
    language: str | None = typer.Option(None, "--language", help=LANGUAGE_HELP),
    batch_size: int = typer.Option(16, help="Windows per forward pass."),
    workers: int = typer.Option(0, help="Decoding worker processes."),
    device: str | None = typer.Option(None, "--device", help=DEVICE_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """A labelled-clip task (VGGSound, UCF101, HMDB51, ESC-50 style): video, audio and audio+video
    probes, top-1 and mAP at the val-best epoch (mean ± std over folds), one column per run."""
    from lssd.eval.clips import RESULTS, run_clips, table
    from lssd.eval.probes import LinearConfig, MLPGrid

    parsed, results = run_clips(runs, task, out, csv_name=csv_name, probe=probe,
                                linear=LinearConfig(epochs=epochs, seed=seed), grid=MLPGrid(seed=seed),
                                language=language, device=device, batch_size=batch_size, num_workers=workers,
                                progress=progress)
    typer.echo(f"{parsed.name}: {len(parsed.labels)} labels, {parsed.kind}, "
               + (f"{len(parsed.folds)} folds" if parsed.folds else "train/val/test")
               + f"; {probe} probe, test score at the val-best epoch (%)")
    _wide_console().print(table(parsed, results))
    typer.echo(f"results -> {out / RESULTS}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval", rich_help_panel="Evaluation")
