"""The pretraining loop: one recipe, one shot index, one run directory.

Reads top to bottom like the paper: quadruplets from the title-aware loader, embeddings from the
two-tower model, Eq. 2-3 over the global batch, AdamW with warm-up then half-cosine. The run directory
holds ``recipe.yaml`` (the resolved recipe), ``checkpoints/step_XXXXXXXX.pt`` and ``tb/`` (TensorBoard).

Resuming restores model, optimiser, scheduler, the sampler's position (epoch, batch: batches are pure
functions of (seed, epoch, step)) and every rank's RNG states, so the next step's loss is the one the
uninterrupted run would have computed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lssd.errors import BadInputError
from lssd.locks import LockedError, exclusive
from lssd.train.distributed import World, all_reduce_sum, cleanup, gather_with_grad, init_distributed
from lssd.train.checkpoint import (checkpoint_dir, find_checkpoint, load_checkpoint, load_model_state,
                                   load_resumable, rng_state, save_checkpoint, set_rng_state)
from lssd.train.loss import DubContrastiveLoss, LossTerms
from lssd.train.models import AudioVisualModel, create_av_model
from lssd.train.recipes import Recipe, dump, from_dict, to_dict

log = logging.getLogger(__name__)

QUADRUPLET = ("v_p", "v_s", "a_p", "a_s")
LOCK_NAME = "train.lock"
TERMS = {"total": "loss/total", "cross": "loss/L", "video": "loss/L_v", "audio": "loss/L_a"}


# ------------------------------------------------------------------------------------------ building

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


def select_shots(recipe: Recipe, index: Path):
    """The recipe's subset of the shot index (Table 1's original-language and dub filters)."""
    from lssd.train.index import read_index
    from lssd.train.sampler import filter_index

    d = recipe.data
    df = filter_index(
        read_index(index),
        original_languages=set(d.original_languages) if d.original_languages else None,
        exclude=set(d.exclude_languages) if d.exclude_languages else None,
        dubbed_only=d.dubbed_only,
        has_languages=set(d.has_languages) if d.has_languages else None,
    )
    if len(df) == 0:
        raise BadInputError(f"no shot of {index} passes recipe {recipe.name}'s data filters")
    return df


def build_loader(recipe: Recipe, shots, world: World):
    from lssd.train.data import build_loader as data_loader

    d = recipe.data
    return data_loader(
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
    )


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
    steps_per_epoch: int
    total: int
    warmup: int

    @classmethod
    def of(cls, recipe: Recipe, steps_per_epoch: int) -> Schedule:
        o = recipe.optim
        if o.steps is not None:
            return cls(steps_per_epoch, o.steps, o.warmup_steps)
        total = max(1, round(o.epochs * steps_per_epoch))
        return cls(steps_per_epoch, total, round(o.warmup_epochs * steps_per_epoch))

    def lr_factor(self, step: int) -> float:
        """Linear warm-up to the peak, then half a cosine period down to 0 at the last step."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# ------------------------------------------------------------------------------------ checkpoints

def _all_rng_states(world: World) -> list[dict[str, Any]]:
    if not world.distributed:
        return [rng_state()]
    states: list[Any] = [None] * world.size
    dist.all_gather_object(states, rng_state())
    return states


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
    path = find_checkpoint(Path(checkpoint))
    if path is None:
        raise BadInputError(f"no checkpoint at {checkpoint}")
    state = load_checkpoint(path)
    model = build_model(from_dict(state["recipe"]))
    model.load_state_dict(state["model"])
    return model.eval()


# ------------------------------------------------------------------------------------------- logging

class Meter:
    """Sums over a logging interval; one all-reduce per interval, none per step."""

    def __init__(self) -> None:
        self.terms: dict[str, torch.Tensor] = {}
        self.steps, self.wait, self.start = 0, 0.0, time.perf_counter()

    def add(self, terms: LossTerms, wait: float) -> None:
        for name in TERMS:
            value = getattr(terms, name)
            if value is not None:
                self.terms[name] = self.terms.get(name, 0.0) + value.detach()
        self.steps += 1
        self.wait += wait

    def summary(self, world: World, samples_per_step: int) -> dict[str, float]:
        wall = time.perf_counter() - self.start
        sums = all_reduce_sum({k: float(v) for k, v in self.terms.items()}, world.device)
        out = {TERMS[k]: v / self.steps for k, v in sums.items()}
        out["throughput/samples_per_s"] = self.steps * samples_per_step / wall
        out["throughput/data_wait_fraction"] = self.wait / wall
        return out


def _progress(enabled: bool, total: int, done: int):
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"))
    bar.add_task("train", total=total, completed=done, info="")
    return bar


# ----------------------------------------------------------------------------------------------- loop

StepCallback = Callable[[int, LossTerms], None]


def train(
    recipe: Recipe,
    index: Path,
    out: Path,
    *,
    resume: bool = False,
    init: Path | None = None,
    device: str | None = None,
    progress: bool = True,
    on_step: StepCallback | None = None,
) -> list[dict[str, float]]:
    """Train ``recipe`` on ``index`` into ``out``; returns the logged records (rank 0).

    ``on_step(step, terms)`` runs after every optimiser step and checkpoint (tests and hooks; an
    exception raised there stops training like a crash would).
    """
    owns_group = not (dist.is_available() and dist.is_initialized())  # a caller's group is left alone
    world = init_distributed(device)
    try:
        with run_lock(Path(out), world):
            return _train(recipe, Path(index), Path(out), world, resume, init, progress, on_step)
    finally:
        if owns_group:
            cleanup()


