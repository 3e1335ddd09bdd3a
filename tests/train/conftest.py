"""A small toy dataset (4 multi-track titles, ~100 s of video) and its shot index, built once per run."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from lssd.train.index import build_index, write_index
from lssd.train.toy import make_toy_dataset


class ToyDataset(NamedTuple):
    root: Path  # the media, the sidecars and toy_manifest.json (the ground truth)
    index: Path  # the parquet shot index of root


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory: pytest.TempPathFactory) -> ToyDataset:
    root = tmp_path_factory.mktemp("toy") / "media"
    make_toy_dataset(root, n_titles=4)
    index = write_index(build_index(root), root.parent / "shots.parquet")
    return ToyDataset(root, index)
