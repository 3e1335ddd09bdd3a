"""Issue 19, the trainer's cases: a run directory with checkpoints is never replaced silently, ``lssd
index -o`` replaces only its own earlier index and says so in one line when it cannot write or has
nothing to write, and an index with wrong column types is refused naming the column."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lssd.cli import main
from lssd.errors import BadInputError
from lssd.train.index import is_index, read_index


def run(args: list, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def one_line(log: str) -> None:
    assert log.strip().count("\n") == 0 and "Traceback" not in log, log


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_train_refuses_a_run_directory_that_holds_checkpoints(tmp_path, capsys):
    ckpt = tmp_path / "run" / "checkpoints" / "step_00000010.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"an earlier run's weights")
    before = md5(ckpt)
    code, log = run(["train", "-r", "a1", "-i", tmp_path / "shots.parquet", "-o", tmp_path / "run"], capsys)
    assert code == 2 and "--resume" in log and "--overwrite" in log and "step_00000010.pt" in log
    one_line(log)
    assert md5(ckpt) == before


def test_index_output_replaces_only_its_own_index(toy_dataset, tmp_path, capsys):
    notes = tmp_path / "notes.parquet"
    notes.write_text("someone else's file")
    code, log = run(["index", toy_dataset.root, "-o", notes], capsys)
    assert code == 2 and "was not written by lssd" in log and "--overwrite" in log
    one_line(log)
    assert notes.read_text() == "someone else's file"
    assert is_index(toy_dataset.index) and not is_index(notes)


def test_index_into_a_read_only_folder_is_one_line(read_only_dir, tmp_path, capsys):
    code, log = run(["index", tmp_path, "-o", read_only_dir / "shots.parquet"], capsys)
    assert code == 2 and "Read-only file system" in log
    one_line(log)


def test_index_of_one_long_shot_per_title_says_why_and_fails(tmp_path, capsys):
    root = tmp_path / "media"
    root.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=blue:s=64x36:r=10:d=14",
                    "-f", "lavfi", "-i", "sine=f=440:d=14", "-metadata:s:a:0", "language=eng", "-shortest",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(root / "still.mkv")], check=True)
    out = tmp_path / "shots.parquet"
    code, log = run(["index", root, "-o", out], capsys)
    assert code == 2 and "--split-long" in log, log
    assert log.strip().splitlines()[-1].startswith("error: no shot of 3-12 s") and "Traceback" not in log
    assert not out.exists()


@pytest.mark.parametrize("column,values", [("audio_languages", 7), ("shot_start", "x")])
def test_an_index_with_wrong_column_types_is_refused_naming_the_column(toy_dataset, tmp_path, column, values,
                                                                       capsys):
    table = pq.read_table(toy_dataset.index)
    i = table.column_names.index(column)
    table = table.set_column(i, column, pa.array([values] * len(table)))
    bad = tmp_path / "bad.parquet"
    pq.write_table(table, bad)
    with pytest.raises(BadInputError, match=f"column '{column}'"):
        read_index(bad)
    code, log = run(["train", "-r", "a1", "-i", bad, "-o", tmp_path / "run"], capsys)
    assert code == 2 and column in log, log
    assert "Traceback" not in log and "AttributeError" not in log


def test_a_clip_without_speech_is_indexed_with_its_original_track(tmp_path, capsys):
    """A no-speech dub (source language ``und``) keeps its original audio as training audio."""
    import json

    from lssd import sidecar

    root = tmp_path / "media"
    root.mkdir()
    clip = root / "quiet.dub.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=10:d=6",
                    "-f", "lavfi", "-i", "anoisesrc=d=6:a=0.05", "-f", "lavfi", "-i", "anoisesrc=d=6:a=0.05",
                    "-map", "0:v", "-map", "1:a", "-map", "2:a", "-metadata:s:a:0", "language=und",
                    "-metadata:s:a:1", "language=spa", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                    str(clip)], check=True)
    sidecar.path_for(clip).write_text(json.dumps({
        "format": sidecar.FORMAT, "output": clip.name, "source_language": "und", "segments": [],
        "tracks": [sidecar.track_entry(0, "und", sidecar.KIND_ORIGINAL, "Original (original)"),
                   sidecar.track_entry(1, "spa", sidecar.KIND_SYNTHETIC_DUB, "Spanish (synthetic dub)")]}))
    out = tmp_path / "shots.parquet"
    code, log = run(["index", root, "-o", out], capsys)
    assert code == 0, log
    row = read_index(out).iloc[0]
    assert row["original_language"] == "und" and row["audio_languages"] == ["und", "spa"]
    assert row["track_kinds"][0] == "original"
