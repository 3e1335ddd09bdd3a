"""Issue 9, done means 1, 2 (re-run) and 5: the mini LVU builds into LVU-M, a re-run recomputes nothing,
the output indexes and trains, and the Ray engine gives the same manifest and outputs as the local pool."""

from __future__ import annotations

import filecmp
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from lssd import sidecar
from lssd.cli import main
from lssd.dataset import manifest
from lssd.media import probe
from tests.dataset.conftest import FAST, MiniLvu, make_mini_lvu


@dataclass
class Built:
    lvu: MiniLvu
    out: Path
    code: int
    log: str


def build(lvu: MiniLvu, out: Path, *extra: str) -> int:
    return main(["build-dataset", str(lvu.root), "-o", str(out), "--langs", "es,fr", *FAST, *extra])


@pytest.fixture(scope="module")
def built(tmp_path_factory, clip_bank) -> Built:
    root = tmp_path_factory.mktemp("mini")
    lvu = make_mini_lvu(root / "lvu", clips_from=clip_bank)
    out = root / "lvu-m"
    code = build(lvu, out, "--workers", "2")
    return Built(lvu, out, code, "")


def rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in manifest.read(out / manifest.PARQUET)}


def test_mini_lvu_builds_into_lvu_m(built):
    assert built.code == 1  # the corrupt clip failed
    got = rows(built.out)
    assert set(got) == set(built.lvu.ids)
    for vid in built.lvu.speech:
        row = got[vid]
        assert row["status"] == "done", row
        assert row["output"] == f"videos/{vid}.mkv" and row["sidecar"] == f"videos/{vid}.lssd.json"
        assert row["source_language"] == "eng" and row["languages"] == ["spa", "fra"]
        assert row["backends"]["separate"] == "dsp" and row["backends"]["translate:spa"] == "pseudo"
        assert set(row["stage_seconds"]) >= {"separate", "transcribe", "remux"}
        assert row["duration"] == pytest.approx(built.lvu.speech[vid][0], abs=0.1)
        qc = json.loads(row["qc"])  # the cheap QC summary, recorded as each clip finishes
        assert qc["cost"] == "cheap" and [t["language"] for t in qc["tracks"]] == ["spa", "fra"]
        assert all("timing" in t["values"] for t in qc["tracks"])
        assert row["speakers"] == 1  # the diarize stage's count, carried into the manifest
    assert got["Aa0_speech1"]["tasks"] == ["genre", "scene"] and got["Aa0_speech1"]["splits"] == ["train", "val"]
    assert got[built.lvu.missing]["status"] == "missing" and got[built.lvu.missing]["output"] == ""
    failed = got[built.lvu.corrupt]
    assert failed["status"] == "failed" and "cannot read" in failed["reason"] and "\n" not in failed["reason"]
    jsonl = {r["id"]: r for r in manifest.read(built.out / manifest.JSONL)}
    assert {k: v["status"] for k, v in jsonl.items()} == {k: v["status"] for k, v in got.items()}


def test_outputs_are_tagged_multitrack_containers_with_sidecars(built):
    for vid in built.lvu.speech:  # '-Bb1speech2' starts with a dash: every tool must have coped
        output = built.out / "videos" / f"{vid}.mkv"
        audio = probe(output).audio
        assert [s.language for s in audio] == ["eng", "spa", "fra"]
        assert audio[1].title.startswith("Spanish (synthetic dub") and audio[2].title.startswith("French")
        meta = sidecar.read(output)
        assert [t["kind"] for t in meta["tracks"]] == ["original", "synthetic-dub", "synthetic-dub"]
        assert (built.out / "videos" / f"{vid}.spa.srt").exists()


def test_release_copied_card_written_nothing_left_behind(built):
    src, dest = built.lvu.root / "lvu_1.0", built.out / "lvu_1.0"
    for path in src.rglob("*.csv"):
        assert filecmp.cmp(path, dest / path.relative_to(src), shallow=False)
    assert sorted(p.relative_to(dest) for p in dest.rglob("*")) == sorted(p.relative_to(src) for p in src.rglob("*"))
    card = (built.out / "README.md").read_text()
    assert "| done | 3 |" in card and "| missing | 1 |" in card and "| failed | 1 |" in card
    assert "lssd build-dataset" in card and "--langs es,fr" in card and "not a translation" in card
    assert "silero_vad.onnx" in card  # the model hashes used
    leftovers = [p for p in built.out.rglob("*") if p.suffix == ".lock" or "lssd-tmp" in p.name]
    assert not leftovers and not (built.out / ".lssd-work").exists()


