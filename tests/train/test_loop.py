"""The loop end to end on the toy dataset: it learns, it resumes exactly, it logs and checkpoints."""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lssd.cli import main
from lssd.errors import BadInputError
from lssd.train.index import read_index, write_index
from lssd.train.checkpoint import latest_checkpoint, save_checkpoint
from lssd.train.build import Schedule
from lssd.train.checkpoint import load_pretrained, resolve_init
from lssd.train.loop import train
from lssd.train.recipes import load_recipe

STEPS = 30
CKPT = 10
# Overfitting is memorising: no spectrogram masking.
OVERFIT = [f"optim.steps={STEPS}", f"train.ckpt_every={CKPT}", "train.log_every=5",
           "data.audio.max_time_mask=0", "data.audio.max_freq_mask=0"]
# Batch 4 of 8 shots: 2 steps per epoch, so the step-3 checkpoint resumes mid-epoch.
RESUME = ["optim.steps=6", "optim.warmup_steps=2", "train.ckpt_every=3",
          "data.batch_size=4", "data.group_size=2"]


class Interrupted(Exception):
    pass


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def eight_shots(toy_dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 shots, batch 8: every step sees the same shots (fresh windows and augmentations)."""
    df = read_index(toy_dataset.index)
    return write_index(df.iloc[:8].reset_index(drop=True), tmp_path_factory.mktemp("eight") / "shots.parquet")


def run(recipe_overrides: list[str], index: Path, out: Path, stop_at: int | None = None, **kw) -> list[float]:
    losses: list[float] = []

    def on_step(step: int, terms) -> None:
        losses.append(terms.total.item())
        if step == stop_at:
            raise Interrupted

    try:
        train(load_recipe("tiny", recipe_overrides), index, out, progress=False, on_step=on_step, **kw)
    except Interrupted:
        pass
    return losses


@pytest.fixture(scope="module")
def reference(eight_shots: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    out = tmp_path_factory.mktemp("reference")
    return out, run(OVERFIT, eight_shots, out)


def test_overfits_eight_shots(reference: tuple[Path, list[float]]) -> None:
    _, losses = reference
    assert len(losses) == STEPS
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    chance = (1 + 0.2 + 0.2) * 8 * math.log(2 * 8 - 1)  # (L + 0.2 L_v + 0.2 L_a), all similarities equal
    assert last < 0.75 * first and last < 0.85 * chance, f"loss {first:.2f} -> {last:.2f}"


def test_resume_continues_with_the_uninterrupted_losses(eight_shots: Path, tmp_path: Path) -> None:
    uninterrupted = run(RESUME, eight_shots, tmp_path / "straight")
    before = run(RESUME, eight_shots, tmp_path / "resumed", stop_at=4)  # dies a step after a checkpoint
    assert before == uninterrupted[:4]
    after = run(RESUME, eight_shots, tmp_path / "resumed", resume=True)
    assert after == uninterrupted[3:]  # exactly, not approximately


def test_run_directory(reference: tuple[Path, list[float]]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = reference
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        f"step_{s:08d}.pt" for s in range(CKPT, STEPS + 1, CKPT)
    ]
    assert load_recipe(out / "recipe.yaml").optim.steps == STEPS
    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert tags == {"loss/total", "loss/L", "loss/L_v", "loss/L_a", "lr",
                    "throughput/samples_per_s", "throughput/data_wait_fraction"}
    assert [e.step for e in events.Scalars("loss/L_v")] == list(range(5, STEPS + 1, 5))
    assert 0.0 <= events.Scalars("throughput/data_wait_fraction")[-1].value <= 1.0


def test_init_starts_from_another_runs_weights(
    reference: tuple[Path, list[float]], eight_shots: Path, tmp_path: Path
) -> None:
    trained, uninterrupted = reference
    first = run(OVERFIT, eight_shots, tmp_path / "next", stop_at=1, init=trained)
    assert first[0] < 0.8 * uninterrupted[0]  # same first batch, trained weights


def test_pretrained_backbones_load_from_a_run(reference: tuple[Path, list[float]]) -> None:
    out, _ = reference
    model = load_pretrained(out)
    saved = torch.load(latest_checkpoint(out), weights_only=True)["model"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    video = model.backbones()["video"]
    assert video(torch.randn(2, 3, 4, 32, 32)).shape == (2, video.dim)
    with pytest.raises(BadInputError, match="no checkpoint"):
        load_pretrained(out / "nowhere")


def test_init_defaults_to_the_sibling_run(tmp_path: Path) -> None:
    recipe = load_recipe("b4")
    with pytest.raises(BadInputError, match="starts from b3's checkpoint"):
        resolve_init(recipe, tmp_path / "b4", None)
    save_checkpoint({"step": 7}, tmp_path / "b3", keep=2)
    assert resolve_init(recipe, tmp_path / "b4", None) == tmp_path / "b3" / "checkpoints" / "step_00000007.pt"
    assert resolve_init(load_recipe("b3"), tmp_path / "b3", None) is None


def test_checkpoints_are_atomic_and_pruned(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        save_checkpoint({"step": step}, tmp_path, keep=2)
    (tmp_path / "checkpoints" / ".step_00000004.pt.tmp-1").write_bytes(b"half a file")
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*"))
    assert kept == ["step_00000002.pt", "step_00000003.pt"]
    assert latest_checkpoint(tmp_path).name == "step_00000003.pt"


def test_warmup_then_half_cosine() -> None:
    s = Schedule(steps_per_epoch=10, total=100, warmup=20)
    assert [s.lr_factor(i) for i in (0, 9, 19)] == pytest.approx([0.05, 0.5, 1.0])
    assert s.lr_factor(20) == pytest.approx(1.0) and s.lr_factor(60) == pytest.approx(0.5)
    assert s.lr_factor(100) == pytest.approx(0.0, abs=1e-12)
    epochs = Schedule.of(load_recipe("b3"), steps_per_epoch=1000)
    assert (epochs.total, epochs.warmup) == (12_000, 2_000)
    assert Schedule.of(load_recipe("ctrl_en"), steps_per_epoch=1000).warmup == 500


def test_cli_indexes(toy_dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", str(toy_dataset.root), "--out", str(tmp_path / "shots.parquet")]) == 0
    assert len(read_index(tmp_path / "shots.parquet")) == len(read_index(toy_dataset.index))
    assert "shots from 4 titles" in capsys.readouterr().out


def test_cli_trains_and_resumes(eight_shots: Path, tmp_path: Path) -> None:
    args = ["train", "--recipe", "tiny", "--index", str(eight_shots), "--out", str(tmp_path),
            "--set", "optim.steps=2", "--set", "train.ckpt_every=1", "--no-progress"]
    assert main(args) == 0
    assert latest_checkpoint(tmp_path).name == "step_00000002.pt"
    assert main([*args, "--resume"]) == 0  # nothing left to do
    assert main([*args[:-1], "--set", "optim.lrr=1"]) == 2


def test_a_batch_jobs_log_is_a_timestamped_line_per_record_and_ends_with_how_it_ended(eight_shots: Path,
                                                                                       tmp_path: Path) -> None:
    """stdout to a file: no progress bar and no 80-column wrap, a line per step, a last line that says so."""
    done = subprocess.run([sys.executable, "-m", "lssd.cli", "train", "--recipe", "tiny", "--index", str(eight_shots),
                           "-o", str(tmp_path / "run"), "--set", "optim.steps=2", "--set", "train.log_every=1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    records = [re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO (.*)", line) for line in lines]
    assert lines and all(records), lines
    messages = [m.group(1) for m in records]
    assert messages[0].startswith("recipe tiny: ") and "video frames: decoded in this process, from the containers" in messages
    assert [m.split("  ")[0] for m in messages if m.startswith("step ")] == ["step 1/2", "step 2/2"]
    assert messages[-1] == f"finished: 2 steps; checkpoint {tmp_path / 'run' / 'checkpoints' / 'step_00000002.pt'}"


DDP = ["optim.steps=3", "optim.warmup_steps=1", "train.ckpt_every=2", "data.batch_size=4",
       "data.group_size=2"]


def _ddp_worker(rank: int, port: int, index: str, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE="2")
    dist.init_process_group("gloo")
    straight = run(DDP, Path(index), Path(out, "straight"), device="cpu")
    before = run(DDP, Path(index), Path(out, "resumed"), stop_at=2, device="cpu")
    after = run(DDP, Path(index), Path(out, "resumed"), resume=True, device="cpu")
    torch.save({"straight": straight, "resumed": before + after}, Path(out, f"losses_{rank}.pt"))
    dist.destroy_process_group()


def test_two_process_training_resumes_exactly(eight_shots: Path, tmp_path: Path) -> None:
    """torchrun's setup on CPUs (gloo): DDP, one checkpoint writer, every rank's RNG restored."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(port, str(eight_shots), str(tmp_path)), nprocs=2, join=True)
    losses = [torch.load(tmp_path / f"losses_{rank}.pt", weights_only=True) for rank in range(2)]
    for rank in losses:
        assert len(rank["straight"]) == 3 and rank["resumed"] == rank["straight"]  # stopped at a checkpoint
    assert losses[0]["straight"] != losses[1]["straight"]  # each rank holds its own instances' share
    state = torch.load(latest_checkpoint(tmp_path / "resumed"), weights_only=True)
    assert (state["step"], state["world_size"], len(state["rng"])) == (3, 2, 2)


def test_step_matched_recipes_take_the_reference_recipes_steps(toy_dataset, tmp_path: Path) -> None:
    """§5.2: B.1 and B.2 train about as many steps as B.3, whose data is larger: counted at start."""
    from lssd.train.build import select_shots
    from lssd.train.recipes import recipe_dir

    ref = tmp_path / "ref.yaml"
    ref.write_text(f"inherit: {recipe_dir() / 'tiny.yaml'}\n"
                   "optim: {steps: null, warmup_steps: 0, epochs: 3, warmup_epochs: 0.5}\n"
                   "data: {batch_size: 4, group_size: 2}\n")
    shots = len(select_shots(load_recipe(ref), toy_dataset.index))
    for ranks, accum in ((1, 1), (2, 1), (1, 2)):
        recipe = load_recipe("tiny", ["optim.steps=null", f"optim.match_steps={ref}",
                                      f"train.accum_freq={accum}"])
        s = Schedule.matched(recipe, 5, toy_dataset.index, ranks)
        per_epoch = shots // (4 * ranks * accum)
        assert (s.steps_per_epoch, s.total, s.warmup) == (5, 3 * per_epoch, round(0.5 * per_epoch))
        assert (s.reference, s.reference_steps_per_epoch) == ("ref", per_epoch)
    assert load_recipe("b1").optim.match_steps == load_recipe("b2").optim.match_steps == "b3"
