"""`lssd train --eval-every N --eval-task DIR`: probe scores in TensorBoard, training itself unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from lssd.cli import main
from lssd.errors import BadInputError
from lssd.eval.during_training import hooks_from_options
from lssd.testing.scenes import PICTURES, SCENES, scene_sound, write_clip, write_clip_task
from lssd.train.index import build_index, write_index
from lssd.train.loop import train
from lssd.train.recipes import load_recipe

STEPS = ["--set", "optim.steps=4", "--set", "optim.warmup_steps=1", "--set", "data.batch_size=4",
         "--set", "data.group_size=2", "--set", "train.log_every=2", "--set", "train.ckpt_every=4"]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four two-shot titles (a hard cut at 3.5 s), one tagged English track each."""
    root = tmp_path_factory.mktemp("titles")
    for i in range(4):
        a, b = PICTURES[i % 5], PICTURES[(i + 2) % 5]
        graph = (f"{a}=s=64x48:r=25,trim=duration=3.5,setsar=1,format=yuv420p[x];{b}=s=64x48:r=25,trim=duration=3.5,setsar=1,format=yuv420p[y];"
                 f"[x][y]concat=n=2:v=1:a=0[v];sine=frequency={200 + 100 * i}:sample_rate=48000:"
                 f"duration=7[a]")
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-filter_complex", graph,
                        "-map", "[v]", "-map", "[a]", "-metadata:s:a:0", "language=eng", "-c:v", "libx264",
                        "-preset", "ultrafast", "-c:a", "aac", "-t", "7", str(root / f"t{i}.mp4")],
                       check=True, capture_output=True)
    return write_index(build_index(root), root / "shots.parquet")


@pytest.fixture(scope="module")
def probe_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("probe_task")
    rows = []
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        for c, scene in enumerate(list(SCENES)[:3]):
            for k in range(n):
                rel = f"{split}_{scene}_{k}.mp4"
                write_clip(root / rel, PICTURES[c], scene_sound(scene, 1.0, [len(split), c, k]))
                rows.append((rel, [scene], split))
    write_clip_task(root, rows)
    return root


def test_probe_scores_are_logged_to_tensorboard(index: Path, probe_task: Path, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main(["train", "--recipe", "tiny", "--index", str(index), "-o", str(out), *STEPS, "--device", "cpu",
                 "--eval-every", "2", "--eval-task", str(probe_task), "--no-progress"]) == 0
    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"probe/video_top1", "probe/audio_top1", "probe/audio+video_top1", "loss/total"} <= tags
    for tag in ("probe/video_top1", "probe/audio_top1", "probe/audio+video_top1"):
        scalars = events.Scalars(tag)
        assert [e.step for e in scalars] == [2, 4]
        assert all(0.0 <= e.value <= 100.0 for e in scalars)


def test_probes_leave_training_unchanged(index: Path, probe_task: Path, tmp_path: Path) -> None:
    recipe = load_recipe("tiny", [s for s in STEPS if s != "--set"])
    torch.set_num_threads(1)

    def losses(out: Path, hooks) -> list[float]:
        seen: list[float] = []
        train(recipe, index, out, device="cpu", progress=False, hooks=hooks,
              on_step=lambda step, terms: seen.append(terms.total.item()))
        return seen

    probe = hooks_from_options(1, probe_task)
    assert losses(tmp_path / "with", probe) == losses(tmp_path / "without", [])
    assert [r["step"] for r in probe[0].scores] == [1, 2, 3, 4]


def test_eval_options_go_together(probe_task: Path) -> None:
    with pytest.raises(BadInputError, match="go together"):
        hooks_from_options(5, None)
    assert hooks_from_options(None, None) == []
