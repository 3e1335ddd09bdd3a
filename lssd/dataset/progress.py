"""What a build shows while it runs: a live display on a terminal, plain lines for a log.

Rates come from measured work, in seconds of video (clip lengths vary 18–387 s in LVU, so clips are a
poor unit): each finished clip adds its duration and its worker's wall time, so one finished clip already
gives an honest figure, ``video seconds per worker-second × workers``. The ETA is the video left divided by
that rate. The same lines go to ``OUT/logs/build.log`` whatever the console is; when the console is not a
terminal (a SLURM log, ``> build.txt``, ``tail -f``) they are the display: one line per finished clip and a
summary line every :data:`SUMMARY_EVERY_S` seconds and at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.text import Text

SUMMARY_EVERY_S = 60.0
LOGS = "logs"  # OUT/logs/: build.log (these lines) and worker-<pid>.log (each worker's stdout/stderr)
BUILD_LOG = "build.log"


def hms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass
class _Slot:
    state: str = "starting (importing, loading models)"
    clip: str | None = None
    duration: float = 0.0
    stage: str = ""
    since: float = field(default_factory=time.monotonic)
    ready: bool = False


class BuildProgress:
    """Told what happens (a worker is up, takes a clip, enters a stage, finishes a clip), it keeps the
    display and the log in step. Use as a context manager around the build loop."""

    def __init__(self, console: Console, out_dir: Path, clips: int, video_seconds: float, workers: int,
                 engine: str, mode: str, counts: Counter, summary_every: float = SUMMARY_EVERY_S) -> None:
        self.console, self.clips, self.video_total = console, clips, video_seconds
        self.workers, self.engine, self.mode, self.counts = workers, engine, mode, counts
        self.summary_every = summary_every
        self.slots = {slot: _Slot() for slot in range(workers)}
        self.finished = 0
        self.video_done = 0.0
        self.worker_seconds = 0.0  # wall seconds workers spent on the clips finished (computed here, not reused)
        self.video_measured = 0.0
        self.cpu_seconds = 0.0
        self.engine_cpu: float | None = None  # the worker processes' (Ray actors') own CPU, set at the end
        self.t0 = time.monotonic()
        self.last_summary = self.t0
        self.plain = not console.is_terminal
        log_dir = Path(out_dir) / LOGS
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / BUILD_LOG
        self._log: TextIO = self.log_path.open("a", encoding="utf-8", buffering=1)
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=30), TextColumn("{task.fields[right]}"),
                             console=console, transient=False)
        self._task = self._bar.add_task("", total=max(video_seconds, 1e-9), right="")
        self._live: Live | None = None

    # the context: the live display on a terminal, nothing extra on a log
    def __enter__(self) -> BuildProgress:
        if not self.plain:
            self._live = Live(self._render(), console=self.console, refresh_per_second=2, transient=False,
                              redirect_stdout=True, redirect_stderr=True, get_renderable=self._render)
            self._live.__enter__()
        self.line(f"build: {self.clips} clips to {self.mode} ({hms(self.video_total)} of video), "
                  f"{self.workers} {self.engine} worker{'s' if self.workers != 1 else ''} starting")
        return self

    def __exit__(self, *exc: Any) -> None:
        # a log read line by line must not say "finished" for a build that was stopped
        self.summary(final="finished" if exc[0] is None else
                     "interrupted" if issubclass(exc[0], (KeyboardInterrupt, SystemExit)) else "stopped")
        if self._live is not None:
            self._live.__exit__(*exc)
        self._log.close()

    # events
    def worker_ready(self, slot: int, info: dict[str, Any]) -> None:
        self.slots[slot].state, self.slots[slot].ready = "ready", True
        self.line(f"worker {slot} up ({info.get('name', '')}, {time.monotonic() - self.t0:.1f} s after the start)")

    def worker_took(self, slot: int, clip_id: str, duration: float, attempt: int = 1) -> None:
        s = self.slots[slot]
        s.state, s.clip, s.duration, s.stage, s.since = "working", clip_id, duration, "", time.monotonic()
        if attempt > 1:
            self.line(f"worker {slot}: {clip_id} again (attempt {attempt})")

    def worker_stage(self, slot: int, stage: str) -> None:
        self.slots[slot].stage = stage

    def worker_idle(self, slot: int, note: str = "") -> None:
        s = self.slots[slot]
        s.state, s.clip, s.stage = f"idle{f' ({note})' if note else ''}", None, ""

    def note(self, message: str) -> None:
        self.line(message)

    def clip_finished(self, slot: int | None, row: dict[str, Any], duration: float) -> None:
        status = row.get("status", "")
        self.finished += 1
        self.video_done += duration
        wall = row.get("wall_seconds")
        if status != "failed" and not row.get("reused") and wall:
            self.worker_seconds += float(wall)
            self.video_measured += duration
        self.cpu_seconds += float(row.get("cpu_seconds") or 0.0)
        if slot is not None:
            self.worker_idle(slot)
        reason = f" — {row.get('reason')}" if status in ("failed", "no-speech") and row.get("reason") else ""
        how = " (reused)" if row.get("reused") else f" in {float(wall):.1f} s" if wall else ""
        who = f", worker {slot}" if slot is not None else ""
        self.line(f"{status:<9} {row.get('id')} ({duration:.1f} s video{how}{who}) "
                  f"[{self.finished}/{self.clips}]{reason}")
        self._bar.update(self._task, completed=self.video_done)
        if time.monotonic() - self.last_summary >= self.summary_every:
            self.summary()

    def tick(self) -> None:
        """Called from the build loop: a periodic summary line even while no clip finishes."""
        if time.monotonic() - self.last_summary >= self.summary_every:
            self.summary()

    # figures
    def rate(self) -> float | None:
        """Seconds of video built per wall second, all workers together, from the clips measured."""
        if self.worker_seconds <= 0:
            return None
        return self.video_measured / self.worker_seconds * self.workers

    def eta(self) -> float | None:
        rate = self.rate()
        return (self.video_total - self.video_done) / rate if rate else None

    def clips_per_hour(self) -> float | None:
        rate = self.rate()
        left = self.clips - self.finished
        mean = (self.video_total - self.video_done) / left if left else (self.video_total / max(self.clips, 1))
        return rate * 3600 / mean if rate and mean > 0 else None

    def figures(self) -> str:
        rate, cph = self.rate(), self.clips_per_hour()
        cpu = f" · worker CPU {self.cpu_seconds:.0f} s" if self.cpu_seconds else ""
        return (f"{f'{rate:.2f} s video/s' if rate else 'rate –'} · {f'{cph:.0f} clips/h' if cph else '– clips/h'}"
                f" · ETA {hms(self.eta())} · elapsed {hms(time.monotonic() - self.t0)}{cpu}")

    def summary_text(self) -> str:
        done = self.counts["done"] + self.counts["no-speech"]
        figures = self.figures()
        if self.engine_cpu is not None:  # known at the end: start-up and model loading included
            who = "Ray actors" if self.engine == "ray" else "worker processes"
            figures += f" ({self.engine_cpu:.0f} s in all, {who} with start-up)"
        return (f"{self.finished}/{self.clips} clips · {hms(self.video_done)}/{hms(self.video_total)} video · "
                f"{figures} · built {done}, failed {self.counts['failed']}")

    def summary(self, final: str | None = None) -> None:
        """A summary line: ``progress:``, or at the end how the build ended (``finished``, ``interrupted``, ``stopped``)."""
        self.last_summary = time.monotonic()
        self.line(f"{final or 'progress'}: " + self.summary_text())

    # output
    def line(self, text: str) -> None:
        stamped = f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S')} {text}"
        self._log.write(stamped + "\n")
        if self.plain:
            self.console.print(escape(stamped), highlight=False, soft_wrap=True)
        elif self._live is not None:
            self._live.console.print(Text(stamped, style="dim"), soft_wrap=True)

    def _render(self):
        done = self.counts["done"] + self.counts["no-speech"]
        self._bar.update(self._task, description=f"[bold]{'separating' if self.mode == 'separate' else 'dubbing'}[/]",
                         right=f"{self.finished}/{self.clips} clips · {hms(self.video_done)}/{hms(self.video_total)} "
                               f"video · built {done}, failed {self.counts['failed']}")
        board = Text(f"  {self.figures()}\n")
        now = time.monotonic()
        for slot, s in self.slots.items():
            if s.clip:
                stage = f" · {s.stage}" if s.stage else "" if s.ready else " · starting (importing, loading models)"
                board.append(f"  worker {slot}: {s.clip} ({s.duration:.0f} s video){stage} · "
                             f"{hms(now - s.since)}\n")
            else:
                board.append(f"  worker {slot}: {s.state}\n")
        return Group(self._bar, board)
