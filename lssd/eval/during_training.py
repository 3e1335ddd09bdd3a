"""Probes during training (``lssd train ... --eval-every N --eval-task DIR``), as open_clip's zero-shot
and solo-learn's online linear evaluation do: a run that is not learning shows it early.

Every ``N`` optimiser steps (and after the last one) rank 0 embeds a small labelled-clip task
(:mod:`lssd.eval.clips`' format; with folds, the first rotation) with the model's current backbones
in eval mode, trains a quick linear probe per modality on those embeddings and logs its test score
to TensorBoard next to the losses (``probe/<modality>_<metric>``, e.g. ``probe/audio_top1``). The
clips are decoded once, at the first probe, with the recipe's window and input settings (no
augmentation). Training's random state is left exactly as it was, so a run with probes computes the
same losses as one without, and resumes alike.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lssd.errors import BadInputError, LssdError
from lssd.eval.clips import ClipTask, read_clip_task
from lssd.eval.modalities import MODALITIES
from lssd.eval.probes import METRICS, LinearConfig, Split, linear_probe

log = logging.getLogger(__name__)

PROBE_EPOCHS = 100
PARTS = {"video": ("video",), "audio": ("audio",), "audio+video": ("video", "audio")}  # as modalities.features


def hooks_from_options(every: int | None, task: Path | None) -> list[TrainingProbe]:
    """The training hooks ``--eval-every`` and ``--eval-task`` ask for (both or neither)."""
    if (every is None) != (task is None):
        raise BadInputError("--eval-every and --eval-task go together: give both or neither")
    return [] if task is None or every is None else [TrainingProbe(task, every)]


class TrainingProbe:
    """A hook for :func:`lssd.train.loop.train`: call it with the run after every step."""

    def __init__(self, task_dir: Path, every: int, epochs: int = PROBE_EPOCHS) -> None:
        if every < 1:
            raise BadInputError(f"--eval-every must be at least 1, got {every}")
        self.task: ClipTask = read_clip_task(task_dir)
        self.rotation = self.task.rotations()[0]
        self.every = every
        self.config = LinearConfig(epochs=epochs)
        self.inputs: dict[str, dict[str, torch.Tensor]] | None = None  # clip → {"v", "a"}: its windows
        self.scores: list[dict[str, float]] = []  # what was logged, with "step"

    def __call__(self, run: Any) -> None:
        if not run.world.is_main or (run.step % self.every and run.step != run.schedule.total):
            return
        with torch.random.fork_rng(devices=[run.world.device] if run.world.device.type == "cuda" else []):
            record = self.evaluate(run.model, run.recipe, run.world.device)
        record = {"step": run.step, **record}
        self.scores.append(record)
        for key, value in record.items():
            if key != "step" and run.writer is not None:
                run.writer.add_scalar(key, value, run.step)
        log.info("step %d probe on %s: %s", run.step, self.task.name,
                 ", ".join(f"{k.removeprefix('probe/')} {v:.2f}" for k, v in record.items() if k != "step"))

    def evaluate(self, model: torch.nn.Module, recipe: Any, device: torch.device) -> dict[str, float]:
        """``probe/<modality>_<metric>`` → test score of a linear probe on the current embeddings."""
        if self.inputs is None:
            self.inputs = self._decode(recipe)
        embeddings = _embed(model, self.inputs, device)
        out: dict[str, float] = {}
        for modality in MODALITIES:
            if any(m not in embeddings for m in PARTS[modality]):
                continue
            splits = []
            for key in ("train", "valid", "test"):
                clips = [c for c in self.task.clips if c.split in self.rotation[key] and c.item in self.inputs]
                x = np.concatenate([embeddings[m][[c.item for c in clips]] for m in PARTS[modality]], axis=1)
                splits.append(Split(x, self.task.targets(clips)))
            try:
                result = linear_probe(*splits, self.task.kind, self.config)
            except BadInputError as err:
                log.warning("probe on %s (%s) skipped: %s", self.task.name, modality, err)
                continue
            for metric in METRICS[self.task.kind]:
                out[f"probe/{modality}_{metric}"] = result.scores[metric]
        return out

    def _decode(self, recipe: Any) -> dict[str, dict[str, torch.Tensor]]:
        from lssd.eval.windows import audio_input, probe_media, video_input, window_starts
        from lssd.train.data import MediaReader

        window = recipe.data.window
        inputs: dict[str, dict[str, torch.Tensor]] = {}
        for clip in self.task.clips:
            try:
                info = probe_media(clip.path)
                reader = MediaReader(info.path, info.video_stream)
                try:
                    starts = window_starts(info.duration, window)
                    inputs[clip.item] = {
                        "a": torch.stack([audio_input(reader, info, s, window, recipe.data.audio) for s in starts]),
                        "v": torch.stack([video_input(reader, info, s, window, recipe.data.video) for s in starts]),
                    }
                finally:
                    reader.close()
            except (LssdError, OSError) as err:
                log.warning("probe task %s: %s left out (%s)", self.task.name, clip.path.name, err)
        if not inputs:
            raise BadInputError(f"no clip of the probe task {self.task.name} could be decoded")
        return inputs


@torch.no_grad()
def _embed(model: torch.nn.Module, inputs: dict[str, dict[str, torch.Tensor]],
           device: torch.device) -> dict[str, Any]:
    """Per-clip means of the backbones' window embeddings, in eval mode (then back to the mode they had)."""
    backbones = model.backbones()
    out: dict[str, Any] = {}
    for modality, key in (("video", "v"), ("audio", "a")):
        module = backbones.get(modality)
        if module is None:
            continue
        was_training = module.training
        module.eval()
        try:
            rows = {item: module(x[key].to(device)).float().mean(dim=0).cpu().numpy() for item, x in inputs.items()}
        finally:
            module.train(was_training)
        out[modality] = _Rows(rows)
    return out


class _Rows:
    def __init__(self, rows: dict[str, np.ndarray]) -> None:
        self.rows = rows

    def __getitem__(self, items: list[str]) -> np.ndarray:
        return np.stack([self.rows[i] for i in items]) if items else np.zeros((0, 1), np.float32)
