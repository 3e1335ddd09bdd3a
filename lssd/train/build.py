"""What a recipe builds: the model, the loss, the recipe's shots, the loader, AdamW and the LR schedule.

Every function here is a pure function of the recipe (and the index and world for the data side), so the
loop, the benchmarks and :func:`lssd.train.checkpoint.load_pretrained` build exactly the same things.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from lssd.errors import BadInputError
from lssd.train.distributed import World
from lssd.train.loss import DubContrastiveLoss
from lssd.train.models import AudioVisualModel, create_av_model
from lssd.train.recipes import Recipe

if TYPE_CHECKING:
    import pandas as pd


def build_model(recipe: Recipe) -> AudioVisualModel:
    """The recipe's model, with MViT input sizes taken from its data config."""
    d, m = recipe.data, recipe.model
    return create_av_model(
        m.video,
        m.audio,
        video_size={"frames": d.video.num_frames, "crop": d.video.crop},
        audio_size={"n_mels": d.audio.n_mels, "frames": d.audio.num_frames(d.window)},
        embed_dim=m.embed_dim,
        separate_audio_heads=m.separate_audio_heads,
    )


def build_loss(recipe: Recipe) -> DubContrastiveLoss:
    c = recipe.loss
    return DubContrastiveLoss(c.tau, c.lambda_v, c.lambda_a, c.cross_modal, c.reduction)


def read_shots(source: Path | str, shards: bool = False):
    """Every shot of an index parquet, or every sample of a shard set (:mod:`lssd.train.shards`)."""
    if shards:
        from lssd.train.shards import read_samples

        return read_samples(source)[0]
    from lssd.train.index import read_index

    return read_index(Path(source))


def select_shots(recipe: Recipe, index, consume: bool = False):
    """The recipe's subset of the shot index or sample table (Table 1's original-language and dub
    filters); ``index`` is a path or an already read table. ``consume``: the caller gives the table up
    (its columns are emptied as the subset is taken, so the two are never in memory together)."""
    from lssd.train.sampler import drop_pseudo, keep_rows, take_rows

    d = recipe.data
    shots = read_shots(index) if isinstance(index, (str, Path)) else index
    view = shots if d.allow_pseudo else drop_pseudo(shots)
    keep = keep_rows(
        view,
        original_languages=set(d.original_languages) if d.original_languages else None,
        exclude=set(d.exclude_languages) if d.exclude_languages else None,
        dubbed_only=d.dubbed_only,
        has_languages=set(d.has_languages) if d.has_languages else None,
    )
    given_up = consume or shots is not index  # a table read here is this function's to give up
    df = take_rows(view, keep, release=(view, shots) if given_up else ())  # view may be shots itself
    if d.control is not None:
        from lssd.train.controls import use_control

        df = use_control(df, d.control, d.primary)
    if len(df) == 0:
        where = index if isinstance(index, (str, Path)) else "the data"
        raise BadInputError(f"no shot of {where} passes recipe {recipe.name}'s data filters")
    return df


def build_loader(recipe: Recipe, shots, world: World, shards: str | None = None):
    """The index loader, or the streaming loader when ``shards`` names a shard set (``shots``: its
    sample table, filtered)."""
    from lssd.train.data import build_loader as data_loader
    from lssd.train.device_decode import resolve_decode
    from lssd.train.stream import build_stream_loader

    d = recipe.data
    decode = resolve_decode(d.decode, world.device, shards is not None)
    make = data_loader if shards is None else partial(build_stream_loader, shards, decode=decode)
    return make(
        shots,
        batch_size=d.batch_size,
        group_size=d.group_size,
        policy=d.policy,
        primary=d.primary,
        rank=world.rank,
        world_size=world.size,
        num_workers=d.num_workers,
        seed=recipe.train.seed,
        video_cfg=d.video if recipe.model.video is not None else None,
        audio_cfg=d.audio,
        window=d.window,
        pin_memory=world.device.type == "cuda",
        accum=recipe.train.accum_freq,
        secondary=d.secondary,
    )


