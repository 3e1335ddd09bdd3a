"""Checkpoints: written atomically, holding only tensors and plain data, read with ``weights_only=True``.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts (model, optimiser and scheduler
state, the recipe as a dict, every rank's RNG states as tensors and lists), so
``torch.load(weights_only=True)`` reads it: no file handed to the trainer (``--init``, ``--resume``, a
recipe's ``init`` run, :func:`load_pretrained`) can run code when it is loaded. A file that needs
arbitrary Python objects is refused in one sentence (:class:`UnsafeCheckpointError`); a truncated or
empty one is reported as such (:class:`CorruptCheckpointError`), and ``--resume`` then falls back to
the previous good checkpoint.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lssd.errors import BadInputError, LssdError
from lssd.train.models import AudioVisualModel
from lssd.train.recipes import Recipe, from_dict

log = logging.getLogger(__name__)

PATTERN = "step_*.pt"


class UnsafeCheckpointError(LssdError):
    """The file stores Python objects (classes, functions), not just tensors and plain data."""


class CorruptCheckpointError(LssdError):
    """The file is empty, truncated or not a PyTorch checkpoint."""


def checkpoint_dir(out: Path) -> Path:
    return Path(out) / "checkpoints"


def checkpoints(run: Path) -> list[Path]:
    """A run directory's (or a ``checkpoints/`` folder's) ``step_*.pt`` files, oldest first."""
    run = Path(run)
    folder = checkpoint_dir(run) if checkpoint_dir(run).is_dir() else run
    return sorted(folder.glob(PATTERN))


def latest_checkpoint(run: Path) -> Path | None:
    """The newest ``step_*.pt`` of a run directory (or of its ``checkpoints/``)."""
    found = checkpoints(run)
    return found[-1] if found else None


def find_checkpoint(where: Path) -> Path | None:
    """``where`` itself when it is a file, else the newest checkpoint of the run directory it names."""
    where = Path(where)
    return where if where.is_file() else latest_checkpoint(where) if where.is_dir() else None


def save_checkpoint(state: dict[str, Any], out: Path, keep: int) -> Path:
    """Temp file + fsync + rename: a crash mid-write never leaves a truncated "latest" checkpoint."""
    folder = checkpoint_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{state['step']:08d}.pt"
    tmp = folder / f".{path.name}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for old in checkpoints(out)[:-keep]:
        old.unlink()
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; refuse anything else in one sentence."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower() or "weights_only" in str(err):
            raise UnsafeCheckpointError(
                f"{path} stores Python objects that could run code when loaded, not just tensors and plain "
                f"data, so lssd refuses to load it") from None
        raise CorruptCheckpointError(f"{path} is not a readable PyTorch checkpoint ({err})") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError) as err:
        what = "is empty" if path.stat().st_size == 0 else "is truncated or not a PyTorch checkpoint"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CorruptCheckpointError(f"{path} {what} ({first})") from None
    if not isinstance(state, dict):
        raise CorruptCheckpointError(f"{path} holds a {type(state).__name__}, not an lssd checkpoint")
    return state


def load_model_state(path: Path) -> dict[str, torch.Tensor]:
    """The ``model`` entry of a checkpoint (what ``--init`` and recipe ``init`` runs start from)."""
    state = load_checkpoint(path)
    if "model" not in state:
        raise BadInputError(f"{path} has no model weights (not a checkpoint written by lssd train)")
    return state["model"]


def load_resumable(run: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint of ``run`` that reads back, or None when there is none.

    A truncated or empty newest file (a full disk, a copy cut short) is reported and skipped for the
    one before it; a file refused as unsafe stops the run.
    """
    bad: list[str] = []
    for path in reversed(checkpoints(run)):
        try:
            state = load_checkpoint(path)
        except CorruptCheckpointError as err:
            log.warning("%s; trying the previous checkpoint", err)
            bad.append(path.name)
            continue
        if bad:
            log.warning("resuming from %s instead of %s", path.name, ", ".join(bad))
        return path, state
    if bad:
        raise CorruptCheckpointError(f"no checkpoint in {checkpoint_dir(run)} reads back "
                                     f"({', '.join(bad)} are empty or truncated)")
    return None


# --------------------------------------------------------------------------------------- RNG states

def rng_state() -> dict[str, Any]:
    """Every RNG the trainer touches, as tensors and plain lists (loadable with ``weights_only``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, words, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(words), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


# ------------------------------------------------------------------------------- starting points

def resolve_init(recipe: Recipe, out: Path, init: Path | None) -> Path | None:
    """The checkpoint a fresh run starts from: ``--init`` (file or run dir), else the recipe's
    ``init`` run next to this one (``runs/b3`` for ``runs/b4``)."""
    if init is None and recipe.init is None:
        return None
    where = Path(init) if init is not None else Path(out).parent / recipe.init
    path = find_checkpoint(where)
    if path is None:
        hint = f"recipe {recipe.name} starts from {recipe.init}'s checkpoint; " if recipe.init else ""
        raise BadInputError(f"{hint}no checkpoint at {where} (pass --init RUN_DIR_OR_CHECKPOINT)")
    return path


def load_pretrained(checkpoint: Path) -> AudioVisualModel:
    """The model of a checkpoint (file or run directory), built from the recipe stored in it.

    After pretraining the heads are dropped: ``load_pretrained(run).backbones()`` gives the video and
    audio feature extractors (mean-pooled features, as probed in the paper)."""
    from lssd.train.build import build_model

    path = find_checkpoint(Path(checkpoint))
    if path is None:
        raise BadInputError(f"no checkpoint at {checkpoint}")
    state = load_checkpoint(path)
    if "recipe" not in state:
        raise BadInputError(f"{path} has no recipe (not a checkpoint written by lssd train)")
    model = build_model(from_dict(state["recipe"]))
    if "model" not in state:
        raise BadInputError(f"{path} has no model weights (not a checkpoint written by lssd train)")
    model.load_state_dict(state["model"])
    return model.eval()
