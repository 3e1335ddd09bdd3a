"""`lssd qc` on one file: table, JSON, figure, exit codes, no sidecar, bad input."""

from __future__ import annotations

import json
import shutil

from lssd.cli import main
from lssd.qc.figure import window_of
from lssd.samples import make_sample_clip


def test_table_json_figure_and_fail_on(faulty_dubs, tmp_path, capsys):
    out_json, png = tmp_path / "qc.json", tmp_path / "fig.png"
    tracks = ["--track", str(faulty_dubs.track("good")), "--track", str(faulty_dubs.track("late"))]
    code = main(["qc", str(faulty_dubs.path), "--cheap", *tracks, "--json", str(out_json), "--figure", str(png),
                 "--window", "4", "--fail-on", "fail"])
    assert code == 1  # the late track fails timing
    table = capsys.readouterr().out
    assert "late" in table and "timing" in table and "fail" in table
    report = json.loads(out_json.read_text())
    assert [t["status"] for t in report["tracks"]] == ["pass", "fail"]
    assert report["sidecar"].endswith(".lssd.json")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    good = ["--track", str(faulty_dubs.track("good"))]
    assert main(["qc", str(faulty_dubs.path), "--cheap", *good, "--fail-on", "warn"]) == 0


def test_without_sidecar_uses_what_needs_none(faulty_dubs, tmp_path, capsys):
    bare = shutil.copy(faulty_dubs.path, tmp_path / "film.mkv")
    code = main(["qc", str(bare), "--cheap", "--track", str(faulty_dubs.track("leak")), "--json", "-"])
    assert code == 0  # no --fail-on: QC results never set the exit code
    report = json.loads(capsys.readouterr().out)
    metrics = report["tracks"][0]["metrics"]
    assert report["sidecar"] is None and "stretch" not in metrics and "text" not in metrics
    assert metrics["leakage"]["status"] == "fail"


def test_bad_input_is_one_line(tmp_path, capsys):
    clip = make_sample_clip(tmp_path / "one.mkv", duration=2.0, lines=())
    assert main(["qc", str(clip.path)]) == 2
    assert main(["qc", str(clip.path), "--fail-on", "maybe"]) == 2
    assert main(["qc", str(clip.path), "--threshold", "timing=high"]) == 2
    err = capsys.readouterr().err
    assert "1 audio track(s)" in err and "--fail-on takes warn or fail" in err and "NAME=PASS,WARN" in err


def test_window_is_the_middle():
    assert window_of(30.0, 10) == (10.0, 20.0)
    assert window_of(6.0, 10) == (0.0, 6.0)
