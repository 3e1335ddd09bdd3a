"""Shared fixtures: tiny runs in the trainer's checkpoint format and short generated clips.

Evaluation tests run torch on one intra-op thread: their tensors are tiny, and on a shared CPU a
thread pool spends more time waiting for cores than computing (10x slower here).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from lssd import sidecar
from lssd.train.build import build_model
from lssd.train.checkpoint import save_checkpoint
from lssd.train.recipes import dump, load_recipe, to_dict

CLIP_SIZE = "64x48"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Per module, so the setting never leaks into other folders' tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_run(folder: Path, seed: int, recipe: str = "tiny") -> Path:
    """A run directory as ``lssd train`` leaves it (recipe.yaml, checkpoints/step_*.pt) holding the
    recipe's models at a seeded random initialisation."""
    resolved = load_recipe(recipe)
    torch.manual_seed(seed)
    model = build_model(resolved)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.yaml").write_text(dump(resolved))
    save_checkpoint({"step": 1, "recipe": to_dict(resolved), "model": model.state_dict()}, folder, keep=1)
    return folder


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return make_run(root / "r1", seed=1), make_run(root / "r2", seed=2)


def make_clip(path: Path, duration: float, video: str, tones: dict[str, float], original: int = 0,
              with_sidecar: bool = False) -> Path:
    """A small clip: a lavfi picture and one sine audio stream per language (tagged), optionally with
    an lssd sidecar naming stream ``original`` as the original and the others synthetic dubs."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
           "-i", f"{video}=s={CLIP_SIZE}:r=25:d={duration}"]
    for hz in tones.values():
        cmd += ["-f", "lavfi", "-i", f"sine=frequency={hz}:sample_rate=48000:duration={duration}"]
    cmd += ["-map", "0:v"] + [x for i in range(len(tones)) for x in ("-map", f"{i + 1}:a")]
    for i, lang in enumerate(tones):
        cmd += [f"-metadata:s:a:{i}", f"language={lang}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, capture_output=True)
    if with_sidecar:
        tracks = [sidecar.track_entry(i, lang, sidecar.KIND_ORIGINAL if i == original else sidecar.KIND_SYNTHETIC_DUB,
                                      lang, None if i == original else sidecar.TEXT_TRANSLATION)
                  for i, lang in enumerate(tones)]
        sidecar.write(sidecar.path_for(path), {"format": sidecar.FORMAT, "source_language": list(tones)[original],
                                               "duration": duration, "tracks": tracks})
    return path
