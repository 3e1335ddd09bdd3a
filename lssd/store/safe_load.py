"""Reading torch files without ever running code from them.

A ``.pt``/``.th``/``.bin`` file is a pickle, and unpickling may call any function the file names; weights are
copied between machines and labs, so no file may get that chance. Every torch file lssd reads goes through
torch's restricted unpickler (``weights_only=True``), which builds only tensors and plain data. A format that
stores a few classes of its own (a Demucs package names its model class) lists exactly those, nothing more.
A file that asks for anything else is refused in one sentence naming the file and what it asked for.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lssd.errors import LssdError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


class UnsafeWeightsError(LssdError):
    """A weights file asks the unpickler for something other than tensors and plain data."""


def explain(path: Path, exc: BaseException) -> BaseException:
    """The error to report for ``exc``, raised by torch's restricted unpickler while reading ``path``.

    A file naming a function or class it may not use is refused (:class:`UnsafeWeightsError`); any other
    unpickling failure is a damaged or foreign file (``ValueError``, without torch's advice to retry unsafely);
    every other error is returned unchanged.
    """
    if not isinstance(exc, pickle.UnpicklingError):
        return exc
    found = _GLOBAL.search(str(exc))
    if found:
        return UnsafeWeightsError(
            f"{path} was refused: loading it would call {found.group(1)}, and lssd loads only tensors and plain "
            "data from weights files; replace it with a copy from the model's official source"
        )
    return ValueError(f"{Path(path).name} is not a torch weights file (damaged, or another format)")


def load_weights(path: Path, allowed: Iterable[Any] = (), map_location: str = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with exactly ``allowed`` added to torch's safe globals
    (objects, or ``(object, "module.name")`` pairs for names a file may spell differently)."""
    import torch

    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise explain(path, exc) from None
