"""Errors a user can act on.

Everything raised as :class:`LssdError` is printed by the CLI as one line (no traceback) and exits
non-zero. Library code raises it for bad input and missing weights; anything else is a bug.
"""


class LssdError(Exception):
    """A one-sentence, user-facing error."""

    exit_code = 2


class BadInputError(LssdError):
    """The input file or an option value cannot be used."""


class MissingWeightsError(LssdError):
    """A model-backed stage was asked for weights that are not in the model store."""

    exit_code = 3


class FallbackRefusedError(LssdError):
    """``--strict`` refused a labelled fallback or a deviation from the paper."""

    exit_code = 4
