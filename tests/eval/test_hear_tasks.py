"""`lssd eval hear`: hear-eval-kit's prepared scene tasks scored in-house (folds, multi-label mAP)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from lssd.cli import main
from lssd.eval.hear_tasks import data_splits, read_task, rotate_folds
from lssd.testing.scenes import SCENES, TaskItem, scene_sound, write_hear_task

CLASSES = list(SCENES)  # five scene classes
FAST = ["--grid-points", "2", "--max-epochs", "30", "--hidden-dim", "64", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hear_tasks")
    folds = [TaskItem(f"f{fold}-{c}.wav", f"fold{fold:02d}", (c,), scene_sound(c, 1.0, [fold, k]))
             for fold in range(5) for k, c in enumerate(CLASSES)]
    write_hear_task(root, "scenes5", folds, folds=True)
    rng = np.random.default_rng(0)
    mixed = []
    for split, n in (("train", 16), ("valid", 8), ("test", 8)):
        for i in range(n):
            labels = tuple(c for c in CLASSES[:3] if rng.random() < 0.5) or (CLASSES[i % 3],)
            audio = sum(scene_sound(c, 1.0, [i, len(split), k]) for k, c in enumerate(labels))
            mixed.append(TaskItem(f"{split}_{i}.wav", split, labels, audio))
    write_hear_task(root, "mixture", mixed, multilabel=True)
    return root


def test_fold_rotation_is_hear_eval_kits() -> None:
    """test = fold i, valid = fold i+1, train = the rest (heareval's data_splits_from_folds docstring)."""
    rotations = rotate_folds(["fold03", "fold00", "fold02", "fold01", "fold04"])
    assert rotations[0] == {"train": ["fold02", "fold03", "fold04"], "valid": ["fold01"], "test": ["fold00"]}
    assert rotations[4] == {"train": ["fold01", "fold02", "fold03"], "valid": ["fold00"], "test": ["fold04"]}
    assert data_splits({"split_mode": "trainvaltest", "splits": ["train", "valid", "test"]}) == [
        {"train": ["train"], "valid": ["valid"], "test": ["test"]}]


def test_eval_hear_scores_a_kfold_and_a_multilabel_task(tiny_runs, tasks: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "hear"
    code = main(["eval", "hear", str(tiny_runs[0]), "--tasks-dir", str(tasks), "-o", str(out), *FAST])
    printed = capsys.readouterr().out
    assert code == 0, printed
    lines = printed.splitlines()
    header = " ".join(lines[:6])
    assert "scenes5" in header and "mixture" in header and "top1" in header and "mAP" in header
    row = next(line for line in lines if line.strip().startswith("r1"))
    assert "±" in row  # the 5-fold task shows its spread

    results = json.loads((out / "hear_results.json").read_text())["runs"]["r1"]["tasks"]
    scenes = results["scenes5"]
    assert scenes["metric"] == "top1" and sorted(scenes["folds"]) == [f"fold{i:02d}" for i in range(5)]
    tops = [f["scores"]["top1"] for f in scenes["folds"].values()]
    assert scenes["mean"] == pytest.approx(np.mean(tops)) and scenes["std"] == pytest.approx(np.std(tops, ddof=1))
    assert scenes["mean"] > 40.0  # five classes: chance is 20 %
    configs = {json.dumps({k: f["config"][k] for k in ("hidden_layers", "lr", "init")}) for f in scenes["folds"].values()}
    assert len(configs) == 1  # the grid is searched on the first rotation only, its best point reused

    # mAP against scikit-learn, from the saved predictions and the task's own label files
    mixture = results["mixture"]
    saved = np.load(out / "predictions" / "r1" / "mixture" / "test.predictions.npz")
    truth = json.loads((tasks / "mixture" / "test.json").read_text())
    vocab = [line.split(",")[1] for line in (tasks / "mixture" / "labelvocabulary.csv").read_text().split()[1:]]
    target = np.array([[label in truth[f] for label in vocab] for f in saved["files"]], dtype=float)
    np.testing.assert_array_equal(saved["target"], target)
    assert mixture["metric"] == "mAP"
    reference = average_precision_score(target, saved["prediction"], average="macro")
    assert mixture["mean"] == pytest.approx(reference, abs=1e-12)

    # a second run reuses every embedding and gives the same numbers
    store = out / "embeddings" / "r1" / "scenes5" / "items"
    stamps = {p.name: p.stat().st_mtime_ns for p in store.iterdir()}
    assert main(["eval", "hear", str(tiny_runs[0]), "--tasks-dir", str(tasks), "-o", str(out), "--tasks", "scenes5",
                 *FAST]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in store.iterdir()} == stamps
    again = json.loads((out / "hear_results.json").read_text())["runs"]["r1"]["tasks"]["scenes5"]
    assert again["mean"] == scenes["mean"]


def test_map_is_macro_average_precision() -> None:
    """One hand-computed case: class 0 ranks its two positives 1st and 3rd (AP = (1 + 2/3) / 2),
    class 1 ranks its positive first (AP = 1)."""
    from lssd.eval.probes import mean_average_precision

    target = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    scores = np.array([[0.9, 0.1], [0.8, 0.9], [0.7, 0.2], [0.1, 0.3]])
    assert mean_average_precision(target, scores) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)


def test_event_tasks_and_bad_layouts_are_refused_in_one_line(tmp_path: Path, tiny_runs, capsys) -> None:
    task = tmp_path / "tasks" / "dcase"
    task.mkdir(parents=True)
    (task / "task_metadata.json").write_text(json.dumps({"task_name": "dcase", "embedding_type": "event",
                                                         "prediction_type": "multilabel",
                                                         "split_mode": "trainvaltest", "splits": []}))
    with pytest.raises(Exception, match="event"):
        read_task(task)
    assert main(["eval", "hear", str(tiny_runs[0]), "--tasks-dir", str(tmp_path / "tasks"), *FAST]) != 0
    err = capsys.readouterr().err
    assert "scene tasks only" in err and "Traceback" not in err


def test_what_an_embedder_holding_the_store_wrote_is_not_embedded_again(tasks: Path, tmp_path: Path, monkeypatch) -> None:
    """The to-do list is made once the store's lock is ours: another `lssd eval hear` that held it has
    written items meanwhile, and those are kept, not computed twice."""
    import contextlib
    import types

    import torch

    import lssd.hear
    from lssd.eval import hear_tasks
    from lssd.eval.embed import EmbeddingStore

    task = read_task(tasks / "scenes5")
    rate = int(next(p.name for p in task.root.iterdir() if p.is_dir() and p.name.isdigit()))
    split, name = next((split, name) for split, files in task.splits.items() for name in files)
    calls: list[int] = []

    def embeddings(audio, model):
        calls.append(1)
        return torch.zeros(1, 4)

    @contextlib.contextmanager
    def held_by_another_first(path, what):  # the other embedder finishes one item, then lets go
        EmbeddingStore(tmp_path / "store").write(hear_tasks.item_id(split, name), {"audio": np.ones(4, np.float32)})
        yield

    monkeypatch.setattr(lssd.hear, "get_scene_embeddings", embeddings)
    monkeypatch.setattr(hear_tasks.locks, "exclusive", held_by_another_first)
    store = hear_tasks.embed_task(types.SimpleNamespace(sample_rate=rate), {"run": "r"}, task, tmp_path / "store",
                                  progress=False)
    total = sum(len(files) for files in task.splits.values())
    assert len(calls) == total - 1 and len(store.ids()) == total
