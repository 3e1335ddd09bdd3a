"""One home for stopping on a signal. Ctrl-C (SIGINT) and SIGTERM raise :class:`Interrupted` in the main
thread, so every ``finally`` of the run executes on the way out: temporaries are removed
(:func:`lssd.media.atomic_output`), locks released (:func:`lssd.locks.exclusive`), worker pools closed.
The CLI then prints one line, "interrupted during <stage>; ... rerun to resume", and exits 128 + the
signal number (130, 143), as a shell does.

The signal is remembered, not only raised: a library that turns the KeyboardInterrupt into something
else (CTranslate2's import gives "ImportError: initialization failed") still ends as an interruption.
Only the first signal raises: a second Ctrl-C while the run cleans up or prints its line is remembered and
otherwise harmless, so the clean-up finishes, the line is printed once and the exit code is the first's.
A third ends the process at once (one line, 128 + the signal): a clean-up that hangs, or a library that
swallowed the first, can still be stopped from the keyboard.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run got ``signum``; raised from the signal handler."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[tuple[int, str | None]] = []  # (signal, the stage running when it came)
_stages: list[str] = []


FORCE_AFTER = 3  # the signal that stops the process without waiting for the clean-up


def _handler(signum: int, frame) -> None:
    first = not _received
    _received.append((signum, _stages[-1] if _stages else None))
    if first:  # later ones would break into the clean-up or the one line (a traceback)
        raise Interrupted(signum)
    if len(_received) >= FORCE_AFTER:
        os.write(2, f"interrupted {FORCE_AFTER} times ({signal.Signals(signum).name}): stopping now, without "
                    "finishing the clean-up\n".encode())
        os._exit(128 + signum)


@contextmanager
def catching(exiting: bool = False) -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` for the block (main thread only; elsewhere the
    process's handlers stay as they are). The handlers before it are restored afterwards, unless the block
    was interrupted and the process ends after it (``exiting``): then later signals stay ignored, as a
    restored default handler would turn a second Ctrl-C into a traceback or a death by SIGINT on the way out."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if exiting and _received else handler)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Name the work in progress, for the interruption's one line."""
    _stages.append(name)
    try:
        yield
    finally:
        _stages.pop()


def received() -> bool:
    return bool(_received)


def exit_code() -> int:
    return 128 + (_received[0][0] if _received else signal.SIGINT)


def message() -> str:
    """The one line: what was interrupted, and that rerunning resumes."""
    signum, where = _received[0] if _received else (signal.SIGINT, None)
    during = f" during {where}" if where else ""
    return (f"interrupted{during} ({signal.Signals(signum).name}); temporary files were removed and "
            f"finished work is kept: rerun the same command to resume")
