"""`lssd eval clips`: a folder of labelled clips probed on video, audio and audio+video embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lssd.cli import main
from lssd.errors import BadInputError
from lssd.eval.clips import clip_item, read_clip_task
from lssd.testing.scenes import PICTURES, SCENES, scene_sound, write_clip, write_clip_task

CLASSES = list(SCENES)[:3]
SPLITS = {"train": 8, "val": 4, "test": 8}  # clips per class


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clips whose picture and sound both follow the scene class; two CSVs over the same clips: the
    true class, and labels shuffled (no relation to the content)."""
    root = tmp_path_factory.mktemp("clips")
    rows = []
    for split, n in SPLITS.items():
        for c, scene in enumerate(CLASSES):
            for k in range(n):
                rel = f"{split}/{scene}_{k}.mp4"
                write_clip(root / rel, PICTURES[c], scene_sound(scene, 1.0, [len(split), c, k]))
                rows.append((rel, [scene], split))
    write_clip_task(root, rows, "labels.csv")
    rng = np.random.default_rng(0)
    shuffled = [(rel, [CLASSES[int(rng.integers(len(CLASSES)))]], split) for rel, _, split in rows]
    write_clip_task(root, shuffled, "shuffled.csv")
    return root


def _run(run: Path, task: Path, out: Path, csv_name: str, capsys) -> tuple[dict, str]:
    code = main(["eval", "clips", str(run), "--task", str(task), "--csv", csv_name, "-o", str(out),
                 "--epochs", "60", "--device", "cpu", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    return json.loads((out / "clips_results.json").read_text()), printed


def test_real_labels_score_above_chance_and_shuffled_labels_at_chance(tiny_runs, clips_dir: Path, tmp_path: Path,
                                                                      capsys) -> None:
    real, printed = _run(tiny_runs[0], clips_dir, tmp_path / "eval", "labels.csv", capsys)
    rows = [line.split() for line in printed.splitlines() if line.strip().startswith(("video", "audio"))]
    assert [(r[0], r[1]) for r in rows] == [(m, metric) for m in ("video", "audio", "audio+video")
                                           for metric in ("top1", "mAP")]
    probes = real["runs"]["r1"]["probes"]
    n_test = SPLITS["test"] * len(CLASSES)
    for modality in ("video", "audio", "audio+video"):
        fold = probes[modality]["folds"]["test"]
        assert (fold["n_train"], fold["n_val"], fold["n_test"]) == (8 * 3, 4 * 3, n_test)
        assert probes[modality]["mean"]["top1"] > 80.0, modality  # chance is 33 %
        assert 0.0 <= probes[modality]["mean"]["mAP"] <= 1.0

    shuffled, _ = _run(tiny_runs[0], clips_dir, tmp_path / "eval", "shuffled.csv", capsys)  # same embeddings
    for modality in ("video", "audio", "audio+video"):
        assert shuffled["runs"]["r1"]["probes"][modality]["mean"]["top1"] < 55.0, modality


def test_folds_and_multilabel_rows_are_read(tmp_path: Path) -> None:
    write_clip_task(tmp_path, [("a.mp4", ["dog", "rain"], "f1"), ("b.mp4", ["dog"], "f2"), ("c.mp4", ["rain"], "f3")],
                    split_column="fold")
    task = read_clip_task(tmp_path)
    assert task.multilabel and task.kind == "multilabel" and task.folds == ["f1", "f2", "f3"]
    assert task.rotations()[0] == {"train": ["f3"], "valid": ["f2"], "test": ["f1"]}
    np.testing.assert_array_equal(task.targets(task.clips), [[1, 1], [1, 0], [0, 1]])


def test_a_bad_csv_is_one_line(tmp_path: Path, tiny_runs, capsys) -> None:
    (tmp_path / "labels.csv").write_text("file,class\nx.mp4,dog\n")
    assert main(["eval", "clips", str(tiny_runs[0]), "--task", str(tmp_path), "--device", "cpu"]) != 0
    err = capsys.readouterr().err
    assert "path, label and split" in err and "Traceback" not in err


def test_a_short_fold_row_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("path,label,fold\na.mp4,dog,f1\nb.mp4,dog\n")  # line 3 has no fold
    with pytest.raises(BadInputError, match="line 3: path, label and fold are needed"):
        read_clip_task(tmp_path)


def test_clip_ids_are_distinct_for_distinct_paths(tmp_path: Path) -> None:
    """``a/b.mp4`` and ``a__b.mp4`` once shared the id ``a__b.mp4``: one clip's embedding scored as both."""
    assert clip_item("a/b.mp4") != clip_item("a__b.mp4")
    assert clip_item("train/dog_1.mp4") == "train__dog_1.mp4"  # plain paths keep their readable id
    write_clip_task(tmp_path, [("a/b.mp4", ["dog"], "train"), ("a__b.mp4", ["cat"], "train"),
                               ("v.mp4", ["dog"], "val"), ("t.mp4", ["cat"], "test")])
    assert len({c.item for c in read_clip_task(tmp_path).clips}) == 4


def test_table_dropped_column_counts_each_run():
    """Two runs that embedded different clips (one store cached from earlier inputs): each run's dropped
    count and split sizes are shown, not the first run's for all."""
    from rich.console import Console

    from lssd.eval.clips import Clip, ClipsResult, ClipTask, table
    from lssd.eval.probes import ProbeResult

    def probe(n_train: int) -> ProbeResult:
        return ProbeResult("classification", "top1", 50.0, 50.0, 1, 1, n_train, 2, 2, {},
                           scores={"top1": 50.0, "mAP": 0.5})

    task = ClipTask("t", [Clip("a", Path("a.mp4"), ("x",), "train")], ["x", "y"], False, None)
    results = [ClipsResult("cached", "", {}, {"audio": {"test": probe(6)}}),
               ClipsResult("fresh", "", {"c1": "undecodable", "c2": "undecodable"}, {"audio": {"test": probe(4)}})]
    console = Console(width=200, record=True)
    console.print(table(task, results))
    lines = [line for line in console.export_text().splitlines() if line.strip().startswith("audio")]
    assert len(lines) == 2 and all(line.split()[-6:] == ["6/2/2", "|", "4/2/2", "0", "|", "2"] for line in lines), lines
