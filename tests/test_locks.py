"""lssd.locks: one holder at a time, a killed holder's lock is taken over, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lssd.locks import LockedError, exclusive, holder, try_lock, unlock

HOLD = ("import sys, time; from lssd.locks import try_lock; fd = try_lock(sys.argv[1]); "
        "print('held' if fd is not None else 'busy', flush=True); time.sleep(60)")


def _holder_process(lock: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_refused_with_one_sentence_then_takes_over_after_kill(tmp_path: Path) -> None:
    lock = tmp_path / "clip.lock"
    proc = _holder_process(lock)
    try:
        assert f"pid {proc.pid}" in holder(lock)
        with pytest.raises(LockedError) as err:
            with exclusive(lock, "work directory /x"):
                pass
        assert "work directory /x is in use by another lssd process" in str(err.value)
        assert "\n" not in str(err.value)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert lock.exists()  # the dead holder's file stays, but its lock is gone
    with exclusive(lock, "work directory /x"):
        assert f"pid {os.getpid()}" in holder(lock)
    assert not lock.exists()


def test_waits_for_a_holder_that_finishes(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    fd = try_lock(lock)
    assert fd is not None and try_lock(lock) is None
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    proc.wait()
    unlock(lock, fd)
    with exclusive(lock, "x", wait=5.0):
        pass
    assert time.monotonic() - start < 5.0
    assert not lock.exists()
