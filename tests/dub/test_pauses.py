"""Don't speak into the speaker's pauses: a pause inside one segment stays silent in every dub."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from lssd.dub.align import keep_pauses, speech_runs
from lssd.media import SAMPLE_RATE, decode_audio
from lssd.samples import make_sample_clip, speak
from lssd.segments import Segment, Word

from .helpers import run_cli

SR = SAMPLE_RATE


def test_keep_pauses_silences_the_gap_and_keeps_the_ends():
    seg = Segment(0, 1.0, 3.0, "a b", [Word(1.0, 1.8, "a"), Word(2.2, 3.0, "b")])
    assert speech_runs(seg) == [(1.0, 1.8), (2.2, 3.0)]
    rng = np.random.default_rng(0)
    out = (0.3 * rng.standard_normal(2 * SR)).astype(np.float32)  # a dub that talks all the way through
    placed = keep_pauses(out, SR, seg)
    assert placed.size == out.size
    gap = placed[int(0.8 * SR) + 10 : int(1.2 * SR) - 10]
    assert np.max(np.abs(gap)) == 0.0
    assert np.mean(placed[: int(0.8 * SR)] ** 2) > 0.01 and np.mean(placed[int(1.2 * SR):] ** 2) > 0.01
    assert keep_pauses(out, SR, Segment(0, 1.0, 3.0, "", [])) is out  # no words: nothing known, untouched


def test_dub_is_silent_in_a_pause_inside_a_segment(tmp_path, capsys):
    first = speak("Good morning my dear friends")
    pause_start = 0.6 + first.size / SR
    lines = ((0.6, "Good morning my dear friends"), (pause_start + 0.45, "and welcome to the old harbour"))
    clip = make_sample_clip(tmp_path / "pause.mp4", duration=6.0, lines=lines)
    out = tmp_path / "pause.dub.mkv"
    code, log = run_cli(["dub", clip.path, "--langs", "fr", "-o", out, "--background", clip.background,
                         "--source-lang", "en"], capsys)
    assert code == 0, log
    meta = json.loads(out.with_name("pause.dub.lssd.json").read_text())
    spanning = [s for s in meta["segments"] if s["start"] < pause_start + 0.1 and s["end"] > pause_start + 0.35]
    assert spanning, meta["segments"]  # the pause is inside one segment: the case this test is about
    background, bg_sr = sf.read(clip.background, dtype="float32", always_2d=True)
    assert bg_sr == SR
    dub = decode_audio(out, SR, stream=2, timeline=True).mean(axis=0)  # streams: video, original, fra
    speech = dub[: background.shape[0]] - background.mean(axis=1)[: dub.size]
    inside = speech[int((pause_start + 0.08) * SR) : int((pause_start + 0.37) * SR)]
    around = speech[int(0.6 * SR) : int(pause_start * SR)]
    ratio_db = 10 * np.log10(np.mean(inside**2) / np.mean(around**2))
    assert ratio_db < -30, ratio_db
