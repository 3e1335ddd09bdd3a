"""The index at scale (lssd.train.tables): read_index shares a title's values among its shots, and the
recipes' subsets, the title sampler's batches, the dataset's per-shot metadata and the step-matched
schedule are the same as from a plain frame (one Python list per row and cell, what read_index made
before) and as the code before the change produced (pinned digests)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lssd.train.build import Schedule, select_shots
from lssd.train.data import QuadrupletDataset
from lssd.train.index import COLUMNS, read_index, write_index
from lssd.train.recipes import load_recipe
from lssd.train.sampler import TitleBatchSampler
from lssd.train.tables import Codes, per_distinct, shared_lists, shared_strings
from lssd.train.toy import synthetic_index

# sha256 (first 16 hex) of (shots, two epochs of rank 1's batches, the batches' shot metadata, the
# schedule) from the code before lssd.train.tables (commit ca82f58), synthetic_index(3000, seed=1)
PINNED = {"tiny": "88276426fa4d3a53", "a2": "557cc043607d8726", "b1": "a8dfa474b69a9c6c",
          "ctrl_resynth": "ffcf75f1cea90525", "ctrl_novc_es": "2d67347b73e027bc"}


@pytest.fixture(scope="module")
def index_path(tmp_path_factory) -> Path:
    """3000 shots written in row groups of 700, so that a title's shots straddle row groups."""
    path = write_index(synthetic_index(3000, seed=1), tmp_path_factory.mktemp("tables") / "shots.parquet")
    pq.write_table(pq.read_table(path), path, row_group_size=700)
    return path


def plain_frame(path: Path):
    """What read_index returned before: pyarrow's to_pandas, every list cell its own Python list."""
    df = pq.read_table(path).to_pandas()
    for col in df.columns:
        if isinstance(df[col].iloc[0], np.ndarray):
            df[col] = [cell.tolist() for cell in df[col]]
    df.attrs.update(warnings=[], params={})
    return df[list(COLUMNS)]


def run_data(recipe_name: str, table, path: Path) -> tuple:
    """The recipe's shots, two epochs of rank 1's batches (of 2), their shots' metadata, the schedule."""
    recipe = load_recipe(recipe_name, ["data.batch_size=16", "data.group_size=4"])
    shots = select_shots(recipe, table)
    sampler = TitleBatchSampler(shots, 16, 4, policy=recipe.data.policy, primary=recipe.data.primary, seed=5,
                                world_size=2, rank=1)
    keys = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        keys += [tuple(batch) for batch in sampler]
    ds = QuadrupletDataset(shots, recipe.data.policy, None, None, primary=recipe.data.primary)
    rows = sorted({k.row for batch in keys for k in batch})
    meta = [(ds._paths[i], int(ds._video_stream[i]), dict(ds._streams[i]), ds._title[i], int(ds._shot_id[i]))
            for i in rows]
    schedule = Schedule.matched(recipe, sampler.steps_per_epoch, table, 2) if recipe.optim.match_steps else None
    return len(shots), keys, meta, schedule


def test_read_index_holds_the_plain_values_with_a_titles_values_shared(index_path: Path) -> None:
    df, plain = read_index(index_path), plain_frame(index_path)
    assert list(df.columns) == list(plain.columns) and len(df) == len(plain) == 3000
    for col in df.columns:
        assert df[col].tolist() == plain[col].tolist(), col
    other = index_path.with_name("legacy.parquet")  # list items named "item", as older writers do
    table = pq.read_table(index_path)
    table = table.cast(pa.schema([pa.field(f.name, pa.list_(f.type.value_type)) if pa.types.is_list(f.type) else f
                                  for f in table.schema], metadata=table.schema.metadata))
    pq.write_table(table, other, use_compliant_nested_type=False, row_group_size=1000)
    schema = pq.ParquetFile(other).schema
    assert "audio_languages.list.item" in {schema.column(i).path for i in range(len(schema))}
    legacy = read_index(other)
    for col in df.columns:
        assert legacy[col].tolist() == plain[col].tolist(), col
    titles = df["title_id"].nunique()
    for col in ("audio_languages", "track_kinds", "control_tracks", "media_path", "title_id"):
        # one object per distinct value and row group at most: no per-row copies
        assert len({id(v) for v in df[col]}) <= 5 * min(titles, len(set(map(repr, df[col])))), col


@pytest.mark.parametrize("recipe", sorted(PINNED))
def test_recipes_batches_and_metadata_equal_the_plain_frames_and_the_code_before(index_path: Path,
                                                                                 recipe: str) -> None:
    scaled = run_data(recipe, read_index(index_path), index_path)
    assert scaled[0] > 16 * 2  # the recipe keeps a few titles: its filters are exercised
    assert scaled == run_data(recipe, plain_frame(index_path), index_path)
    assert hashlib.sha256(repr(scaled).encode()).hexdigest()[:16] == PINNED[recipe]


def test_shared_conversions_keep_nulls_orders_and_empty_lists_apart() -> None:
    lists = pa.array([["a", "b"], ["a", "b"], ["a"], None, [], [], ["a", "b"], [""], ["b", "a"], ["a", None],
                      [None, "a"]])
    out = shared_lists(lists)
    assert out.tolist() == lists.to_pylist()
    assert out[0] is out[1] is out[6] and out[4] is out[5] and len({id(v) for v in out}) == 8
    ints = pa.array([[1, 2], [1, 2], [2, 1], [1, None], [1, 0], [-1], [None]], pa.list_(pa.int64()))
    bools = pa.array([[True], [False], [False, True], [False, True]])
    assert shared_lists(bools).tolist() == bools.to_pylist()
    assert shared_lists(ints).tolist() == ints.to_pylist()
    strings = shared_strings(pa.array(["x", None, "y", "x"]))
    assert strings.tolist() == ["x", None, "y", "x"] and strings[0] is strings[3]
    codes = Codes(["b", "a", "b"])
    assert [codes[i] for i in range(3)] == ["b", "a", "b"] and codes.codes.itemsize == 1
    calls = []
    lengths = per_distinct(lambda v: calls.append(v) or len(v), out[[0, 1, 2, 4, 5, 6]])
    assert lengths.tolist() == [2, 2, 1, 0, 0, 2] and calls == [["a", "b"], ["a"], []]  # once per object


@pytest.mark.parametrize("recipe", ["a2", "b1", "ctrl_resynth"])
def test_a_consumed_table_gives_the_same_subset_and_is_emptied_as_it_is_taken(index_path: Path, recipe: str) -> None:
    """lssd train gives the whole index up to take its subset: the two are never in memory together."""
    r = load_recipe(recipe)
    kept = select_shots(r, read_index(index_path))
    table = read_index(index_path)
    consumed = select_shots(r, table, consume=True)
    assert 0 < len(consumed) < len(table) and consumed.equals(kept) and consumed.attrs == kept.attrs
    assert list(table.columns) == []  # every column went as the subset took it
    whole = read_index(index_path)
    assert len(select_shots(load_recipe("tiny"), whole, consume=True)) == len(whole) == 3000  # nothing filtered
