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


GERMAN = ((0.6, "Die Boote kommen vor dem Abendsturm in den Hafen zurück."),
          (5.5, "Vielen Dank für Ihre Hilfe, bis morgen."))


@pytest.fixture(scope="module")
def german_clip(tmp_path_factory):
    return make_sample_clip(tmp_path_factory.mktemp("de") / "hafen.mp4", duration=10.0, lines=GERMAN, voice="de")


def test_german_source_gets_real_translations_through_whisper_english(german_clip, tmp_path, capsys):
    """No Apertium pair leaves German: Whisper's translate task makes English from the German speech, and
    Apertium takes it to es (eng-spa) and fr (eng-spa, es-fr). Both steps are in the sidecar."""
    out = tmp_path / "hafen.dub.mkv"
    code, log = run_cli(["dub", german_clip.path, "--langs", "es,fr", "-o", out, "--background",
                         german_clip.background], capsys)
    assert code == 0, log
    meta = json.loads(out.with_name("hafen.dub.lssd.json").read_text())
    assert meta["source_language"] == "deu"
    assert [(t["language"], t["text_kind"]) for t in meta["tracks"][1:]] == [("spa", "translation"),
                                                                             ("fra", "translation")]
    for iso, words in (("spa", ("gracias", "ayuda")), ("fra", ("merci", "aide"))):
        stage = meta["stages"][f"translate:{iso}"]
        assert stage["backend"] == "whisper-apertium" and stage["is_translation"]
        steps = stage["provenance"]["steps"]
        assert [s["backend"] for s in steps] == ["faster-whisper", "apertium"]
        assert steps[0]["model"] == "faster-whisper-base" and steps[0]["settings"]["task"] == "translate"
        assert stage["provenance"]["settings"]["paths"][f"deu->{iso}"][0] == "whisper:deu->eng"
        text = " ".join(s["targets"][iso]["text"] for s in meta["segments"]).lower()
        assert all(w in text for w in words), text  # "Vielen Dank für Ihre Hilfe" → thanks, help
    pivot = meta["stages"]["translate:spa"]["provenance"]["settings"]["pivot_texts"]
    assert "thank you" in " ".join(pivot.values()).lower()
    assert "pseudo-text" not in log


def test_strict_names_the_real_source_and_every_refused_target(german_clip, tmp_path, capsys):
    code, log = run_cli(["dub", german_clip.path, "--langs", "es,ja,ko", "--strict", "--source-lang", "de",
                         "-o", tmp_path / "x.mkv", "--background", german_clip.background], capsys)
    _assert_one_line_error(code, log, "--strict refuses Japanese and Korean from German")
    assert "from English to Japanese" in log and "from German to Korean" in log  # each backend's reason
    assert "from English" not in log.split(":", 2)[1]  # the headline names the real source
