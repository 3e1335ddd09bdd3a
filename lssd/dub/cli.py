"""``lssd dub`` and one subcommand per stage (``lssd separate`` … ``lssd remux``).

A stage subcommand runs the pipeline up to that stage in the clip's work directory: fresh upstream
stages are reused, so ``lssd align clip.mp4 --langs es --force`` recomputes alignment alone.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from lssd import stages
from lssd.config import CONTAINERS, EQ_MODES, PROFILES, SEAMLESS_MODES, DubConfig, default
from lssd.dub.paper_profile import print_deviations
from lssd.errors import BadInputError
from lssd.languages import get_language, parse_langs

console = Console(stderr=True)


# choices shown by --help, from the config's own lists of allowed values
Container = Enum("Container", {c: c for c in CONTAINERS}, type=str)
Eq = Enum("Eq", {c: c for c in EQ_MODES}, type=str)
Profile = Enum("Profile", {c: c for c in PROFILES}, type=str)
SeamlessMode = Enum("SeamlessMode", {c: c for c in SEAMLESS_MODES}, type=str)


def parse_subtitles(specs: list[str]) -> dict[str, Path]:
    """``es=path.srt`` (repeatable) → {"spa": Path}."""
    out = {}
    for spec in specs:
        code, sep, path = spec.partition("=")
        if not sep or not path:
            raise BadInputError(f"--subtitles wants LANG=PATH (e.g. es=clip.es.srt), got {spec!r}")
        p = Path(path).expanduser()
        if not p.is_file():
            raise BadInputError(f"--subtitles {code}: file not found: {p}")
        out[get_language(code).iso3] = p
    return out


def _existing(path: Path | None, option: str) -> Path | None:
    if path is not None and not path.is_file():
        raise BadInputError(f"{option}: file not found: {path}")
    return path


class RichReporter:
    """Rich progress for every stage, then a table of the backends each stage used."""

    def __init__(self) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                                 TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console, transient=False)
        self.tasks: dict[str, int] = {}
        self.rows: list[tuple[str, str, str, str]] = []

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, event: str, label: str, info: dict) -> None:
        if event == "wait":
            holder = f" ({info['holder']})" if info.get("holder") else ""
            self.progress.console.print(f"[yellow]waiting:[/] {label} is in use by another lssd run{holder}")
            return
        if event == "start":
            self.tasks[label] = self.progress.add_task(f"{label} [dim]({info.get('backend') or 'built-in'})[/]", total=None)
            return
        if event == "progress":  # per-segment work: a percentage and an ETA
            self.progress.update(self.tasks[label], completed=info["done"], total=info["total"])
            return
        task = self.tasks.get(label)
        if task is None:
            task = self.progress.add_task(label, total=1)
        status = "cached" if event == "skip" else f"{info.get('seconds', 0):.1f} s"
        self.progress.update(task, total=1, completed=1, description=f"{label} [green]{status}[/]")
        self.rows.append((label, str(info.get("backend", "")), str(info.get("label", "")), status))

    def table(self) -> Table:
        table = Table(title="backends used", show_lines=False)
        for col in ("stage", "backend", "what it is", "time"):
            table.add_column(col)
        for row in self.rows:
            table.add_row(*row)
        return table


def _run(input: Path, langs: str | None, output: Path | None, workdir: Path | None, until: str | None, force: bool,
         overwrite: bool, cfg_kwargs: dict) -> None:
    from lssd.dub.pipeline import Pipeline

    if not langs and not (until and not stages.get(until).per_language and until != stages.REMUX):
        raise BadInputError(f"{until or 'dub'} needs the target languages: --langs es,fr,ja")
    reporter = RichReporter()
    pipeline = Pipeline(DubConfig(langs=parse_langs(langs) if langs else (), **cfg_kwargs), reporter)
    print_deviations(console, pipeline.deviations)
    forced = ({"all"} if until is None else {until}) if force else set()
    with _build_claim(output), reporter:
        result = pipeline.run(input, output=output, workdir=workdir, until=until, force=forced, overwrite=overwrite)
    console.print(reporter.table())
    for notice in result.notices:
        console.print(f"[yellow]notice:[/] {escape(notice)}")
    if until in (None, stages.REMUX):
        console.print(f"[bold green]wrote[/] {result.output} and {result.sidecar.name}")
    else:
        console.print(f"[bold green]{until} done[/] in {result.workdir}")
    if until in (stages.TRANSCRIBE, stages.DIARIZE):  # what was heard (and by whom) is the point: show it
        _print_transcript(result.workdir, until)


def _build_claim(output: Path | None):
    """Into a dataset build's ``OUT/videos``, take the clip's claim as the builder's workers do: refused
    while a builder holds it, and a builder finding it held waits, then reuses this output."""
    from contextlib import nullcontext

    from lssd import locks
    from lssd.dataset.worker import claim_for

    claim = claim_for(output) if output is not None and output.suffix else None
    if claim is None:
        return nullcontext()
    return locks.exclusive(claim, f"{output.name} (a clip of the dataset build in {claim.parent.parent})")


def _print_transcript(workdir: Path, stage: str) -> None:
    from lssd.dub.context import TRANSCRIPT
    from lssd.segments import Transcript

    path = workdir / stage / TRANSCRIPT
    transcript = Transcript.load(path)
    table = Table(title=f"transcript ({transcript.language}) — {path}")
    speakers = stage == stages.DIARIZE
    for col in ("start", "end", *(("speaker",) if speakers else ()), "text"):
        table.add_column(col)
    for seg in transcript.segments:
        table.add_row(f"{seg.start:.2f}", f"{seg.end:.2f}", *((seg.speaker or "",) if speakers else ()),
                      seg.text or "[dim](speech, no text)[/]")
    Console().print(table)


def config_options(
    separator: str = typer.Option(default("separator"), help="separate backend: auto, demucs, dsp"),
    asr: str = typer.Option(default("asr"), help="transcribe backend: auto, subtitles, whisper, faster-whisper, vad"),
    translator: str = typer.Option(default("translator"), help="translate backend: auto, subtitles, seamless, apertium, whisper-apertium, pseudo"),
    tts: str = typer.Option(default("tts"), help="synthesize backend: auto, seamless, espeak"),
    vc: str = typer.Option(default("vc"), help="voice-convert backend: auto, knn-vc, world, none"),
    diarizer: str = typer.Option(default("diarizer"), help="diarize backend: auto, pyannote, ge2e, none (one speaker)"),
    speakers: int = typer.Option(default("speakers"), help="Number of speakers \\[default: 0 = estimated]."),
    min_speakers: int = typer.Option(default("min_speakers"), help="Fewest speakers the estimate may find."),
    max_speakers: int = typer.Option(default("max_speakers"), help="Most speakers the estimate may find."),
    diarizer_model: str = typer.Option(default("diarizer_model"), help="pyannote diarization catalog model."),
    srt_speakers: bool = typer.Option(default("srt_speakers"), help="Lead each subtitle cue with its speaker ([S1] …)."),
    background: Path | None = typer.Option(None, help="Music-and-effects stem of this clip: skips separation."),
    source_subtitles: Path | None = typer.Option(None, help="SRT/VTT of the original speech (text and timing)."),
    subtitles: list[str] = typer.Option([], help="Target-language subtitles LANG=PATH (repeatable): used as the translation."),
    source_lang: str | None = typer.Option(None, help="Language of the original speech \\[default: detected]"),
    strict: bool = typer.Option(default("strict"), help="Refuse labelled fallbacks (and, with --profile paper, deviations)."),
    profile: Profile = typer.Option(Profile(default("profile")), help="offline: best available here; paper: the paper's models."),
    container: Container = typer.Option(Container(default("container")), help="Container for video inputs (audio-only → .mka)."),
    eq: Eq = typer.Option(Eq(default("eq")), help="EQ matching: builtin, matchering (GPL-3.0 extra), none."),
    min_ratio: float = typer.Option(default("min_ratio"), help="Smallest stretch ratio (placed/synthesised duration)."),
    max_ratio: float = typer.Option(default("max_ratio"), help="Largest stretch ratio."),
    separator_model: str = typer.Option(default("separator_model"), help="Demucs model: htdemucs, mdx_extra, mdx_extra_q."),
    asr_model: str = typer.Option(default("asr_model"), help="openai-whisper model name."),
    seamless_model: str = typer.Option(default("seamless_model"), help="SeamlessM4T v2 catalog model."),
    seamless_mode: SeamlessMode = typer.Option(SeamlessMode(default("seamless_mode")), help="t2st (text→speech) or s2st (speech→speech)."),
    vc_model: str = typer.Option(default("vc_model"), help="Neural voice-conversion catalog model."),
    device: str = typer.Option(default("device"), help="auto, cpu, cuda or cuda:N."),
    threads: int = typer.Option(default("threads"), help="Segments worked on at once in per-language stages \\[default: 0 = one per core]."),
    allow_truncated: bool = typer.Option(default("allow_truncated"), help="Dub what decodes of a file cut short (refused by default)."),
    controls: str = typer.Option("", help="Counterfactual control tracks (lssd's addition), comma-separated: "
                                 "resynth, novc, natural, background."),
) -> dict:
    """The dub options every dubbing command shares (``lssd dub``, the stage commands, ``lssd
    build-dataset``), as :class:`DubConfig` keyword arguments (all but ``langs``); the config validates them."""
    return dict(
        separator=separator, asr=asr, translator=translator, tts=tts, vc=vc, diarizer=diarizer,
        speakers=speakers, min_speakers=min_speakers, max_speakers=max_speakers, diarizer_model=diarizer_model,
        srt_speakers=srt_speakers,
        background=_existing(background, "--background"),
        source_subtitles=_existing(source_subtitles, "--source-subtitles"),
        subtitles=parse_subtitles(subtitles),
        source_language=get_language(source_lang).iso3 if source_lang else None,
        strict=strict, profile=profile.value, container=container.value, eq=eq.value,
        min_ratio=min_ratio, max_ratio=max_ratio, separator_model=separator_model, asr_model=asr_model,
        seamless_model=seamless_model, seamless_mode=seamless_mode.value, vc_model=vc_model, device=device,
        threads=threads, allow_truncated=allow_truncated, controls=controls,
    )


def with_config_options(command: Callable) -> Callable:
    """Give ``command`` (which takes ``cfg_kwargs: dict``) every option of :func:`config_options` on the
    command line: typer reads the merged signature, the wrapper hands the checked kwargs on."""
    # evaluated annotations: the merged signature mixes types named in two modules
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "cfg_kwargs"]
    shared = list(inspect.signature(config_options, eval_str=True).parameters.values())

    @functools.wraps(command)
    def wrapper(**kwargs):
        cfg_kwargs = config_options(**{p.name: kwargs.pop(p.name) for p in shared})
        return command(cfg_kwargs=cfg_kwargs, **kwargs)

    wrapper.__signature__ = inspect.Signature(own + shared)
    wrapper.__annotations__ = {p.name: p.annotation for p in own + shared}
    return wrapper


def _command(stage: str | None):
    @with_config_options
    def command(
        input: Path = typer.Argument(..., help="Video (or audio) file to dub."),
        langs: str | None = typer.Option(
            None if stage in (stages.SEPARATE, stages.TRANSCRIBE, stages.DIARIZE) else ..., "--langs", "-l",
            help="Target languages, ISO 639-1 or 639-3: es,fr,ja"),
        output: Path | None = typer.Option(None, "--output", "-o", help="Output file or directory \\[default: beside the input]"),
        workdir: Path | None = typer.Option(None, "--workdir", help="Per-clip work directory \\[default: OUTPUT_DIR/.lssd-work/…]"),
        force: bool = typer.Option(False, help="Recompute instead of reusing cached stages."),
        overwrite: bool = typer.Option(False, help="Let the output replace an existing file lssd did not write."),
        cfg_kwargs: dict | None = None,
    ) -> None:
        _run(input, langs, output, workdir, stage, force, overwrite, cfg_kwargs)

    return command


def register(app: typer.Typer) -> None:
    dub = _command(None)
    dub.__doc__ = ("Dub a video into other languages: one container with the original video and audio plus one "
                   "language-tagged audio track per language, SRTs and a sidecar JSON.")
    app.command("dub", rich_help_panel="Dubbing")(dub)
    for stage in stages.TABLE:
        cmd = _command(stage.name)
        cmd.__doc__ = f"{stage.help} (runs the pipeline up to '{stage.name}', reusing fresh stages)"
        app.command(stage.name, rich_help_panel="Dubbing stages")(cmd)
