"""The shot index: cuts found, 3-12 s filter, languages, original language, bad files, parquet I/O."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from lssd.errors import BadInputError
from lssd.train.index import (AudioTrack, build_index, detect_shots, index_titles, load_language_map,
                              read_index, resolve_original, select_shots, write_index)


def manifest(root: Path) -> dict:
    return json.loads((root / "toy_manifest.json").read_text())


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def small_clip(path: Path, audio_tag: str | None = "eng", video: bool = True) -> Path:
    """A 4 s clip (one shot): optional video, one audio stream with an optional language tag."""
    args = []
    if video:
        args += ["-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=4"]
    args += ["-f", "lavfi", "-i", "sine=f=440:d=4"]
    if audio_tag:
        args += ["-metadata:s:a:0", f"language={audio_tag}"]
    ffmpeg(*args, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(path))
    return path


def test_detected_cuts_match_generated_cuts(toy_dataset):
    for title in manifest(toy_dataset.root)["titles"]:
        shots = detect_shots(toy_dataset.root / title["name"])
        found = [start for start, _ in shots[1:]]
        assert len(found) == len(title["cuts"]), title["name"]
        for got, want in zip(found, title["cuts"]):
            assert abs(got - want) <= 0.2, (title["name"], got, want)
        assert abs(shots[-1][1] - title["duration"]) <= 0.2


def test_index_keeps_exactly_the_3_to_12_second_shots(toy_dataset):
    df = read_index(toy_dataset.index)
    expected = []
    for title in manifest(toy_dataset.root)["titles"]:
        start = 0.0
        for length in title["shots"]:
            if 3.0 <= length <= 12.0:
                expected.append((title["name"], start, start + length))
            start += length
    assert len(df) == len(expected) == 14
    for row, (name, start, end) in zip(df.itertuples(), expected):
        assert row.title_id == name
        assert abs(row.shot_start - start) <= 0.2 and abs(row.shot_end - end) <= 0.2
        assert 3.0 <= row.shot_end - row.shot_start <= 12.0
    assert df["shot_id"].tolist() == list(range(len(df)))


def test_index_languages_streams_and_provenance(toy_dataset):
    df = read_index(toy_dataset.index)
    for title in manifest(toy_dataset.root)["titles"]:
        rows = df[df["title_id"] == title["name"]]
        row = rows.iloc[0]
        assert row["audio_languages"] == title["languages"]
        assert row["audio_stream_index"] == list(range(len(title["languages"])))
        assert row["original_language"] == title["original"] == "eng"
        synthetic = [title["sidecar"] and lang != title["original"] for lang in title["languages"]]
        assert row["is_synthetic"] == synthetic
        assert row["fps"] == 25.0 and abs(row["duration"] - title["duration"]) < 0.1
        assert Path(row["media_path"]).is_file() and Path(row["media_path"]).is_absolute()
        assert rows["title_idx"].nunique() == 1
    # toy_002 has no sidecar and fra as its first stream: eng comes from the `default` disposition
    assert df[df["title_id"] == "toy_002.mkv"]["audio_languages"].iloc[0] == ["fra", "eng"]


def test_select_shots_drops_or_splits_long_shots():
    shots = [(0.0, 2.0), (2.0, 15.6), (15.6, 20.0), (20.0, 32.0), (32.0, 58.0)]
    assert select_shots(shots) == [(15.6, 20.0), (20.0, 32.0)]
    split = select_shots(shots, split_long=True)
    assert split[:2] == [(2.0, 8.8), (8.8, 15.6)]
    assert len(split) == 2 + 2 + 3
    assert all(3.0 <= e - s <= 12.0 + 1e-9 for s, e in split)
    assert select_shots(shots, min_shot=5.0, max_shot=30.0) == [(2.0, 15.6), (20.0, 32.0), (32.0, 58.0)]


def test_original_language_resolution_order():
    tracks = (AudioTrack(0, "fra", False, False), AudioTrack(1, "eng", False, True),
              AudioTrack(2, "spa", True, False))
    assert resolve_original(tracks, []) == ("eng", None)  # flagged stream
    unflagged = tuple(AudioTrack(t.audio_index, t.language, t.synthetic, False) for t in tracks)
    assert resolve_original(unflagged, []) == ("fra", None)  # first stream
    stated = [("sidecar source_language", "spa"), ("original-language map", "fra")]
    assert resolve_original(tracks, stated) == ("spa", None)
    lang, note = resolve_original(tracks, [("original-language map", "jpn")])
    assert lang == "eng" and "jpn" in note


def test_language_map_overrides_disposition_and_names_untagged_streams(toy_dataset, tmp_path):
    (tmp_path / "toy_002.mkv").symlink_to(toy_dataset.root / "toy_002.mkv")
    small_clip(tmp_path / "home.mp4", audio_tag=None)
    mapping = tmp_path / "original.csv"
    mapping.write_text("title,language\ntoy_002.mkv,fr\nhome,es\n")
    df = build_index(tmp_path, original_language=mapping)
    by_title = df.groupby("title_id").first()
    assert by_title.loc["toy_002.mkv", "original_language"] == "fra"
    assert by_title.loc["home.mp4", "audio_languages"] == ["spa"]
    assert by_title.loc["home.mp4", "original_language"] == "spa"
    # without the map the untagged stream has no language, so the title cannot be used
    df = build_index(tmp_path)
    assert set(df["title_id"]) == {"toy_002.mkv"}
    assert any("home.mp4: skipped" in w for w in df.attrs["warnings"])


def test_bad_files_are_skipped_with_a_message(toy_dataset, tmp_path):
    (tmp_path / "good.mp4").symlink_to(toy_dataset.root / "toy_003.mp4")
    (tmp_path / "corrupt.mkv").write_bytes(b"\x1aE\xdf\xa3 this is not a matroska file")
    (tmp_path / "truncated.mp4").write_bytes((toy_dataset.root / "toy_003.mp4").read_bytes()[:5000])
    small_clip(tmp_path / "silent.mp4", audio_tag=None, video=True)
    ffmpeg("-f", "lavfi", "-i", "sine=d=4", "-c:a", "aac", str(tmp_path / "audio_only.mkv"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=4", "-c:v", "libx264", "-preset",
           "ultrafast", str(tmp_path / "no_audio.mkv"))
    (tmp_path / "bad_sidecar.mkv").symlink_to(toy_dataset.root / "toy_003.mp4")
    (tmp_path / "bad_sidecar.lssd.json").write_text("{not json")
    df = build_index(tmp_path)
    assert set(df["title_id"]) == {"good.mp4"}
    reasons = {w.split(": ", 1)[0]: w.split(": ", 1)[1] for w in df.attrs["warnings"]}
    assert reasons.keys() == {"corrupt.mkv", "truncated.mp4", "audio_only.mkv", "no_audio.mkv",
                              "bad_sidecar.mkv", "silent.mp4"}
    assert all(r.startswith("skipped, ") and "\n" not in r for r in reasons.values())
    assert "no video stream" in reasons["audio_only.mkv"]
    assert "no audio stream" in reasons["no_audio.mkv"]
    assert "not readable JSON" in reasons["bad_sidecar.mkv"]
    assert "no audio stream with a known language" in reasons["silent.mp4"]


def test_parallel_build_matches_serial(toy_dataset):
    serial = read_index(toy_dataset.index)
    parallel = build_index(toy_dataset.root, workers=2)
    pd.testing.assert_frame_equal(parallel, serial)


def test_the_streamed_index_is_the_dataframes_a_row_group_of_whole_titles_at_a_time(toy_dataset, tmp_path):
    """`lssd index` writes IndexedTitles a row group at a time (memory: one group's table); the file
    reads back as build_index's DataFrame written whole, whatever the group size."""
    import pyarrow.parquet as pq

    built = index_titles(toy_dataset.root)
    largest = max(len(t.starts) for t in built.titles)
    whole = read_index(toy_dataset.index)
    for rows in (1 << 20, largest, 1):
        path = built.write(tmp_path / f"{rows}.parquet", rows_per_group=rows)
        pd.testing.assert_frame_equal(read_index(path), whole)
        groups = [g.num_rows for g in (pq.ParquetFile(path).metadata.row_group(i)
                                       for i in range(pq.ParquetFile(path).metadata.num_row_groups))]
        assert sum(groups) == len(whole) and max(groups) <= max(rows, largest)
        assert len(groups) == {1 << 20: 1, 1: len(built.titles)}.get(rows, len(groups))  # whole titles per group
    assert built.shots == len(whole) and built.params == whole.attrs["params"]


def test_write_read_roundtrip_is_atomic(toy_dataset, tmp_path):
    df = read_index(toy_dataset.index)
    df.attrs["warnings"] = ["x.mkv: skipped, no audio stream"]
    path = write_index(df, tmp_path / "sub" / "index.parquet")
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.parquet"]
    back = read_index(path)
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs["warnings"] == ["x.mkv: skipped, no audio stream"]
    assert isinstance(back["audio_stream_index"].iloc[0][0], int)


def test_read_index_rebases_media_on_a_moved_root(toy_dataset, tmp_path):
    moved = shutil.copytree(toy_dataset.root, tmp_path / "elsewhere")
    df = read_index(toy_dataset.index, media_root=moved)
    assert df["media_path"].tolist() == [str(moved / t) for t in df["title_id"]]
    assert all(Path(p).is_file() for p in df["media_path"])


def test_read_index_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        read_index(tmp_path / "nope.parquet")
    (tmp_path / "text.parquet").write_text("hello")
    with pytest.raises(BadInputError, match="not a readable parquet"):
        read_index(tmp_path / "text.parquet")
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(BadInputError, match="not an lssd-shots/1 shot index"):
        read_index(tmp_path / "other.parquet")


def test_user_errors_are_one_line(tmp_path):
    with pytest.raises(BadInputError, match="not a directory"):
        build_index(tmp_path / "missing")
    with pytest.raises(BadInputError, match="min_shot"):
        build_index(tmp_path, min_shot=5.0, max_shot=3.0)
    with pytest.raises(BadInputError, match="unknown language code"):
        build_index(tmp_path, original_language={"a.mkv": "klingon"})
    (tmp_path / "map.json").write_text(json.dumps({"a.mkv": "ja", "b": "de"}))
    assert load_language_map(tmp_path / "map.json") == {"a.mkv": "jpn", "b": "deu"}
    (tmp_path / "map.csv").write_text("a.mkv\n")
    with pytest.raises(BadInputError, match="two columns"):
        load_language_map(tmp_path / "map.csv")
    assert build_index(tmp_path).empty
