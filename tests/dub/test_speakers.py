"""Speakers through the dub: the diarize stage, per-speaker TTS voices and VC references, the sidecar's
speakers table, per-speaker QC, and readers downstream (index, tiny training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lssd import sidecar as sidecars
from lssd.errors import BadInputError
from lssd.samples import make_conversation_clip

from .helpers import run_cli


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    return make_conversation_clip(tmp_path_factory.mktemp("talk") / "talk.mp4")


def test_diarize_stage_splits_the_two_turn_segment_and_records_the_speakers(conversation, tmp_path, capsys):
    work = tmp_path / "work"
    code, out = run_cli(["diarize", conversation.path, "-o", tmp_path, "--workdir", work,
                         "--background", conversation.background], capsys)
    assert code == 0, out
    transcript = json.loads((work / "diarize" / "transcript.json").read_text())
    before = json.loads((work / "transcribe" / "transcript.json").read_text())
    assert len(transcript["segments"]) > len(before["segments"])  # whisper joined two turns; split again
    assert [s["speaker"] for s in transcript["segments"]] == conversation.speakers
    table = json.loads((work / "diarize" / "speakers.json").read_text())["speakers"]
    assert [r["id"] for r in table] == ["S1", "S2"]
    low, high = (r["median_f0_hz"] for r in table)
    assert low < 120 < 180 < high  # the low man and the woman of the generator
    # a changed speaker count recomputes the diarize stage only
    code, out = run_cli(["diarize", conversation.path, "-o", tmp_path, "--workdir", work, "--speakers", "1",
                         "--background", conversation.background], capsys)
    assert code == 0, out
    done = json.loads((work / "transcribe" / "done.json").read_text())
    assert json.loads((work / "diarize" / "done.json").read_text())["speakers"] == 1
    assert done == json.loads((work / "transcribe" / "done.json").read_text())


def test_diarizer_none_is_one_speaker_and_pyannote_absent_is_one_sentence(conversation, tmp_path, capsys):
    work = tmp_path / "work"
    code, out = run_cli(["diarize", conversation.path, "-o", tmp_path, "--workdir", work, "--diarizer", "none",
                         "--background", conversation.background], capsys)
    assert code == 0, out
    segments = json.loads((work / "diarize" / "transcript.json").read_text())["segments"]
    assert {s["speaker"] for s in segments} == {"S1"}
    code, out = run_cli(["diarize", conversation.path, "-o", tmp_path, "--workdir", work,
                         "--diarizer", "pyannote"], capsys)
    assert code != 0
    assert "pyannote" in out and "lssd models pull" in out and "Traceback" not in out
    code, out = run_cli(["diarize", conversation.path, "--min-speakers", "3", "--max-speakers", "2"], capsys)
    assert code != 0 and "--min-speakers" in out and "Traceback" not in out


def test_espeak_gives_each_speaker_its_own_variant_by_pitch():
    from lssd.backends.espeak import EspeakSynthesizer, variant_f0
    from lssd.languages import get_language

    es = get_language("es")
    speakers = [{"id": "S1", "speech_s": 5.0, "median_f0_hz": 85.0}, {"id": "S2", "speech_s": 4.0, "median_f0_hz": 240.0},
                {"id": "S3", "speech_s": 3.0, "median_f0_hz": 110.0}]
    voices = EspeakSynthesizer().choose_voices(es, speakers)
    assert len(set(voices.values())) == 3
    assert voices["S2"].startswith("f") and voices["S1"].startswith("m") and voices["S3"].startswith("m")
    assert variant_f0(voices["S1"]) < variant_f0(voices["S3"])  # the lower man, the lower voice
    assert EspeakSynthesizer("m3").choose_voices(es, speakers) == {"S1": "m3", "S2": "m3", "S3": "m3"}


def test_sidecar_rejects_a_segment_speaker_missing_from_the_table():
    data = {"format": sidecars.FORMAT, "tracks": [], "speakers": [{"id": "S1"}],
            "segments": [{"id": 0, "speaker": "S1"}, {"id": 1, "speaker": None}]}
    assert sidecars.validate(data, "x") is data
    data["segments"].append({"id": 2, "speaker": "S9"})
    with pytest.raises(BadInputError, match="speaker 'S9'"):
        sidecars.validate(data, "x")
    with pytest.raises(BadInputError, match="'speakers'"):
        sidecars.validate({"format": sidecars.FORMAT, "tracks": [], "speakers": ["S1"]}, "x")


def test_qc_spans_by_speaker_follow_the_placements():
    from lssd.qc.speakers import spans_by_speaker

    sc = {"segments": [
        {"id": 0, "start": 0.0, "end": 1.0, "speaker": "S1", "dubbed": True, "targets": {"spa": {"start": 0.1, "end": 0.9}}},
        {"id": 1, "start": 1.2, "end": 2.0, "speaker": "S2", "dubbed": True, "targets": {"spa": {"placed": False}}},
        {"id": 2, "start": 2.2, "end": 3.0, "speaker": "S2", "dubbed": True, "targets": {"spa": {"start": 2.2, "end": 3.1}}}]}
    orig, dub = spans_by_speaker(sc, "spa")
    assert orig == {"S1": [(0.0, 1.0)], "S2": [(2.2, 3.0)]} and dub == {"S1": [(0.1, 0.9)], "S2": [(2.2, 3.1)]}


@pytest.mark.slow
def test_a_two_speaker_dub_keeps_who_speaks(conversation, tmp_path, capsys):
    """Done-means 2 and 3: one speaker per segment, two TTS voices, speaker A's dub nearer original A than
    B (and vice versa) with F0 within 1.5 semitones, in es and fr; QC prints it; index and training read it."""
    out_file = tmp_path / "talk.dub.mkv"
    code, out = run_cli(["dub", conversation.path, "--langs", "es,fr", "-o", out_file, "--workdir", tmp_path / "w",
                         "--background", conversation.background, "--vc", "world", "--srt-speakers"], capsys)
    assert code == 0, out
    srt = (tmp_path / "talk.dub.spa.srt").read_text()
    assert "[S1] " in srt and "[S2] " in srt
    sc = sidecars.read(out_file)
    assert [s["speaker"] for s in sc["segments"]] == conversation.speakers
    table = {r["id"]: r for r in sc["speakers"]}
    assert set(table) == {"S1", "S2"}
    for iso in ("spa", "fra"):
        assert table["S1"]["voices"][iso] != table["S2"]["voices"][iso]

    code, out = run_cli(["qc", out_file, "--json", tmp_path / "qc.json"], capsys)
    assert code == 0, out
    assert "per speaker" in out and "consistency" in out
    report = json.loads((tmp_path / "qc.json").read_text())
    for t in report["tracks"]:
        rows = {r["id"]: r for r in t["speakers"]["speakers"]}
        for who in ("S1", "S2"):
            assert rows[who]["closest"] == who, (t["language"], rows)
            assert abs(rows[who]["f0"]) <= 1.5, (t["language"], rows)
        assert t["speakers"]["consistency"] == 1.0

    from lssd.train.index import build_index, read_index, write_index
    from lssd.train.loop import train
    from lssd.train.recipes import load_recipe

    path = write_index(build_index(out_file.parent), tmp_path / "shots.parquet")
    assert len(read_index(path)) >= 1
    tiny = ["optim.steps=2", "train.ckpt_every=2", "data.batch_size=2", "data.group_size=1", "train.log_every=1"]
    records = train(load_recipe("tiny", tiny), path, tmp_path / "run", progress=False)
    assert records and all(np.isfinite(r["loss"]) for r in records if "loss" in r)
