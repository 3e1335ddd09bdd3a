"""Counterfactual controls end to end: extra tagged, titled tracks that reuse the dub's stage outputs, a
sidecar kind of their own, kept out of the index's language tracks, and usable as a_s by a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lssd import sidecar as sidecars
from lssd.config import DubConfig
from lssd.dub.pipeline import Pipeline
from lssd.errors import BadInputError
from lssd.languages import get_language
from lssd.media import probe

from .helpers import run_cli, sidecar, track

CONTROLS = "resynth,novc,natural,background"
TITLES = ["English (original)", "Spanish (synthetic dub)", "English (control: re-synthesized)",
          "Spanish (control: dub without voice conversion)", "Spanish (control: dub at natural timing)",
          "English (control: background only)"]


@pytest.fixture(scope="module")
def controlled(short_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("controls")
    cfg = DubConfig(langs=(get_language("es"),), background=short_clip.background, controls=CONTROLS)
    result = Pipeline(cfg).run(short_clip.path, out / "media" / "boats.dub.mkv", workdir=out / "work")
    return short_clip, result


def test_five_tracks_besides_the_original_tagged_and_titled(controlled):
    _, result = controlled
    audio = probe(result.output).audio
    assert [s.title for s in audio] == TITLES
    # a control is tagged with the source language, so no tag-reading tool takes it for a Spanish dub
    assert [s.language for s in audio] == ["eng", "spa", "eng", "eng", "eng", "eng"]
    meta = sidecar(result.output)
    assert [t["kind"] for t in meta["tracks"]] == ["original", "synthetic-dub"] + ["control"] * 4
    assert [sidecars.control_id(t) for t in meta["tracks"][2:]] == ["resynth", "novc:spa", "natural:spa",
                                                                     "background"]
    assert [t["spoken_language"] for t in meta["tracks"][2:]] == ["eng", "spa", "spa", None]
    assert [sidecars.track_label(t) for t in meta["tracks"][2:]] == ["control"] * 4
    seg = meta["segments"][0]
    assert seg["controls"]["resynth"]["text"] == seg["text"]  # same words as the original
    assert seg["controls"]["novc:spa"]["text"] == seg["targets"]["spa"]["text"]
    assert seg["controls"]["natural:spa"]["stretch_ratio"] == 1.0


def test_controls_reuse_the_separation_transcript_and_dub_stages(controlled, short_clip, tmp_path):
    _, result = controlled
    ran = result.ran
    assert ran.count("separate") == 1 and ran.count("transcribe") == 1
    assert not [r for r in ran if r.startswith(("separate:", "transcribe:"))]
    # novc and natural take the dub's translation and synthesis; novc its alignment too
    assert [r for r in ran if r.endswith("+novc")] == ["voice-convert:spa+novc", "match-loudness:spa+novc"]
    assert [r for r in ran if r.endswith("+natural")] == ["align:spa+natural", "voice-convert:spa+natural",
                                                           "match-loudness:spa+natural"]
    assert meta_stage(result, "voice-convert:spa+novc")["backend"] == "none"
    # a second run computes nothing
    cfg = DubConfig(langs=(get_language("es"),), background=short_clip.background, controls=CONTROLS)
    again = Pipeline(cfg).run(short_clip.path, result.output, workdir=result.workdir)
    assert again.ran == []


def meta_stage(result, name: str) -> dict:
    return sidecar(result.output)["stages"][name]


def test_each_control_sounds_like_what_it_claims(controlled):
    clip, result = controlled
    tracks = {i: track(result.output, s.index)[0] for i, s in enumerate(probe(result.output).audio)}
    n = min(t.size for t in tracks.values())
    from lssd.media import read_audio

    bed = read_audio(result.workdir / "separate" / "background.wav", 48_000)[0][:n]
    # the background control is the separate stage's background itself (losslessly: FLAC)
    assert np.abs(tracks[5][:n] - bed).max() < 1e-3
    # the speech controls differ from the dub and from each other where the speech is
    a, b = int(0.6 * 48_000), int(3.0 * 48_000)
    for i, j in ((1, 3), (1, 4), (2, 1)):
        assert not np.allclose(tracks[i][a:b], tracks[j][a:b], atol=1e-3), (i, j)


def test_cli_option_shared_and_checked(capsys, short_clip, tmp_path):
    code, text = run_cli(["dub", short_clip.path, "--langs", "es", "--controls", "resynth,louder",
                          "-o", tmp_path / "x.mkv"], capsys)
    assert code != 0 and "--controls louder: unknown" in text and "Traceback" not in text
    code, text = run_cli(["build-dataset", "--help"], capsys)
    assert "--controls" in text


def test_sidecar_refuses_a_control_that_passes_for_a_dub(controlled, tmp_path):
    _, result = controlled
    meta = sidecar(result.output)
    bad = json.loads(json.dumps(meta))
    bad["tracks"][2]["kind"] = sidecars.KIND_SYNTHETIC_DUB
    with pytest.raises(BadInputError, match="names control 'resynth' but is of kind"):
        sidecars.validate(bad, "x")
    bad = json.loads(json.dumps(meta))
    bad["tracks"][3]["control"] = "louder"
    with pytest.raises(BadInputError, match="unknown control 'louder'"):
        sidecars.validate(bad, "x")


def test_index_labels_controls_and_a_recipe_takes_resynth_as_a_s(controlled, tmp_path):
    from lssd.train.build import select_shots
    from lssd.train.data import QuadrupletDataset
    from lssd.train.index import build_index, read_index, write_index
    from lssd.train.loop import train
    from lssd.train.recipes import load_recipe

    _, result = controlled
    path = write_index(build_index(result.output.parent), tmp_path / "shots.parquet")
    df = read_index(path)
    assert len(df) >= 1
    row = df.iloc[0]
    assert row["audio_languages"] == ["eng", "spa"]  # the controls are never language (dub) tracks
    assert row["track_kinds"] == ["original", "synthetic"]
    assert row["control_tracks"] == ["resynth", "novc:spa", "natural:spa", "background"]
    assert row["control_stream_index"] == [2, 3, 4, 5]

    tiny = ["data.control=resynth", "optim.steps=2", "train.ckpt_every=2", "data.batch_size=2",
            "data.group_size=1", "train.log_every=1"]
    shots = select_shots(load_recipe("tiny", tiny), path)
    assert shots["audio_languages"].iloc[0] == ["eng", "control:resynth"]
    assert shots["audio_stream_index"].iloc[0] == [0, 2]
    item = QuadrupletDataset(shots, "random")[0]
    assert (item["lang_p"], item["lang_s"]) == ("eng", "control:resynth")
    records = train(load_recipe("tiny", tiny), path, tmp_path / "run", progress=False)
    assert records and all(np.isfinite(r["loss"]) for r in records if "loss" in r)
    assert (tmp_path / "run").is_dir()
