"""SeamlessM4T v2 backends on a tiny random model installed in a temporary model store.

The model's words are noise; what is tested is everything around them: selection and its notices,
loading through the store, batching (one result per segment, ids kept, order independent), empty
texts, language mapping, sample rates and provenance.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lssd.backends import registry
from lssd.backends.seamless import BATCH_SIZE, SPEECH_SR
from lssd.config import DubConfig
from lssd.segments import KIND_TRANSLATION, Segment, Transcript
from lssd.errors import BadInputError, LssdError, MissingWeightsError
from lssd.languages import get_language
from lssd.store import get_store
from lssd.testing.tiny_models import build_seamless, write_catalog_entry

REPO = Path(__file__).resolve().parents[2]
TINY = "seamless-tiny"
SR = 48_000
SPA, FRA = get_language("es"), get_language("fr")
TEXTS = ["Thank you very much.", "Good morning, my name is Anna", "Hello", "", "Buenos días, me llamo Ana y me "
         "gusta leer libros.", "Thanks", "I like to read books", "Anna", "See you tomorrow, Anna!", "Yes",
         "Good night and sleep well"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The real catalog plus the tiny model (and a broken copy), imported like an air-gapped user would."""
    root = tmp_path_factory.mktemp("seamless")
    catalog = root / "catalog"
    shutil.copytree(REPO / "models", catalog)
    tiny = build_seamless(root / "tiny")
    broken = shutil.copytree(tiny, root / "broken")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file" * 100)
    for name, folder in ((TINY, tiny), ("seamless-broken", broken)):
        write_catalog_entry(catalog, name, folder, stage="translate", stages=["translate", "synthesize"],
                            library="transformers", licence="CC-BY-NC-4.0", non_commercial=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSSD_CATALOG_DIR", str(catalog))
        mp.setenv("LSSD_MODEL_DIR", str(root / "models"))
        s = get_store(echo=lambda msg: None)
        for name, folder in ((TINY, tiny), ("seamless-broken", broken)):
            s.import_(name, folder)
        yield s


def cfg(**kw) -> DubConfig:
    return DubConfig(langs=[SPA], **{"seamless_model": TINY, "source_language": "eng", **kw})


def transcript(texts: list[str], seconds: float = 1.0) -> Transcript:
    """Segments with ids 10, 13, 16, ... one after the other."""
    return Transcript("eng", [Segment(10 + 3 * i, i * seconds, (i + 1) * seconds, t) for i, t in enumerate(texts)])


def same_speech(alone: np.ndarray, batched: np.ndarray) -> None:
    """Speech of the same text: the tiny model speaks two units (40 ms) per character, give or take one unit,
    since transformers keeps the end-of-sentence token of a batch's shorter texts (one more character)."""
    assert 0 <= batched.size - alone.size <= 320


def translator(store, **kw):
    c = cfg(**kw)
    selection = registry.select("translate", "auto", c, SPA)
    assert selection.backend.name == "seamless"
    return registry.engine(selection.backend, c), selection


def test_t2st_gives_text_and_16k_speech_per_segment(store):
    engine, selection = translator(store)
    tr = transcript(TEXTS)
    assert len(TEXTS) > BATCH_SIZE  # two batches
    result = engine.translate(tr, SPA, np.zeros((2, SR * len(TEXTS)), np.float32), SR)
    assert result.kind == KIND_TRANSLATION and result.speech_sr == SPEECH_SR == 16_000
    ids = [s.id for s in tr.segments]
    assert list(result.texts) == ids
    empty = ids[TEXTS.index("")]
    assert result.texts[empty] == "" and empty not in result.speech
    assert set(result.speech) == set(ids) - {empty}
    for seg_id, wav in result.speech.items():
        assert wav.dtype == np.float32 and wav.ndim == 1 and wav.size >= 320 and np.isfinite(wav).all()
        assert result.texts[seg_id]


def test_t2st_batching_keeps_each_result_with_its_segment(store):
    """Batched (sorted by length, padded) results equal one-segment calls, whatever the input order."""
    engine, _ = translator(store)
    texts = [t for t in TEXTS if t]
    batched = engine.translate(transcript(texts), SPA, np.zeros((1, 1)), SR)
    assert len(set(batched.texts.values())) > 3  # the tiny model's output does depend on its input
    reordered = transcript(texts)
    reordered.segments.reverse()
    again = engine.translate(reordered, SPA, np.zeros((1, 1)), SR)
    assert again.texts == batched.texts
    for seg in transcript(texts).segments[:4]:
        alone = engine.translate(Transcript("eng", [seg]), SPA, np.zeros((1, 1)), SR)
        assert alone.texts[seg.id] == batched.texts[seg.id]
        same_speech(alone.speech[seg.id], batched.speech[seg.id])


def test_s2st_cuts_each_segment_from_the_vocals(store):
    engine, _ = translator(store, seamless_mode="s2st")
    rng = np.random.default_rng(1)
    vocals = (rng.normal(0, 0.1, (2, SR * 10)) * np.sin(np.linspace(0, 60, SR * 10))).astype(np.float32)
    tr = Transcript("und", [Segment(i, 1.0 * i, 1.0 * i + 0.9) for i in range(9)] + [Segment(99, 11.0, 12.0)])
    result = engine.translate(tr, FRA, vocals, SR)
    assert list(result.texts) == [s.id for s in tr.segments] and result.speech_sr == 16_000
    assert result.texts[99] == "" and 99 not in result.speech  # beyond the end of the audio
    assert set(result.speech) == set(range(9))
    assert all(np.isfinite(w).all() and w.size for w in result.speech.values())
    assert len(set(result.texts.values()) - {""}) > 2  # what it says depends on what it hears
    for seg in tr.segments[:3]:  # equal-length inputs pad nothing: batched equals one-segment calls
        alone = engine.translate(Transcript("und", [seg]), FRA, vocals, SR)
        assert alone.texts[seg.id] == result.texts[seg.id]
        same_speech(alone.speech[seg.id], result.speech[seg.id])


def test_synthesize_speaks_other_translators_text(store):
    c = cfg(translator="subtitles")
    selection = registry.select("synthesize", "auto", c, SPA)
    assert selection.backend.name == "seamless"
    engine = registry.engine(selection.backend, c)
    audio, sr = engine.synthesize(["Hola, buenos días.", "", "Gracias por todo, de verdad."], SPA, [1.0, 0.5, 2.0])
    assert sr == 16_000 and len(audio) == 3
    assert audio[1].size == 0 and audio[0].size and audio[2].size
    assert all(a.dtype == np.float32 for a in audio)
    # one model in memory serves both stages
    assert engine.model is registry.engine(registry.select("translate", "seamless", c, SPA).backend, c).model


def test_language_mapping_and_refusals(store):
    sel = registry.backends("translate")
    seamless = next(b for b in sel if b.name == "seamless")
    assert seamless.check(cfg(), get_language("zh")) is None  # zho is "cmn" for SeamlessM4T
    assert "does not speak Korean (kor)" in seamless.check(cfg(), get_language("ko"))
    assert "does not speak Dutch (nld)" in seamless.check(cfg(), get_language("nl"))
    assert "s2st" in seamless.check(cfg(source_language="und"), SPA)
    assert "source language" in seamless.check(cfg(source_language="nld"), SPA)
    assert seamless.check(cfg(source_language="und", seamless_mode="s2st"), SPA) is None
    with pytest.raises(BadInputError, match="seamless-mode 't2tt'"):  # refused by the config itself
        cfg(seamless_mode="t2tt")
    with pytest.raises(BadInputError, match="cannot be used: .*does not speak Korean"):
        registry.select("translate", "seamless", cfg(), get_language("ko"))
    auto = registry.select("translate", "auto", cfg(), get_language("ko"))
    assert auto.backend.name != "seamless"
    assert any(n.startswith("'seamless'") and "Korean" in n for n in auto.skipped)


def test_provenance_and_licence_notice(store):
    engine, selection = translator(store)
    notice = next(n for n in selection.notices if n.startswith("NOTICE"))
    assert "seamless-tiny" in notice and "CC-BY-NC-4.0" in notice and "non-commercial" in notice
    prov = engine.provenance()
    entry = store.entry(TINY)
    assert prov["files"] == {f.name: f.sha256 for f in entry.files}
    assert prov["licence"] == "CC-BY-NC-4.0" and prov["non_commercial"] is True
    assert prov["licence_notice"] == notice
    assert prov["model"] == TINY and prov["backend"] == "seamless" and "transformers 5." in prov["library"]
    assert prov["settings"]["mode"] == "t2st" and prov["settings"]["speech_sr"] == 16_000


def test_missing_weights_one_sentence_and_auto_skips(store):
    real = cfg(seamless_model="seamless-m4t-v2-large")
    with pytest.raises(MissingWeightsError) as err:
        registry.select("translate", "seamless", real, SPA)
    msg = str(err.value)
    assert "\n" not in msg and "lssd models pull seamless-m4t-v2-large" in msg and "models import" in msg
    auto = registry.select("translate", "auto", real, SPA)
    assert auto.backend.name != "seamless"
    assert any("'seamless-m4t-v2-large' is not in the model store" in n for n in auto.notices)
    assert not any(n.startswith("NOTICE") for n in auto.notices)  # the licence only matters when it is used


def test_broken_checkpoint_is_one_sentence(store):
    c = cfg(seamless_model="seamless-broken", device="cpu")
    selection = registry.select("translate", "seamless", c, SPA)
    with pytest.raises(LssdError) as err:
        registry.engine(selection.backend, c)
    assert "could not load SeamlessM4T v2 'seamless-broken'" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.weights
def test_real_model_translates_and_speaks():
    real = DubConfig(langs=[SPA], source_language="eng")
    if not get_store().is_present(real.seamless_model):
        pytest.skip(f"{real.seamless_model} is not in the model store")
    engine = registry.engine(registry.select("translate", "seamless", real, SPA).backend, real)
    result = engine.translate(Transcript("eng", [Segment(0, 0.0, 2.0, "Thank you very much.")]), SPA,
                              np.zeros((1, SR * 2), np.float32), SR)
    assert "gracias" in result.texts[0].lower()
    assert 0.4 < result.speech[0].size / SPEECH_SR < 5.0
