"""The pretraining loop: one recipe, one shot index, one run directory.

Laid out like open_clip's trainer: :func:`setup` builds everything a run needs (and restores it from
a checkpoint), :func:`train_one_epoch` runs the steps of one epoch, :func:`checkpoint_state` /
:func:`restore` are the checkpoint's two halves. Each step reads like the paper: quadruplets from the
title-aware loader, embeddings from the two-tower model, Eq. 2-3 over the global batch, AdamW with
warm-up then half-cosine. The run directory holds ``recipe.yaml`` (the resolved recipe),
``checkpoints/step_XXXXXXXX.pt``, ``tb/`` (TensorBoard) and, while a trainer runs, ``train.lock``.

Resuming restores model, optimiser, scheduler, the sampler's position (epoch, batch: batches are pure
functions of (seed, epoch, step)) and every rank's RNG states, so the next step's loss is the one the
uninterrupted run would have computed.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lssd.errors import BadInputError
from lssd.locks import LockedError, exclusive
from lssd.train.accum import contrastive_backward, has_batch_norm
from lssd.train.build import Schedule, build_data, build_loss, build_model, build_optimizer
from lssd.train.checkpoint import (latest_checkpoint, load_model_state, load_resumable, resolve_init, rng_state,
                                   save_checkpoint, set_rng_state)
from lssd.train.device_decode import video_input
from lssd.train.distributed import (World, all_reduce_sum, cleanup, gather_with_grad, init_distributed,
                                   sync_batch_norm)
from lssd.train.loss import DubContrastiveLoss, LossTerms
from lssd.train.recipes import Recipe, dump, to_dict
from lssd.train.sampler import track_kind_counts

log = logging.getLogger(__name__)

QUADRUPLET = ("v_p", "v_s", "a_p", "a_s")
LOCK_NAME = "train.lock"
TERMS = {"total": "loss/total", "cross": "loss/L", "video": "loss/L_v", "audio": "loss/L_a"}
StepCallback = Callable[[int, LossTerms], None]
RunHook = Callable[["Run"], None]


def train(
    recipe: Recipe,
    index: Path | None,
    out: Path,
    *,
    resume: bool = False,
    init: Path | None = None,
    device: str | None = None,
    progress: bool = True,
    on_step: StepCallback | None = None,
    hooks: Sequence[RunHook] = (),
    shards: str | Path | None = None,
) -> list[dict[str, float]]:
    """Train ``recipe`` on ``index`` (or on the shard set ``shards``) into ``out``; returns the logged
    records (rank 0).

    ``on_step(step, terms)`` runs after every optimiser step and checkpoint (tests and hooks; an
    exception raised there stops training like a crash would); each of ``hooks`` is called with the
    run at the same point (e.g. :class:`lssd.eval.during_training.TrainingProbe`).
    """
    owns_group = not (dist.is_available() and dist.is_initialized())  # a caller's group is left alone
    world = init_distributed(device)
    try:
        with run_lock(Path(out), world):
            run = setup(recipe, index, Path(out), world, resume=resume, init=init, shards=shards)
            run.hooks = list(hooks)
            with _progress(progress and world.is_main, run.schedule.total, run.step) as bar:
                while run.step < run.schedule.total:
                    train_one_epoch(run, bar, on_step)
            if run.writer is not None:
                run.writer.close()
            if world.is_main:  # a batch log's last line says how the run ended
                log.info("finished: %d steps; checkpoint %s", run.step, latest_checkpoint(Path(out)))
            return run.history
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


# ---------------------------------------------------------------------------------------------- setup

@dataclass
class Run:
    """Everything one training run holds; ``step`` counts optimiser steps done."""

    recipe: Recipe
    out: Path
    world: World
    model: nn.Module  # the bare model (what checkpoints store)
    net: nn.Module  # what the step calls: the model, or DDP around it
    loader: Any
    schedule: Schedule
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    loss_fn: DubContrastiveLoss
    writer: Any = None  # TensorBoard, rank 0 only
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    meter: Meter = field(default_factory=lambda: Meter())  # sums since the last log line
    hooks: list[RunHook] = field(default_factory=list)  # called with the run after every step

    def autocast(self) -> contextlib.AbstractContextManager:
        bf16 = self.world.device.type == "cuda" and self.recipe.train.precision == "bf16"
        return torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def setup(recipe: Recipe, index: Path | None, out: Path, world: World, *, resume: bool = False,
          init: Path | None = None, shards: str | Path | None = None) -> Run:
    """Build the run; restore it from the newest good checkpoint (``resume``) or start it from
    another run's weights (``init``, or the recipe's ``init`` run)."""
    from torch.utils.tensorboard import SummaryWriter

    seed = recipe.train.seed
    torch.manual_seed(seed)  # identical initial weights on every rank
    model = build_model(recipe).to(world.device)
    if recipe.train.sync_bn:
        model = sync_batch_norm(model, world)
    source = str(shards) if shards is not None else Path(index)
    shots, loader, schedule = build_data(recipe, source, world, shards=shards is not None)
    optimizer = build_optimizer(model, recipe)
    run = Run(recipe, out, world, model, model, loader, schedule, optimizer,
              torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.lr_factor), build_loss(recipe))

    torch.manual_seed(seed + world.rank)
    found = load_resumable(out) if resume else None
    if found is not None:
        restore(run, *found)
    elif resume:
        log.info("no checkpoint in %s yet: starting from scratch", out)
    if found is None and (start := resolve_init(recipe, out, init)) is not None:
        model.load_state_dict(load_model_state(start))
        log.info("initialised from %s", start)

    if world.distributed:
        run.net = nn.parallel.DistributedDataParallel(
            model, device_ids=[world.local_rank] if world.device.type == "cuda" else None)
    if world.is_main:
        run.writer = SummaryWriter(str(out / "tb"))
        (out / "recipe.yaml").write_text(dump(recipe))
        describe(run, shots, source)
    return run


def describe(run: Run, shots: Any, index: Path) -> None:
    """Say what the run is, before it starts: recipe, data, contrastive batch, steps."""
    r, s, w = run.recipe, run.schedule, run.world
    models = f"{r.model.video} + {r.model.audio}" if r.model.video else f"{r.model.audio} (audio only)"
    log.info("recipe %s: %s; %s, %d-d heads", r.name, r.description or "no description", models,
             r.model.embed_dim)
    kinds = track_kind_counts(shots)
    log.info("data: %d shots of %d titles from %s; audio tracks used: %s%s; secondary audio: %s", len(shots),
             shots["title_id"].nunique(), index,
             ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none",
             "" if r.data.allow_pseudo else " (pseudo-text tracks left out: data.allow_pseudo is false)",
             f"policy {r.data.policy}" if r.data.secondary else "none (one video-audio pair per shot)")
    if r.model.video is not None:
        log.info("video frames: decoded %s", _where_frames_decode(run))
    log.info("contrastive batch: %d per GPU x %d rank%s x %d accumulated = %d, in groups of %d shots "
             "per title", r.data.batch_size, w.size, "s" if w.size > 1 else "", r.train.accum_freq,
             _samples_per_step(run), run.loader.group_size)
    if has_batch_norm(run.model):
        log.info(batch_norm_note(r, w))
    log.info("steps: %d per epoch, %d in all (%.2f epochs), %d warm-up", s.steps_per_epoch, s.total,
             s.total / s.steps_per_epoch, s.warmup)
    if s.reference is not None:
        log.info("step-matched to recipe %s: %d steps per epoch on its data, %d steps in all",
                 s.reference, s.reference_steps_per_epoch, s.total)


def _where_frames_decode(run: Run) -> str:
    from lssd.train.stream import ShardStream

    workers = run.recipe.data.num_workers
    cpu = f"by {workers} loader worker{'s' if workers != 1 else ''} on the CPU" if workers else "in this process"
    if not isinstance(run.loader.dataset, ShardStream):
        return f"{cpu}, from the containers"
    if run.loader.dataset.decode == "device":
        return f"on {run.world.device} by the trainer (the loader ships their JPEG bytes; data.decode)"
    return f"{cpu} (data.decode)"


# ------------------------------------------------------------------------------------------- training

def train_one_epoch(run: Run, bar: Any = None, on_step: StepCallback | None = None) -> None:
    """The steps left in the current epoch (a resumed run starts mid-epoch), or up to the last step."""
    epoch, start_batch = divmod(run.step, run.schedule.steps_per_epoch)
    run.loader.set_epoch(epoch, start_batch)
    with torch.random.fork_rng(devices=[]):  # the loader's seed draw must not shift model RNG
        batches = iter(run.loader)
    run.net.train()
    while run.step < run.schedule.total:
        t0 = time.perf_counter()
        batch = next(batches, None)
        if batch is None:
            return
        micro = [batch, *itertools.islice(batches, run.recipe.train.accum_freq - 1)]
        wait = time.perf_counter() - t0
        lr = run.optimizer.param_groups[0]["lr"]  # the rate this step uses
        terms = train_step(run, micro)
        run.step += 1
        run.meter.add(terms, wait)
        if run.step % run.recipe.train.log_every == 0 or run.step == run.schedule.total:
            summary = run.meter.summary(run.world, _samples_per_step(run))
            _log(run, {"step": run.step, "lr": lr, **summary}, bar)
            run.meter = Meter()
        if run.step % run.recipe.train.ckpt_every == 0 or run.step == run.schedule.total:
            state = checkpoint_state(run)
            if run.world.is_main:
                save_checkpoint(state, run.out, run.recipe.train.keep_checkpoints)
            if run.world.distributed:  # no rank moves on (or stops and resumes) before the file exists
                dist.barrier()
        for hook in run.hooks:
            hook(run)
        if bar is not None:
            bar.update(bar.task_ids[0], completed=run.step)
        if on_step is not None:
            on_step(run.step, terms)


def train_step(run: Run, micro_batches: list[dict[str, Any]]) -> LossTerms:
    """One optimiser step on one global batch (``accum_freq`` micro-batches per rank): embeddings,
    Eq. 2-3 with the negatives of all ranks and micro-batches, AdamW."""
    device, video = run.world.device, run.recipe.data.video
    inputs = [{k: video_input(b[k], device, video) if k[0] == "v" else b[k].to(device, non_blocking=True)
               for k in QUADRUPLET if k in b} for b in micro_batches]
    run.optimizer.zero_grad(set_to_none=True)
    terms = contrastive_backward(run.net, run.loss_fn, inputs, gather_with_grad,
                                 scale=run.world.backward_scale, autocast=run.autocast)
    run.optimizer.step()
    run.scheduler.step()
    return terms


def batch_norm_note(recipe: Recipe, world: World) -> str:
    """What a batch-norm model normalises over (see :mod:`lssd.train.accum`)."""
    t, n = recipe.train, recipe.data.batch_size
    synced = t.sync_bn and world.distributed
    group = f"the {n * world.size} samples of a micro-batch on all ranks (SyncBatchNorm)" if synced else \
        f"each GPU's micro-batch of {n} on its own"
    return (f"batch norm: statistics over {group}; running statistics advance {t.accum_freq} time"
            f"{'s' if t.accum_freq > 1 else ''} per step" + ("" if synced or not world.distributed else
                                                             " (train.sync_bn: true or --sync-bn syncs them)"))


def _samples_per_step(run: Run) -> int:
    return run.recipe.data.batch_size * run.world.size * run.recipe.train.accum_freq


# ----------------------------------------------------------------------------------------- checkpoints

def checkpoint_state(run: Run) -> dict[str, Any]:
    """Tensors and plain data only (read back with ``weights_only=True``); every rank's RNG states."""
    return {
        "step": run.step,
        "world_size": run.world.size,
        "accum_freq": run.recipe.train.accum_freq,
        "steps_per_epoch": run.schedule.steps_per_epoch,
        "recipe": to_dict(run.recipe),
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "rng": _all_rng_states(run.world),
    }


