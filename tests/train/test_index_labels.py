"""Labels survive to training: each track's kind comes from the sidecar (also through symlinks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lssd import sidecar
from lssd.train.build import select_shots
from lssd.train.index import build_index, read_index, write_index
from lssd.train.recipes import load_recipe


def test_track_kinds_from_sidecar_tags_and_symlinks(toy_dataset, tmp_path: Path) -> None:
    df = read_index(toy_dataset.index)
    kinds = df.groupby("title_id")["track_kinds"].first().to_dict()
    assert kinds["toy_000.dub.mkv"] == ["original", "synthetic", "synthetic", "synthetic"]
    assert kinds["toy_002.mkv"] == ["dub", "original"]  # a real multi-language file: the other track is a dub
    assert kinds["toy_003.mp4"] == ["original"]

    # a pseudo-text track, and a dub reached through a link whose sidecar lives beside the target only
    store, root = tmp_path / "store", tmp_path / "root"
    store.mkdir(), root.mkdir()
    media = Path(shutil.copy(toy_dataset.root / "toy_001.dub.mkv", store / "clip.dub.mkv"))
    meta = json.loads(sidecar.path_for(toy_dataset.root / "toy_001.dub.mkv").read_text())
    meta["tracks"][1].update(text_kind=sidecar.TEXT_PSEUDO, is_translation=False)
    sidecar.path_for(media).write_text(json.dumps(meta))
    (root / "linked.mkv").symlink_to(media)
    path = write_index(build_index(root), tmp_path / "i.parquet")
    rows = read_index(path)
    assert rows["track_kinds"].iloc[0] == ["original", "pseudo"]
    assert rows["is_synthetic"].iloc[0] == [False, True]

    # the trainer never sees a pseudo-text track unless the recipe opts in
    shots = select_shots(load_recipe("tiny"), path)
    assert shots["audio_languages"].iloc[0] == ["eng"] and shots["audio_stream_index"].iloc[0] == [0]
    opted = select_shots(load_recipe("tiny", ["data.allow_pseudo=true"]), path)
    assert opted["audio_languages"].iloc[0] == ["eng", "spa"] and opted["track_kinds"].iloc[0] == ["original", "pseudo"]
