"""Errors a user can act on.

Everything raised as :class:`LssdError` is printed by the CLI as one line (no traceback) and exits
non-zero. Library code raises it for bad input and missing weights; anything else is a bug.
"""

import errno


class LssdError(Exception):
    """A one-sentence, user-facing error."""

    exit_code = 2


class BadInputError(LssdError):
    """The input file or an option value cannot be used."""


class MissingWeightsError(LssdError):
    """A model-backed stage was asked for weights that are not in the model store."""

    exit_code = 3


class DamagedWeightsError(MissingWeightsError):
    """Weights are in the store but fail their hash check: as unusable as missing ones, so ``auto``
    passes over them to the next backend, with a notice saying why."""


class FallbackRefusedError(LssdError):
    """``--strict`` refused a labelled fallback or a deviation from the paper."""

    exit_code = 4


DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)  # the disk (or the user's quota) is full


def disk_full(exc: BaseException) -> bool:
    """``exc``, or an error it was raised from, says the disk is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def model_load_error(stage: str, what: str, model: str, exc: BaseException, detail: str | None = None) -> LssdError:
    """The one sentence for weights that are present but will not load (corrupt, foreign, wrong device):
    the library's first line of complaint, and the store command that checks the files."""
    lines = (detail if detail is not None else str(exc)).strip().splitlines()
    return LssdError(f"{stage}: could not load {what} ({type(exc).__name__}: {lines[0] if lines else 'no detail'}); "
                     f"run `lssd models verify {model}`")
