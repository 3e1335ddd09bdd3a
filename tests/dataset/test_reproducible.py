"""Issue 20, done means 1: the same 3 clips built with 1 local worker, 2 local workers (other thread
counts, other run order) and Ray give byte-identical audio tracks, sidecars equal field for field (apart
from timestamps, run ids and timings) and equal manifest rows. The offline stack with real models runs:
Silero VAD, faster-whisper tiny.en, Apertium, espeak-ng, Rubber Band, WORLD, pyloudnorm, ffmpeg."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from lssd.cli import main
from lssd.dataset import manifest
from lssd.dataset.progress import LOGS
from lssd.dataset.reproducible import comparable_row, comparable_sidecar
from tests.dataset.conftest import SPEECH

# the offline stack, every model it has: the point is that real models reproduce, not the fast fakes
STACK = ["--langs", "es", "--source-lang", "en", "--no-qc"]


def audio_packets(path: Path) -> list[str]:
    """sha256 of each audio stream's encoded packets, in order: the tracks byte for byte."""
    import av

    digests: dict[int, hashlib._Hash] = {}
    with av.open(str(path)) as container:
        for packet in container.demux(*container.streams.audio):
            if packet.size:
                digests.setdefault(packet.stream.index, hashlib.sha256()).update(bytes(packet))
    return [digests[i].hexdigest() for i in sorted(digests)]


def snapshot(out: Path) -> dict[str, dict]:
    rows = {r["id"]: r for r in manifest.read(out)}
    got = {}
    for clip_id, row in rows.items():
        assert row["status"] == "done", row
        output = out / row["output"]
        got[clip_id] = {"row": comparable_row(row), "audio": audio_packets(output),
                        "sidecar": comparable_sidecar(json.loads((out / row["sidecar"]).read_text()),
                                                      str(out.resolve()))}
    return got


@pytest.fixture(scope="module")
def three_clips(tmp_path_factory, clip_bank) -> Path:
    root = tmp_path_factory.mktemp("three")
    for clip_id in SPEECH:
        shutil.copy(clip_bank / f"{clip_id}.mp4", root / f"{clip_id}.mp4")
    return root


@pytest.fixture(scope="module")
def one_worker(three_clips, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("w1") / "out"
    assert main(["build-dataset", str(three_clips), "-o", str(out), "--workers", "1", *STACK]) == 0
    return snapshot(out)


def assert_same(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert set(a) == set(b) and len(a) == 3
    for clip_id in a:
        assert a[clip_id]["audio"] == b[clip_id]["audio"], clip_id
        assert a[clip_id]["row"] == b[clip_id]["row"], clip_id
        left, right = a[clip_id]["sidecar"], b[clip_id]["sidecar"]
        for field in sorted(set(left) | set(right)):
            assert left.get(field) == right.get(field), (clip_id, field)


def test_two_local_workers_build_the_same_bytes(one_worker, three_clips, tmp_path):
    out = tmp_path / "w2"
    assert main(["build-dataset", str(three_clips), "-o", str(out), "--workers", "2", *STACK]) == 0
    built = snapshot(out)
    assert_same(one_worker, built)
    some = next(iter(built.values()))["sidecar"]
    assert some["stages"]["transcribe"]["backend"] == "faster-whisper"  # a real model took part


@pytest.mark.slow
def test_ray_builds_the_same_bytes(one_worker, three_clips, tmp_path, monkeypatch, capsys):
    """… and the embedded Ray cluster is lssd's own: session files in a temporary folder removed at the
    end, its token never written to ~/.ray and no warning about it, the actors' CPU in the summary."""
    pytest.importorskip("ray")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(key, raising=False)
    tmp = Path(tempfile.mkdtemp(prefix="lssd-t-", dir="/tmp"))  # short: Ray's socket paths must stay short
    monkeypatch.setenv("TMPDIR", str(tmp))  # where Ray would put its session files by default ($TMPDIR/ray)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    out = tmp_path / "ray"
    assert main(["build-dataset", str(three_clips), "-o", str(out), "--engine", "ray", "--workers", "2",
                 *STACK]) == 0
    assert_same(one_worker, snapshot(out))
    captured = capsys.readouterr()
    assert not (tmp / "ray").exists() and not list(tmp.glob("lssd-ray-*"))  # lssd's own folder, removed
    shutil.rmtree(tmp, ignore_errors=True)
    assert not (home / ".ray").exists() and "RAY_AUTH_TOKEN" not in os.environ
    log = (out / LOGS / "build.log").read_text()
    assert "Token authentication" not in captured.out + captured.err + log
    assert re.search(r"finished: 3/3 clips .* worker CPU \d+ s \((\d+) s in all, Ray actors with start-up\)",
                     captured.out), captured.out
    assert len(list((out / LOGS).glob("worker-*.log"))) == 2  # the actors' output, as local workers'


def test_only_the_real_volatile_places_are_ignored():
    """created, settings.threads and a stage record's key/output_id/seconds may differ; a content field
    of the same name anywhere else (a segment's `seconds`, a provenance `key`) is a real difference."""
    def sidecar(run: int, content: str) -> dict:
        return {"created": f"2026-01-0{run}", "settings": {"threads": run, "min_segment": 0.5},
                "stages": {"translate:es": {"key": f"k{run}", "output_id": f"o{run}", "seconds": run,
                                            "provenance": {"key": content, "threads": content}}},
                "segments": [{"id": 0, "seconds": content, "created": content}],
                "input": {"output_id": content}}

    assert comparable_sidecar(sidecar(1, "a")) == comparable_sidecar(sidecar(2, "a"))
    left, right = comparable_sidecar(sidecar(1, "a")), comparable_sidecar(sidecar(2, "b"))
    for field in ("stages", "segments", "input"):
        assert left[field] != right[field], field
    assert left["stages"]["translate:es"] == {"provenance": {"key": "a", "threads": "a"}}
    qc = {"status": "ok", "seconds": 1.0, "checks": {"seconds": 3}}
    row, other = comparable_row({"id": "c", "qc": json.dumps(qc)}), comparable_row(
        {"id": "c", "qc": json.dumps({**qc, "seconds": 2.0, "checks": {"seconds": 4}})})
    assert row["qc"] != other["qc"] and "seconds" not in row["qc"]
