"""lssd.lvu on split files in LVU's real format: labels, regression targets, ids starting with '-'."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lssd.errors import BadInputError
from lssd.lvu import find_videos, memberships, parse_tasks, read_release, release_dir


def _write(root: Path, task: str, split: str, header: str, rows: list[str]) -> None:
    path = root / "lvu_1.0" / task / f"{split}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    cls = "class_id class_name youtube_id imdb_id"
    _write(tmp_path, "relationship", "train", cls, ["0 friend -e6lEsIUf3U tt0161100", "1 wife 87IqS4kQqgE tt7616798"])
    _write(tmp_path, "relationship", "val", cls, ["0 friend Z2xooz6844k tt3470600"])
    _write(tmp_path, "relationship", "test", cls, [])
    _write(tmp_path, "like_ratio", "train", "like_count dislike_count youtube_id imdb_id", ["41613 911 -e6lEsIUf3U tt0161100"])
    _write(tmp_path, "like_ratio", "val", "like_count dislike_count youtube_id imdb_id", [])
    _write(tmp_path, "like_ratio", "test", "like_count dislike_count youtube_id imdb_id", [])
    _write(tmp_path, "view_count", "train", "view_count youtube_id imdb_id", ["1000000 87IqS4kQqgE tt7616798"])
    _write(tmp_path, "view_count", "val", "view_count youtube_id imdb_id", [])
    _write(tmp_path, "view_count", "test", "view_count youtube_id imdb_id", [])
    return tmp_path


def test_labels_targets_and_memberships(mini: Path) -> None:
    assert release_dir(mini) == mini / "lvu_1.0" and release_dir(mini / "lvu_1.0") == mini / "lvu_1.0"
    examples = read_release(mini, ["relationship", "like_ratio", "view_count"])
    rel = [e for e in examples if e.task == "relationship"]
    assert [(e.split, e.video_id, e.label, e.class_name) for e in rel] == [
        ("train", "-e6lEsIUf3U", 0, "friend"), ("train", "87IqS4kQqgE", 1, "wife"), ("val", "Z2xooz6844k", 0, "friend")]
    like = next(e for e in examples if e.task == "like_ratio")
    assert like.target == pytest.approx(41613 / (41613 + 911) * 10 - 9.138) and like.label is None
    views = next(e for e in examples if e.task == "view_count")
    assert views.target == pytest.approx(math.log(1e6) - 11.764) and views.is_regression
    members = memberships(examples)
    assert members["-e6lEsIUf3U"] == [("like_ratio", "train"), ("relationship", "train")]
    assert len(members) == 3


def test_bad_files_and_tasks_are_one_sentence(mini: Path) -> None:
    with pytest.raises(BadInputError, match="unknown LVU task"):
        parse_tasks("genre,sceen")
    with pytest.raises(BadInputError, match="split file .*genre/train.csv is missing"):
        read_release(mini, ["genre"])
    _write(mini, "relationship", "test", "class_id class_name youtube_id imdb_id", ["0 friend tt0161100"])
    with pytest.raises(BadInputError, match=r"test.csv:2: expected 4"):
        read_release(mini, ["relationship"])


def test_find_videos_prefers_mp4_and_ignores_partials(tmp_path: Path) -> None:
    for name in ("-e6lEsIUf3U.mkv", "-e6lEsIUf3U.mp4", "87IqS4kQqgE.webm", "Z2xooz6844k.mp4.part", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = find_videos(tmp_path)
    assert found == {"-e6lEsIUf3U": tmp_path / "-e6lEsIUf3U.mp4", "87IqS4kQqgE": tmp_path / "87IqS4kQqgE.webm"}
    assert find_videos(tmp_path, ["87IqS4kQqgE"]) == {"87IqS4kQqgE": tmp_path / "87IqS4kQqgE.webm"}
