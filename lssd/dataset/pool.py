"""The local engine: ``--workers N`` spawned processes, each holding one :class:`ClipWorker`.

The builder talks to each worker over its own pipe, one clip at a time, so it always knows which clip a
worker is on: a worker that dies (a crash in native code, the OOM killer, ``kill -9``) is reported as a
:class:`Crash` of exactly that clip, and a fresh worker takes its place. Workers die with the builder
(``PR_SET_PDEATHSIG`` on Linux): a killed builder leaves no orphan dubbing in the background.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from lssd.dataset.worker import ClipWorker, Job, WorkerSpec


@dataclass
class Crash:
    """A worker died while it held a clip."""

    reason: str


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _serve(conn: Connection, spec: WorkerSpec) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the builder's to handle
    worker = ClipWorker(spec)
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

    @property
    def size(self) -> int:
        return len(self.specs)

    def start(self) -> None:
        for slot in range(self.size):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_serve, args=(child, self.specs[slot]), name=f"lssd-worker-{slot}",
                                daemon=True)
        proc.start()
        child.close()
        self.procs[slot], self.conns[slot] = proc, parent

    def submit(self, slot: int, job: Job) -> None:
        self.conns[slot].send(job)

    def restart(self, slot: int) -> None:
        proc, conn = self.procs[slot], self.conns[slot]
        if proc is not None and proc.is_alive():
            proc.kill()
        if proc is not None:
            proc.join()
        if conn is not None:
            conn.close()
        self._spawn(slot)

    def wait(self, busy: set[int], timeout: float) -> list[tuple[int, dict[str, Any] | Crash]]:
        """Results of the busy slots that finished (or died) within ``timeout`` seconds."""
        waitables = {}
        for slot in busy:
            waitables[self.conns[slot]] = slot
            waitables[self.procs[slot].sentinel] = slot
        out: dict[int, dict[str, Any] | Crash] = {}
        for ready in wait(list(waitables), timeout):
            slot = waitables[ready]
            if slot in out:
                continue
            out[slot] = self._receive(slot)
        return [(slot, res) for slot, res in out.items() if res is not None]

    def _receive(self, slot: int) -> dict[str, Any] | Crash | None:
        conn, proc = self.conns[slot], self.procs[slot]
        try:
            if conn.poll():
                kind, payload = conn.recv()
                return payload
            if proc.is_alive():
                return None
        except (EOFError, OSError):
            pass
        proc.join(timeout=5)
        code = proc.exitcode
        what = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return Crash(f"worker process died ({what})")

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
