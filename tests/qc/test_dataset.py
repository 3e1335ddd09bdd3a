"""The dataset report over a manifest of the dataset builder's shape (id, status, output, sidecar, qc)."""

from __future__ import annotations

import json

import pandas as pd

from lssd.cli import main
from lssd.qc import qc_summary, synthetic


def test_manifest_report_histograms_and_passing_ids(tmp_path, capsys):
    good = synthetic.build(tmp_path / "videos" / "good.mkv", cases=["good"])
    late = synthetic.build(tmp_path / "late.mkv", cases=["late"])
    summary = qc_summary(good.path)
    assert summary["status"] == "pass" and summary["cost"] == "cheap"
    assert summary["tracks"][0]["values"]["timing"] > 0.95
    rows = [
        {"id": "good", "status": "done", "output": "videos/good.mkv", "sidecar": "videos/good.lssd.json",
         "qc": json.dumps(summary)},  # what the builder stores
        {"id": "faulty", "status": "done", "output": str(late.path), "sidecar": None, "qc": None},  # measured here
        {"id": "broken", "status": "failed", "output": None, "sidecar": None, "qc": None},  # not a clip
    ]
    manifest = tmp_path / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(manifest)
    ids, png, out = tmp_path / "pass.txt", tmp_path / "hist.png", tmp_path / "report.json"
    code = main(["qc", "--manifest", str(manifest), "--figure", str(png), "--passing", str(ids), "--json", str(out),
                 "--fail-on", "fail"])
    assert code == 1
    assert ids.read_text() == "good\n"
    assert png.read_bytes()[:4] == b"\x89PNG"
    report = json.loads(out.read_text())
    assert report["clips"] == 2 and report["status"]["fail"] == 1
    assert report["worst"][0]["id"] == "faulty" and "spa:timing" in report["worst"][0]["problems"]
    assert report["metrics"]["timing"]["n"] == 2
    assert "QC over 2 clips" in capsys.readouterr().out


def test_manifest_without_columns_is_one_line(tmp_path, capsys):
    manifest = tmp_path / "m.parquet"
    pd.DataFrame([{"name": "x"}]).to_parquet(manifest)
    assert main(["qc", "--manifest", str(manifest)]) == 2
    assert "has no id, status, output column(s)" in capsys.readouterr().err
