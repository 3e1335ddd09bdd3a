"""Truthful dubs: a non-English source is detected (never assumed English), tagged and recorded; what
--strict will refuse is refused before any stage runs."""

from __future__ import annotations

import json

import pytest

from lssd.media import probe
from lssd.samples import make_sample_clip

from .helpers import run_cli
from .test_bad_input import _assert_one_line_error

FRENCH = ((0.6, "Bonjour à tous, je m'appelle Anne et j'aime lire des livres."),
          (5.0, "Merci beaucoup pour votre aide, à demain."))


@pytest.fixture(scope="module")
def french_clip(tmp_path_factory):
    return make_sample_clip(tmp_path_factory.mktemp("fr") / "bonjour.mp4", duration=9.0, lines=FRENCH, voice="fr")


def test_french_source_is_detected_tagged_and_recorded(french_clip, tmp_path, capsys):
    out = tmp_path / "bonjour.dub.mkv"
    code, log = run_cli(["dub", french_clip.path, "--langs", "es", "-o", out, "--background", french_clip.background],
                        capsys)
    assert code == 0, log
    meta = json.loads(out.with_name("bonjour.dub.lssd.json").read_text())
    assert meta["source_language"] == "fra"
    detection = meta["source_language_detection"]
    assert detection["language"] == "fra" and detection["model"] == "faster-whisper-base"
    assert meta["stages"]["transcribe"]["provenance"]["model"].startswith("faster-whisper-base")
    text = " ".join(s["text"] for s in meta["segments"]).lower()
    assert "merci" in text and "bonjour" in text, text
    original = [t for t in meta["tracks"] if t["kind"] == "original"][0]
    assert original["language"] == "fra" and "French" in original["title"]
    assert probe(out).audio[0].language == "fra"
    spanish = [t for t in meta["tracks"] if t["language"] == "spa"][0]
    assert spanish["is_translation"] and spanish["text_kind"] == "translation"  # Apertium fr→es, a real pair


def test_strict_refuses_a_pseudo_text_language_before_any_stage(french_clip, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, log = run_cli(["dub", french_clip.path, "--langs", "es,ja", "-o", out_dir / "x.mkv", "--strict",
                         "--background", french_clip.background], capsys)
    _assert_one_line_error(code, log, "--strict refuses Japanese")
    assert code == 4
    assert not (out_dir / ".lssd-work").exists()  # no stage ran: no work directory at all
