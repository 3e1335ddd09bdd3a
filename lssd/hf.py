"""Small helpers for backends built on transformers/torch: device choice and quiet loading.

transformers reports every unused weight and draws progress bars while loading; in a pipeline that
prints one line per stage that is noise, and the model store already vouches for the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lssd.errors import BadInputError


def torch_device(choice: str) -> str:
    """``auto`` → cuda when a GPU is visible, else cpu; ``cpu``/``cuda`` as given."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise BadInputError(f"--device {choice}: torch sees no CUDA GPU here; use --device cpu or auto")
    return choice


@contextmanager
def quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging

    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()
