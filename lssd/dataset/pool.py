"""The local engine: ``--workers N`` spawned processes, each holding one :class:`ClipWorker`.

The builder talks to each worker over its own pipe, one clip at a time, so it always knows which clip a
worker is on: a worker that dies (a crash in native code, the OOM killer, ``kill -9``) is reported as a
:class:`Crash` of exactly that clip, and a fresh worker takes its place. Workers die with the builder
(``PR_SET_PDEATHSIG`` on Linux): a killed builder leaves no orphan dubbing in the background.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from multiprocessing.connection import Connection, wait
from typing import Any

from lssd.dataset.progress import LOGS
from lssd.dataset.worker import ClipWorker, Job, WorkerSpec, worker_name


@dataclass
class Crash:
    """A worker died while it held a clip."""

    reason: str


@dataclass
class Event:
    """Something a worker says before its clip's row: ``ready`` (up, with its start-up seconds) or
    ``stage`` (the stage it entered)."""

    kind: str
    info: dict[str, Any] = field(default_factory=dict)


def log_to_file(out_dir: str) -> Path:
    """Send this worker process's stdout and stderr (Python warnings, library and C-level prints alike)
    to ``OUT/logs/worker-<pid>.log``: never into the builder's display."""
    path = Path(out_dir) / LOGS / f"worker-{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.captureWarnings(True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=True)
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _serve(conn: Connection, spec: WorkerSpec) -> None:
    t0 = time.perf_counter()
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the builder's to handle
    log_to_file(spec.out_dir)
    worker = ClipWorker(spec, on_stage=lambda label: conn.send(("stage", {"stage": label})))
    conn.send(("ready", {"name": worker_name(), "seconds": round(time.perf_counter() - t0, 2)}))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(("row", worker.run(job)))


class LocalPool:
    def __init__(self, specs: list[WorkerSpec]) -> None:
        self.specs = specs
        self.ctx = mp.get_context("spawn")  # fork would copy the builder's threads and CUDA state
        self.procs: list[Any] = [None] * len(specs)
        self.conns: list[Connection | None] = [None] * len(specs)
        self._closed: set[int] = set()  # slots whose idle worker hung up
        self._children_cpu0 = 0.0
        self.cpu_seconds: float | None = None  # the worker processes' CPU seconds, known once the pool is closed

    @property
    def size(self) -> int:
        return len(self.specs)

    def start(self) -> None:
        self._children_cpu0 = _children_cpu()
        for slot in range(self.size):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_serve, args=(child, self.specs[slot]), name=f"lssd-worker-{slot}",
                                daemon=True)
        proc.start()
        child.close()
        self.procs[slot], self.conns[slot] = proc, parent
        self._closed.discard(slot)

    def submit(self, slot: int, job: Job) -> None:
        try:
            self.conns[slot].send(job)
        except OSError:  # the worker is gone: wait() reports its death as this clip's crash
            pass

    def restart(self, slot: int) -> None:
        proc, conn = self.procs[slot], self.conns[slot]
        if proc is not None and proc.is_alive():
            proc.kill()
        if proc is not None:
            proc.join()
        if conn is not None:
            conn.close()
        self._spawn(slot)

    def wait(self, busy: set[int], timeout: float) -> list[tuple[int, dict[str, Any] | Crash | Event]]:
        """What the workers said within ``timeout`` seconds: events from any worker, the rows (or deaths)
        of the busy slots."""
        waitables = {}
        for slot in range(self.size):
            if slot not in busy and self.conns[slot] is not None and slot not in self._closed:
                waitables[self.conns[slot]] = slot  # an idle worker may still say it is up
        for slot in busy:
            waitables[self.conns[slot]] = slot
            waitables[self.procs[slot].sentinel] = slot
        out: list[tuple[int, dict[str, Any] | Crash | Event]] = []
        seen: set[int] = set()
        for ready in wait(list(waitables), timeout):
            slot = waitables[ready]
            if slot in seen:
                continue
            seen.add(slot)
            out += [(slot, item) for item in self._receive(slot, slot in busy)]
        return out

    def _receive(self, slot: int, busy: bool) -> list[dict[str, Any] | Crash | Event]:
        """Everything the worker has sent; a :class:`Crash` when a busy worker died."""
        conn, proc = self.conns[slot], self.procs[slot]
        got: list[dict[str, Any] | Crash | Event] = []
        try:
            while conn.poll():
                kind, payload = conn.recv()
                got.append(payload if kind == "row" else Event(kind, payload))
                if kind == "row":
                    return got
            if proc.is_alive() or not busy:
                return got
        except (EOFError, OSError):
            if not busy:  # died idle: its next clip finds out (and reports the death)
                self._closed.add(slot)
                return got
        proc.join(timeout=5)
        code = proc.exitcode
        what = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return [*got, Crash(f"worker process died ({what})")]

    def close(self, kill: bool = False) -> None:
        """Stop every worker: idle ones finish at once; ``kill`` (Ctrl-C) does not wait for busy ones."""
        for slot in range(self.size):
            conn, proc = self.conns[slot], self.procs[slot]
            if conn is not None:
                try:
                    conn.send(None)
                except OSError:
                    pass
            if proc is not None:
                proc.join(timeout=0 if kill else 30)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            if conn is not None:
                conn.close()
        self.cpu_seconds = _children_cpu() - self._children_cpu0  # every worker joined: replaced ones too
