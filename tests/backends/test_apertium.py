"""Apertium: real rule-based MT, direct and pivoted, one call per hop with the segment count preserved."""

from __future__ import annotations

import pytest

from lssd.backends import apertium
from lssd.backends.apertium import ApertiumTranslator, _check, find_path, translate_texts
from lssd.config import DubConfig
from lssd.segments import KIND_TRANSLATION, Segment, Transcript
from lssd.errors import BadInputError
from lssd.languages import get_language

from .conftest import need


@pytest.fixture(autouse=True)
def _apertium():
    need("apertium")


def _transcript(*texts: str) -> Transcript:
    return Transcript("eng", [Segment(i, 2.0 * i, 2.0 * i + 1.5, t) for i, t in enumerate(texts)])


def test_paths_over_installed_modes():
    assert find_path("eng", "spa") == ["eng-spa"]
    assert find_path("eng", "fra") == ["eng-spa", "es-fr"]
    assert find_path("eng", "ita") == ["eng-spa", "spa-ita"]
    assert find_path("eng", "por") == ["eng-spa", "es-pt"]
    assert find_path("eng", "cat") == ["eng-cat"]
    assert find_path("eng", "jpn") is None


def test_english_to_spanish():
    result = ApertiumTranslator().translate(_transcript("The cat eats fish.", "My house is very big."),
                                            get_language("es"), None, 48_000)
    assert result.kind == KIND_TRANSLATION
    assert result.texts == {0: "El gato come pez.", 1: "Mi casa es muy grande."}


def test_provenance_names_this_translation_only_not_earlier_ones():
    """The engine lives for the process: a worker's sidecar for a French dub once also listed the
    Spanish and Catalan paths of earlier clips (the sidecar depended on which worker took which clip)."""
    translator = ApertiumTranslator()
    for lang in ("es", "ca", "fr"):
        translator.translate(_transcript("The cat eats fish."), get_language(lang), None, 48_000)
    provenance = translator.provenance()
    assert provenance["settings"]["paths"] == {"eng->fra": ["eng-spa", "es-fr"]}
    assert "cat" not in (provenance["model"] or "")


def test_english_to_french_through_spanish_keeps_five_segments_with_empty_ones(monkeypatch):
    calls = []
    run = apertium._run
    monkeypatch.setattr(apertium, "_run", lambda mode, text: calls.append(mode) or run(mode, text))
    translator = ApertiumTranslator()
    texts = ("The cat eats fish.", "", "My house is very big", "   ", "Where is the\n\ntrain station?")
    result = translator.translate(_transcript(*texts), get_language("fr"), None, 48_000)
    assert calls == ["eng-spa", "es-fr"]  # one call per hop for the whole clip
    assert list(result.texts) == [0, 1, 2, 3, 4]
    assert result.texts[0] == "Le chat mange poisson."
    assert result.texts[2] == "Ma maison est très grande"
    assert result.texts[1] == result.texts[3] == ""
    assert "train" in result.texts[4] and "\n" not in result.texts[4]
    prov = translator.provenance()
    assert prov["settings"]["paths"] == {"eng->fra": ["eng-spa", "es-fr"]}
    assert "apertium-eng-spa" in prov["model"] and prov["library"].startswith("Apertium 3.")


def test_unknown_word_marks_are_removed():
    assert translate_texts(["Zorblax eats fish."], "eng-spa") == ["Zorblax Come pez."]
    assert apertium._MARK.sub("", "#comer @gato *Zorblax e@mail #1") == "comer gato Zorblax e@mail 1"


def test_checks(monkeypatch):
    es, de = get_language("es"), get_language("de")
    assert _check(DubConfig(langs=[], source_language="eng"), es) is None
    assert "from English to German" in _check(DubConfig(langs=[], source_language="eng"), de)
    assert "unknown" in _check(DubConfig(langs=[], source_language=None), es)
    assert "already Spanish" in _check(DubConfig(langs=[], source_language="spa"), es)
    monkeypatch.setattr(apertium.shutil, "which", lambda name: None)
    assert "./install.sh" in _check(DubConfig(langs=[], source_language="eng"), es)


def test_a_transcript_without_text_is_refused():
    with pytest.raises(BadInputError, match="no text"):
        ApertiumTranslator().translate(_transcript("", " "), get_language("es"), None, 48_000)