def build_data(recipe: Recipe, source: Path | str, world: World, shards: bool = False):
    """A run's data at start: the recipe's shots of an index (or of a shard set's sample table), its
    loader for this rank and the schedule. Millions of shots: the whole table and the recipe's subset
    are in memory together only while the subset is taken."""
    table = read_shots(source, shards=shards)
    reference = Schedule.reference_steps(recipe, table, world.size)
    shots = select_shots(recipe, table, consume=True)
    del table
    loader = build_loader(recipe, shots, world, str(source) if shards else None)
    return shots, loader, Schedule.from_reference(recipe, loader.steps_per_epoch, reference)


def build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.AdamW:
    """AdamW; biases, norms and positional/class embeddings are not weight-decayed (as MViT trains)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or "pos_encoding" in name else decay).append(p)
    o = recipe.optim
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=o.lr, betas=o.betas)


@dataclass(frozen=True)
class Schedule:
    """Optimiser steps: per epoch of this run's data, in all, and of linear warm-up. A step-matched
    recipe (``optim.match_steps``) records the recipe it matches and that recipe's steps per epoch."""

    steps_per_epoch: int
    total: int
    warmup: int
    reference: str | None = None
    reference_steps_per_epoch: int | None = None

    @classmethod
    def of(cls, recipe: Recipe, steps_per_epoch: int) -> Schedule:
        o = recipe.optim
        if o.match_steps is not None:
            raise ValueError("a step-matched recipe needs the index: use Schedule.matched")
        if o.steps is not None:
            return cls(steps_per_epoch, o.steps, o.warmup_steps)
        total = max(1, round(o.epochs * steps_per_epoch))
        return cls(steps_per_epoch, total, round(o.warmup_epochs * steps_per_epoch))

    @classmethod
    def matched(cls, recipe: Recipe, steps_per_epoch: int, index: Path, ranks: int) -> Schedule:
        """As many steps (and warm-up steps) as ``recipe.optim.match_steps`` makes on its own shots of
        ``index`` with the same ranks and accumulation (§5.2: B.1, B.2 "approximately the same number
        of gradient optimization steps" as B.3)."""
        return cls.from_reference(recipe, steps_per_epoch, cls.reference_steps(recipe, index, ranks))

    @staticmethod
    def reference_steps(recipe: Recipe, index: Path | pd.DataFrame, ranks: int) -> int | None:
        """Steps per epoch of ``recipe.optim.match_steps`` on its own shots of ``index`` (a path or a read
        table, as :func:`select_shots` takes; None for a recipe that is not step-matched). A run counts
        them before taking its own subset, so that a table of millions of shots and one subset of it
        are in memory at a time, not two subsets."""
        if recipe.optim.match_steps is None:
            return None
        from lssd.train.recipes import load_recipe

        ref = load_recipe(recipe.optim.match_steps)
        if ref.optim.match_steps is not None:
            raise BadInputError(f"recipe {recipe.name} matches the steps of {ref.name}, which itself "
                                f"matches {ref.optim.match_steps}; match a recipe with epochs or steps")
        per_step = ref.data.batch_size * ranks * recipe.train.accum_freq
        return max(1, len(select_shots(ref, index)) // per_step)

    @classmethod
    def from_reference(cls, recipe: Recipe, steps_per_epoch: int, reference_steps: int | None) -> Schedule:
        """The schedule of a run with ``steps_per_epoch``, step-matched to :meth:`reference_steps`."""
        if recipe.optim.match_steps is None:
            return cls.of(recipe, steps_per_epoch)
        from lssd.train.recipes import load_recipe

        ref = load_recipe(recipe.optim.match_steps)
        ref_schedule = cls.of(ref, reference_steps)
        return cls(steps_per_epoch, ref_schedule.total, ref_schedule.warmup, ref.name, reference_steps)

    def lr_factor(self, step: int) -> float:
        """Linear warm-up to the peak, then half a cosine period down to 0 at the last step."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