def restore(run: Run, path: Path, state: dict[str, Any]) -> None:
    """The other half of :func:`checkpoint_state`; the run must be set up the same way."""
    setup = (state["world_size"], state.get("accum_freq", 1), state["steps_per_epoch"])
    if setup != (run.world.size, run.recipe.train.accum_freq, run.schedule.steps_per_epoch):
        raise BadInputError(f"{path.name} was written by {setup[0]} ranks accumulating {setup[1]} "
                            f"micro-batches with {setup[2]} steps/epoch; resume with the same setup")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"][run.world.rank])
    run.step = state["step"]
    if state["recipe"] != to_dict(run.recipe):
        log.warning("resuming %s with a recipe that differs from the one it was trained with", path)
    log.info("resumed from %s", path)


def _all_rng_states(world: World) -> list[dict[str, Any]]:
    if not world.distributed:
        return [rng_state()]
    states: list[Any] = [None] * world.size
    dist.all_gather_object(states, rng_state())
    return states


# -------------------------------------------------------------------------------------------- logging

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


def _log(run: Run, record: dict[str, float], bar: Any) -> None:
    if run.writer is not None:
        run.history.append(record)
        for key, value in record.items():
            if key != "step":
                run.writer.add_scalar(key, value, run.step)
    if bar is not None:
        bar.update(bar.task_ids[0], info=f"loss {record['loss/total']:.4g}")
    elif run.world.is_main:
        log.info("step %d/%d  loss %.4g  lr %.3g  %.1f samples/s  waiting for data %.0f%%",
                 run.step, run.schedule.total, record["loss/total"], record["lr"],
                 record["throughput/samples_per_s"], 100 * record["throughput/data_wait_fraction"])


def _progress(enabled: bool, total: int, done: int):
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"))
    bar.add_task("train", total=total, completed=done, info="")
    return bar
