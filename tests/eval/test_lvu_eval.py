"""`lssd eval lvu` on a mini LVU in the real file format: two runs side by side, drops counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lssd.cli import main
from lssd.eval.embed import EmbeddingStore
from lssd.eval.lvu import task_splits
from lssd.lvu import read_release

from .conftest import make_clip

CLS = "class_id class_name youtube_id imdb_id"
LIKES = "like_count dislike_count youtube_id imdb_id"
# genre is what the picture and the sound show: class 0 testsrc2 + 300 Hz, class 1 smptebars + 1500 Hz
VIDEOS = {"-e6lEsIUf3U": 0, "87IqS4kQqgE": 1, "Z2xooz6844k": 0, "aaaaaaaaaa1": 1,
          "bbbbbbbbbb2": 0, "ccccccccc-3": 1, "ddddddddd_4": 0, "eeeeeeeeee5": 1}
MISSING = "zzzzzzzzzz9"  # listed in train.csv, never downloaded
SPLITS = {"train": ["-e6lEsIUf3U", "87IqS4kQqgE", "Z2xooz6844k", "aaaaaaaaaa1", MISSING],
          "val": ["bbbbbbbbbb2", "ccccccccc-3"], "test": ["ddddddddd_4", "eeeeeeeeee5"]}


def _write(root: Path, task: str, split: str, header: str, rows: list[str]) -> None:
    path = root / "lvu_1.0" / task / f"{split}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


@pytest.fixture(scope="module")
def mini_lvu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lvu")
    for vid, cls in VIDEOS.items():
        make_clip(root / "videos" / f"{vid}.mp4", 1.2, ("testsrc2", "smptebars")[cls],
                  {"eng": (300.0, 1500.0)[cls]})
    for split, ids in SPLITS.items():
        _write(root, "genre", split, CLS, [f"{VIDEOS.get(v, 0)} {('Action', 'Drama')[VIDEOS.get(v, 0)]} {v} tt01"
                                           for v in ids])
        _write(root, "like_ratio", split, LIKES, [f"{100 * (i + 1)} {10 * (i + 2)} {v} tt01" for i, v in enumerate(ids)])
    return root


def test_eval_lvu_prints_a_table_for_two_runs(tiny_runs, mini_lvu: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval"
    code = main(["eval", "lvu", *map(str, tiny_runs), "--lvu", str(mini_lvu), "--out", str(out),
                 "--tasks", "genre,like_ratio", "--epochs", "20", "--device", "cpu", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    header = next(line for line in printed.splitlines() if "task" in line and "embedding" in line)
    assert "r1" in header and "r2" in header
    rows = [line.split() for line in printed.splitlines() if line.strip().startswith(("genre", "like_ratio"))]
    assert [(r[0], r[2]) for r in rows] == [(t, m) for t in ("genre", "like_ratio")
                                           for m in ("video", "audio", "audio+video")]
    assert all(r[-2:] == ["1", "missing"] for r in rows)  # the undownloaded video, per task

    results = json.loads((out / "lvu_results.json").read_text())
    assert set(results["runs"]) == {"r1", "r2"}
    genre = results["runs"]["r1"]["tasks"]["genre"]
    assert genre["metric"] == "top1" and genre["missing"] == 1 and genre["failed"] == 0
    assert (genre["video"]["n_train"], genre["video"]["n_val"], genre["video"]["n_test"]) == (4, 2, 2)
    assert genre["video"]["epochs"] == 20 and 1 <= genre["video"]["best_epoch"] <= 20
    assert genre["audio"]["test"] == 100.0  # two tones a linear probe cannot confuse
    assert results["runs"]["r2"]["tasks"]["like_ratio"]["audio+video"]["metric"] == "mse"
    assert len(EmbeddingStore(out / "embeddings" / "r1").ids()) == len(VIDEOS)


def test_splits_carry_lvu_targets_and_drop_missing_videos(tiny_runs, mini_lvu: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main(["eval", "lvu", str(tiny_runs[0]), "--lvu", str(mini_lvu), "--out", str(out), "--tasks",
                 "like_ratio", "--epochs", "2", "--device", "cpu", "--no-progress"]) == 0
    examples = [e for e in read_release(mini_lvu, ["like_ratio"])]
    splits = task_splits(EmbeddingStore(out / "embeddings" / "r1"), examples)
    ids, y = splits["train"]
    assert ids == SPLITS["train"][:4] and MISSING not in ids
    expected = [100 * (i + 1) / (100 * (i + 1) + 10 * (i + 2)) * 10 - 9.138 for i in range(4)]
    np.testing.assert_allclose(y, expected)
    assert splits["test"][0] == SPLITS["test"]


def test_no_videos_is_one_sentence(tiny_runs, mini_lvu: Path, tmp_path: Path, capsys) -> None:
    code = main(["eval", "lvu", str(tiny_runs[0]), "--lvu", str(mini_lvu), "--videos", str(tmp_path),
                 "--tasks", "genre", "--out", str(tmp_path / "o")])
    assert code == 2 and "none of the LVU videos" in capsys.readouterr().err
