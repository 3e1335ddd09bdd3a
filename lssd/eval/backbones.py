"""A pretrained run's backbones, frozen, with the input conventions they were trained on.

After pretraining the paper discards the projection heads and probes the backbones' mean-pooled
features (§5.1). The window length, frame sampling and log-mel settings come from the run's recipe so
evaluation feeds the models what training fed them (minus the random augmentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lssd.errors import BadInputError
from lssd.train.augment import AudioConfig, VideoConfig
from lssd.train.recipes import Recipe, from_dict, load_recipe

RECIPE_FILE = "recipe.yaml"  # written by ``lssd train`` into every run directory


@dataclass
class Backbones:
    """The frozen feature extractors of one run (``video`` is None for audio-only variants)."""

    name: str
    video: nn.Module | None
    audio: nn.Module
    window: float  # seconds per input, the recipe's ``data.window`` (3.0 in the paper)
    video_cfg: VideoConfig
    audio_cfg: AudioConfig
    source: str  # the checkpoint (or "untrained") the weights come from

    @property
    def video_dim(self) -> int | None:
        return self.video.dim if self.video is not None else None

    @property
    def audio_dim(self) -> int:
        return self.audio.dim

    @property
    def device(self) -> torch.device:
        return next(self.audio.parameters()).device

    def to(self, device: str | torch.device) -> Backbones:
        for module in (self.video, self.audio):
            if module is not None:
                module.to(device)
        return self


def _from_model(name: str, model: nn.Module, recipe: Recipe, source: str) -> Backbones:
    parts = model.backbones()
    for module in parts.values():
        module.eval().requires_grad_(False)
    return Backbones(name, parts.get("video"), parts["audio"], recipe.data.window, recipe.data.video,
                     recipe.data.audio, source)


def load_backbones(run: Path, device: str | torch.device | None = None, name: str | None = None) -> Backbones:
    """The backbones of a run directory (its latest checkpoint) or of one checkpoint file."""
    from lssd.train.checkpoint import latest_checkpoint, load_pretrained

    run = Path(run)
    checkpoint = run if run.is_file() else latest_checkpoint(run) if run.is_dir() else None
    if checkpoint is None:
        raise BadInputError(f"no checkpoint at {run} (give a run directory or a step_*.pt file)")
    recipe = run_recipe(checkpoint)
    backbones = _from_model(name or run_name(run), load_pretrained(checkpoint), recipe, str(checkpoint))
    return backbones.to(device or default_device())


def untrained_backbones(recipe: Recipe, seed: int = 0, device: str | torch.device | None = None,
                        name: str = "untrained") -> Backbones:
    """The recipe's backbones at their random initialisation: the floor a pretraining must beat."""
    from lssd.train.build import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(recipe)
    return _from_model(name, model, recipe, "untrained").to(device or default_device())


def run_recipe(checkpoint: Path) -> Recipe:
    """The recipe a checkpoint was trained with: its run directory's ``recipe.yaml``, else the copy
    stored in the checkpoint (read with ``weights_only=True``, so an unsafe file is refused)."""
    checkpoint = Path(checkpoint)
    folder = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    if (folder / RECIPE_FILE).is_file():
        return load_recipe(folder / RECIPE_FILE)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise BadInputError(f"{checkpoint} has no {RECIPE_FILE} beside it and cannot be read safely "
                            f"({type(err).__name__}); put the run's {RECIPE_FILE} in {folder}") from None
    if not isinstance(state, dict) or "recipe" not in state:
        raise BadInputError(f"{checkpoint} is not an lssd training checkpoint (no recipe in it)")
    return from_dict(state["recipe"])


def run_name(run: Path) -> str:
    """A short column name: ``runs/b4`` → ``b4``; ``runs/b4/checkpoints/step_00001000.pt`` →
    ``b4@1000``."""
    run = Path(run)
    if run.suffix == ".pt":
        folder = run.parent.parent if run.parent.name == "checkpoints" else run.parent
        step = run.stem.removeprefix("step_").lstrip("0") or "0"
        return f"{folder.name}@{step}"
    return run.resolve().name


def unique_names(names: list[str]) -> list[str]:
    """Column names for runs that share a name: the second ``b4`` becomes ``b4#2``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