@contextlib.contextmanager
def run_lock(out: Path, world: World) -> Iterator[None]:
    """One trainer per run directory: rank 0 holds ``out/train.lock`` (a killed trainer's lock is
    taken over) and tells the other ranks whether it got it, so all of them stop with one sentence."""
    with contextlib.ExitStack() as stack:
        refused: LockedError | None = None
        if world.is_main:
            out.mkdir(parents=True, exist_ok=True)
            try:
                stack.enter_context(exclusive(out / LOCK_NAME, f"run directory {out}"))
            except LockedError as err:
                refused = err
        if world.distributed:
            flag = torch.tensor([refused is not None], dtype=torch.int64, device=world.device)
            dist.broadcast(flag, 0)
            if flag.item() and refused is None:
                refused = LockedError(f"run directory {out} is in use by another lssd process")
        if refused is not None:
            raise refused
        yield


def _train(recipe: Recipe, index: Path, out: Path, world: World, resume: bool, init: Path | None,
           progress: bool, on_step: StepCallback | None) -> list[dict[str, float]]:
    from torch.utils.tensorboard import SummaryWriter

    seed = recipe.train.seed
    torch.manual_seed(seed)  # identical initial weights on every rank
    model = build_model(recipe).to(world.device)
    shots = select_shots(recipe, index)
    loader = build_loader(recipe, shots, world)
    schedule = Schedule.of(recipe, loader.batch_sampler.steps_per_epoch)
    optimizer = build_optimizer(model, recipe)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.lr_factor)
    loss_fn = build_loss(recipe)

    step = 0
    found = load_resumable(out) if resume else None
    latest = found[0] if found is not None else None
    torch.manual_seed(seed + world.rank)
    if found is not None:
        latest, state = found
        if (state["world_size"], state["steps_per_epoch"]) != (world.size, schedule.steps_per_epoch):
            raise BadInputError(f"{latest.name} was written by {state['world_size']} ranks with "
                                f"{state['steps_per_epoch']} steps/epoch; resume with the same setup")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"][world.rank])
        step = state["step"]
        if state["recipe"] != to_dict(recipe):
            log.warning("resuming %s with a recipe that differs from the one it was trained with", latest)
        log.info("resumed from %s", latest)
    elif resume:
        log.info("no checkpoint in %s yet: starting from scratch", checkpoint_dir(out))
    if latest is None and (start := resolve_init(recipe, out, init)) is not None:
        model.load_state_dict(load_model_state(start))
        log.info("initialised from %s", start)

    net = nn.parallel.DistributedDataParallel(
        model, device_ids=[world.local_rank] if world.device.type == "cuda" else None
    ) if world.distributed else model
    bf16 = world.device.type == "cuda" and recipe.train.precision == "bf16"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    writer = SummaryWriter(str(out / "tb")) if world.is_main else None
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "recipe.yaml").write_text(dump(recipe))
    samples_per_step = recipe.data.batch_size * world.size
    history: list[dict[str, float]] = []
    meter = Meter()
    net.train()

    with _progress(progress and world.is_main, schedule.total, step) as bar:
        while step < schedule.total:
            epoch, start_batch = divmod(step, schedule.steps_per_epoch)
            loader.set_epoch(epoch, start_batch)
            with torch.random.fork_rng(devices=[]):  # the loader's seed draw must not shift model RNG
                batches = iter(loader)
            while step < schedule.total:
                t0 = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                wait = time.perf_counter() - t0
                inputs = {k: batch[k].to(world.device, non_blocking=True) for k in QUADRUPLET if k in batch}
                with autocast:
                    z = net(inputs)
                terms = loss_fn(z, gather=gather_with_grad)
                optimizer.zero_grad(set_to_none=True)
                (terms.total * world.backward_scale).backward()
                optimizer.step()
                lr = optimizer.param_groups[0]["lr"]  # the rate this step used
                scheduler.step()
                step += 1
                meter.add(terms, wait)

                if step % recipe.train.log_every == 0 or step == schedule.total:
                    record = {"step": step, "lr": lr, **meter.summary(world, samples_per_step)}
                    meter = Meter()
                    if writer is not None:
                        history.append(record)
                        for key, value in record.items():
                            if key != "step":
                                writer.add_scalar(key, value, step)
                    if bar is not None:
                        bar.update(bar.task_ids[0], info=f"loss {record['loss/total']:.4g}")
                    elif world.is_main:
                        log.info("step %d/%d  loss %.4g  lr %.3g  %.1f samples/s  waiting for data %.0f%%",
                                 step, schedule.total, record["loss/total"], record["lr"],
                                 record["throughput/samples_per_s"],
                                 100 * record["throughput/data_wait_fraction"])
                if step % recipe.train.ckpt_every == 0 or step == schedule.total:
                    state = {
                        "step": step,
                        "world_size": world.size,
                        "steps_per_epoch": schedule.steps_per_epoch,
                        "recipe": to_dict(recipe),
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "rng": _all_rng_states(world),
                    }
                    if world.is_main:
                        save_checkpoint(state, out, recipe.train.keep_checkpoints)
                    if world.distributed:  # no rank moves on (or stops and resumes) before the file exists
                        dist.barrier()
                if bar is not None:
                    bar.update(bar.task_ids[0], completed=step)
                if on_step is not None:
                    on_step(step, terms)
    if writer is not None:
        writer.close()
    return history
