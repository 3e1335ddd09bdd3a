"""The trainer as an adversarial user meets it: booby-trapped checkpoints, two trainers on one run
directory, nonsense numbers, truncated checkpoints. Each gets one sentence and a non-zero exit."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lssd.cli import main
from lssd.locks import exclusive
from lssd.train.checkpoint import (UnsafeCheckpointError, checkpoints, load_checkpoint, rng_state,
                                   set_rng_state)
from lssd.train.checkpoint import load_pretrained
from lssd.train.loop import LOCK_NAME, train
from lssd.train.recipes import load_recipe

SHORT = ["--set", "optim.steps=2", "--set", "optim.warmup_steps=0", "--set", "train.ckpt_every=1",
         "--set", "data.batch_size=4", "--set", "data.group_size=2", "--no-progress"]


class Payload:
    """Unpickling this runs a shell command: what a booby-trapped checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def booby_trap(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": 1, "model": Payload(marker), "recipe": {}}, path)
    return path


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PAYLOAD_RAN"


def train_args(index: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--recipe", "tiny", "--index", str(index), "--out", str(out), *SHORT, *extra]


def one_line_refusal(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert all(w in err for w in words), err
    return err


def test_the_payload_is_live(tmp_path: Path, marker: Path) -> None:
    """Control: an unrestricted unpickler does run it (so the refusals below mean something)."""
    path = booby_trap(tmp_path / "evil.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_init_refuses_a_booby_trapped_file(toy_dataset, tmp_path: Path, marker: Path, capsys) -> None:
    evil = booby_trap(tmp_path / "evil.pt", marker)
    assert main(train_args(toy_dataset.index, tmp_path / "run", "--init", str(evil))) == 2
    one_line_refusal(capsys, "evil.pt", "refuses")
    assert not marker.exists()


def test_resume_refuses_a_booby_trapped_newest_checkpoint(toy_dataset, tmp_path: Path, marker: Path,
                                                          capsys) -> None:
    out = tmp_path / "run"
    booby_trap(out / "checkpoints" / "step_00000001.pt", marker)
    assert main(train_args(toy_dataset.index, out, "--resume")) == 2
    one_line_refusal(capsys, "step_00000001.pt", "refuses")
    assert not marker.exists()


def test_recipe_init_run_refuses_a_booby_trapped_checkpoint(toy_dataset, tmp_path: Path, marker: Path,
                                                            capsys) -> None:
    booby_trap(tmp_path / "b3" / "checkpoints" / "step_00000009.pt", marker)
    assert main(train_args(toy_dataset.index, tmp_path / "b4", "--set", "init=b3")) == 2
    one_line_refusal(capsys, "step_00000009.pt", "refuses")
    assert not marker.exists()


def test_load_pretrained_refuses_a_booby_trapped_file(tmp_path: Path, marker: Path) -> None:
    evil = booby_trap(tmp_path / "run" / "checkpoints" / "step_00000001.pt", marker)
    for where in (evil, tmp_path / "run"):
        with pytest.raises(UnsafeCheckpointError, match="refuses") as err:
            load_pretrained(where)
        assert "\n" not in str(err.value)
    assert not marker.exists()


def test_a_raw_pickle_is_refused_too(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"model": Payload(marker)}))
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_rng_states_survive_a_weights_only_round_trip(tmp_path: Path) -> None:
    import random

    import numpy as np

    np.random.seed(3)
    random.seed(4)
    np.random.standard_normal()  # leaves a cached Gaussian in numpy's state
    torch.save({"rng": rng_state()}, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.standard_normal(3), random.random())
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    again = (torch.rand(3), np.random.standard_normal(3), random.random())
    assert torch.equal(expected[0], again[0]) and (expected[1] == again[1]).all() and expected[2] == again[2]


def test_a_second_trainer_on_one_run_directory_refuses(toy_dataset, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    with exclusive(out / LOCK_NAME, "test holder"):
        assert main(train_args(toy_dataset.index, out)) == 5
        one_line_refusal(capsys, "in use by another lssd process")
    assert not (out / "checkpoints").exists()


def test_a_killed_trainers_lock_is_taken_over(toy_dataset, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    holder = ("import os, signal, sys; from lssd.locks import try_lock; "
              "assert try_lock(sys.argv[1]) is not None; os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", holder, str(out / LOCK_NAME)],
                          env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert proc.returncode == -9 and (out / LOCK_NAME).exists()  # a stale lock file stays behind
    assert main(train_args(toy_dataset.index, out)) == 0
    assert not (out / LOCK_NAME).exists()


@pytest.mark.parametrize("value", ["-1", "nan", ".inf", "0"])
def test_nonsense_learning_rates_are_one_line_errors(toy_dataset, tmp_path: Path, value: str,
                                                     capsys) -> None:
    assert main(train_args(toy_dataset.index, tmp_path / "run", "--set", f"optim.lr={value}")) == 2
    one_line_refusal(capsys, "optim.lr must be")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override", ["loss.tau=-0.07", "data.window=nan", "optim.warmup_steps=-1",
                                      "optim.betas=[0.9, 1.5]", "train.log_every=0", "data.num_workers=-2",
                                      "data.video.fps=nan", "loss.lambda_a=-1"])
def test_every_numeric_field_is_validated(override: str) -> None:
    from lssd.errors import BadInputError

    with pytest.raises(BadInputError, match=override.split("=")[0]) as err:
        load_recipe("b4", [override])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_resume_falls_back_over_a_damaged_newest_checkpoint(toy_dataset, tmp_path: Path, damage: str,
                                                            caplog) -> None:
    recipe = load_recipe("tiny", [s for s in SHORT[1::2] if "=" in s])
    straight: list[float] = []
    out = tmp_path / "run"
    train(recipe, toy_dataset.index, out, progress=False,
          on_step=lambda step, terms: straight.append(terms.total.item()))
    newest = checkpoints(out)[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2] if damage == "truncate" else b"")
    resumed: list[float] = []
    with caplog.at_level(logging.WARNING, logger="lssd.train"):
        train(recipe, toy_dataset.index, out, resume=True, progress=False,
              on_step=lambda step, terms: resumed.append(terms.total.item()))
    assert "step_00000002.pt is " + ("empty" if damage == "empty" else "truncated") in caplog.text
    assert "resuming from step_00000001.pt" in caplog.text
    assert resumed == straight[1:]  # step 2 again, from step 1's state
    assert load_checkpoint(newest)["step"] == 2  # rewritten whole


def test_a_lone_empty_checkpoint_is_one_line_not_an_abort(toy_dataset, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "step_00000001.pt").write_bytes(b"")
    code = main(train_args(toy_dataset.index, out, "--resume"))
    assert code == 2  # not 130: that is Ctrl-C's
    one_line_refusal(capsys, "step_00000001.pt", "empty")
    assert main(train_args(toy_dataset.index, tmp_path / "x", "--init", str(out / "checkpoints"
                                                                              / "step_00000001.pt"))) == 2
    one_line_refusal(capsys, "empty")
