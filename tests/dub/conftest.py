from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lssd.cli import main
from lssd.samples import SampleClip, make_clip_from_audio, make_sample_clip


@dataclass
class Dubbed:
    clip: SampleClip
    output: Path
    workdir: Path


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory) -> SampleClip:
    return make_sample_clip(tmp_path_factory.mktemp("sample") / "harbour.mp4")


@pytest.fixture(scope="session")
def dubbed_sample(sample_clip, tmp_path_factory) -> Dubbed:
    """The generated sample dubbed into es, fr, ja with its known background given."""
    out_dir = tmp_path_factory.mktemp("dubbed")
    output, workdir = out_dir / "harbour.dub.mkv", out_dir / "work"
    code = main([
        "dub", str(sample_clip.path), "--langs", "es,fr,ja", "-o", str(output), "--workdir", str(workdir),
        "--background", str(sample_clip.background)])
    assert code == 0
    return Dubbed(sample_clip, output, workdir)


@pytest.fixture(scope="session")
def jfk_video(shared_media, tmp_path_factory) -> Path:
    return make_clip_from_audio(shared_media / "jfk.flac", tmp_path_factory.mktemp("jfk") / "jfk.mp4")


def copy_clip(clip: SampleClip, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(clip.path, dest_dir / clip.path.name))


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory) -> SampleClip:
    """One sentence over music: the cheapest clip that exercises every stage."""
    lines = ((0.6, "The boats come back before the evening storm."),)
    return make_sample_clip(tmp_path_factory.mktemp("short") / "boats.mp4", duration=5.0, lines=lines)
