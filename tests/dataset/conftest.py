"""A mini LVU made on the fly: two tasks, six ids — three short speech clips (one id starts with '-'),
one missing video, one corrupt file, one clip in a task split only (the LVU overlap)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lssd.samples import make_sample_clip

# the cheapest backends that still run every stage: a build test checks the builder, not the dubbing
FAST = ["--source-lang", "en", "--separator", "dsp", "--asr", "vad", "--translator", "pseudo", "--vc", "none"]
SPEECH = {"Aa0_speech1": (4.0, "The boats come back."), "-Bb1speech2": (3.0, "Nobody knows where."),
          "Cc2_speech3": (3.5, "The storm is coming.")}
MISSING, CORRUPT = "Dd3missing4", "Ee4corrupt5"
GENRE = {"train": ["Aa0_speech1", "-Bb1speech2", MISSING], "val": ["Cc2_speech3"], "test": [CORRUPT]}
SCENE = {"train": ["Cc2_speech3", CORRUPT], "val": ["Aa0_speech1"], "test": []}


@dataclass
class MiniLvu:
    root: Path
    speech: dict[str, tuple[float, str]]
    missing: str
    corrupt: str

    @property
    def ids(self) -> list[str]:
        return [*self.speech, self.missing, self.corrupt]


def write_split(path: Path, task: str, ids: list[str], start: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "class_id class_name youtube_id imdb_id"
    lines = [header] + [f"{(start + i) % 3} class{(start + i) % 3} {vid} tt{1000 + start + i:07d}"
                        for i, vid in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n")


def make_mini_lvu(root: Path, clips_from: Path | None = None) -> MiniLvu:
    release = root / "lvu_1.0"
    for task, splits in (("genre", GENRE), ("scene", SCENE)):
        for n, (split, ids) in enumerate(splits.items()):
            write_split(release / task / f"{split}.csv", task, ids, start=n * 5)
    videos = root / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for vid, (duration, text) in SPEECH.items():
        if clips_from is not None:
            shutil.copy(clips_from / f"{vid}.mp4", videos / f"{vid}.mp4")
        else:
            make_sample_clip(videos / f"{vid}.mp4", duration=duration, lines=((0.4, text),), seed=len(vid) + int(duration))
    (videos / f"{CORRUPT}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 50)
    for extra in videos.glob("*.wav"):
        extra.unlink()
    return MiniLvu(root, dict(SPEECH), MISSING, CORRUPT)


@pytest.fixture(scope="session")
def clip_bank(tmp_path_factory) -> Path:
    """The three speech clips, generated once per session."""
    bank = tmp_path_factory.mktemp("clip-bank")
    make_mini_lvu(bank)
    return bank / "videos"


@pytest.fixture
def mini_lvu(tmp_path, clip_bank) -> MiniLvu:
    return make_mini_lvu(tmp_path / "lvu", clips_from=clip_bank)