def test_rerun_recomputes_nothing(built):
    outputs = sorted(p for p in (built.out / "videos").iterdir())
    before = {p: p.stat().st_mtime_ns for p in outputs}
    lines = (built.out / manifest.JSONL).read_text().count("\n")
    assert build(built.lvu, built.out, "--workers", "1") == 1
    assert {p: p.stat().st_mtime_ns for p in sorted((built.out / "videos").iterdir())} == before
    assert (built.out / manifest.JSONL).read_text().count("\n") == lines  # nothing new to say


def test_output_indexes(built, tmp_path):
    index = tmp_path / "shots.parquet"
    assert main(["index", str(built.out / "videos"), "--out", str(index), "--min-shot", "1"]) == 0
    import pandas as pd

    df = pd.read_parquet(index)
    assert df["title_id"].nunique() == 3
    assert all(list(langs) == ["eng", "spa", "fra"] for langs in df["audio_languages"])
    assert all(list(flags) == [False, True, True] for flags in df["is_synthetic"])


@pytest.mark.slow
def test_output_trains_with_the_tiny_recipe(built, tmp_path):
    index = tmp_path / "shots.parquet"
    assert main(["index", str(built.out / "videos"), "--out", str(index), "--min-shot", "1"]) == 0
    assert main(["train", "--recipe", "tiny", "--index", str(index), "--out", str(tmp_path / "run"),
                 "--set", "optim.steps=2", "--set", "data.batch_size=2", "--set", "data.group_size=1",
                 "--no-progress"]) == 0


def _comparable(row: dict) -> dict:
    keep = ("id", "tasks", "splits", "status", "source_language", "languages", "backends", "output", "sidecar",
            "models", "licences", "duration")
    return {k: row[k] for k in keep} | {"reason": row["reason"].split(" (")[0]}


@pytest.mark.slow
def test_ray_engine_gives_the_same_manifest_and_outputs(built, tmp_path):
    out = tmp_path / "ray"
    assert build(built.lvu, out, "--engine", "ray", "--workers", "2") == 1
    local, ray = rows(built.out), rows(out)
    assert {k: _comparable(v) for k, v in ray.items()} == {k: _comparable(v) for k, v in local.items()}
    for vid in built.lvu.speech:
        a, b = built.out / "videos" / f"{vid}.mkv", out / "videos" / f"{vid}.mkv"
        assert [(s.language, s.title) for s in probe(a).audio] == [(s.language, s.title) for s in probe(b).audio]
        side_a, side_b = json.loads(sidecar.path_for(a).read_text()), json.loads(sidecar.path_for(b).read_text())
        assert side_a["tracks"] == side_b["tracks"] and len(side_a["segments"]) == len(side_b["segments"])


def test_card_lists_everything_a_dataset_user_needs(built, tmp_path):
    """Issue 20, done means 5: the card's sections, from the manifest of the mini build."""
    from lssd.dataset.card import SECTIONS

    card = (built.out / "README.md").read_text()
    for section in SECTIONS:
        assert f"\n{section}" in card, section
    assert "byte-identical audio tracks" in card  # what a rebuild guarantees
    # coverage per task and split (Aa0 and -Bb1 built, Dd3 missing in genre/train)
    assert "| genre | train | 3 | 2 | 0 | 1 | 0 | 66.7 % |" in card
    assert "| scene | train | 2 | 1 | 0 | 0 | 1 | 50.0 % |" in card
    assert f"- `{built.lvu.corrupt}`: cannot read" in card  # failed ids with reasons
    assert "Cheap QC of 3 of 3 built clips" in card and "| timing (" in card
    assert "- separate: dsp (3 clips) — **labelled fallback**" in card and "Labelled fallbacks used" in card
    assert "| silero-vad | `silero_vad.onnx` | `1a153a22" in card and "| MIT |" in card  # catalog + licence
    assert "- lssd: " in card and "- ffmpeg: ffmpeg version" in card and "- numpy: " in card


def test_pseudo_text_clips_never_pass_qc(built, tmp_path):
    ids = tmp_path / "passing.txt"
    main(["qc", "--manifest", str(built.out / manifest.PARQUET), "--passing", str(ids)])
    assert ids.read_text() == ""  # every dub of the mini build speaks pseudo-text
