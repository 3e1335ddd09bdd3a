"""openai-whisper, in-process: the paper's transcription step (§6 step 2), with word timestamps.

The paper hard-codes English; here the language is the user's (``--source-lang``) or detected, from the
30 s of vocals with the most energy rather than the first 30 s, which in a film are often music or silence.

Whisper's segments follow its 30 s decoding windows; dubbing needs stretches of speech that one
synthesised utterance can fill. So segments are rebuilt from the words: a new one after a pause longer
than :data:`SEGMENT_PAUSE` (or :data:`SENTENCE_PAUSE` where Whisper ended a segment), and one longer than
:data:`MAX_SEGMENT` is cut between words — sentence ends first, then clause ends, then the widest gap —
never leaving a piece shorter than ``cfg.min_segment``. Segments shorter than that stay in the transcript
(the original-language SRT keeps their text, the sidecar marks them not dubbed): the pipeline skips
dubbing them with the same ``cfg.min_segment``, as the paper skips those under 0.5 s.

Decoding is whisper's own (greedy, with its temperature fallback) with ``condition_on_previous_text``
off, which stops one misheard window from dragging the next into a repetition loop; torch's generator is
seeded for each call, so the fallback's sampling gives the same transcript on every run.
"""

from __future__ import annotations

import base64
import gzip
from importlib.metadata import version
from pathlib import Path

import numpy as np

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.config import DubConfig
from lssd.segments import Segment, Transcript, Word
from lssd.errors import BadInputError, LssdError, model_load_error
from lssd.langid import WINDOW_S, loudest_window
from lssd.languages import find, get_language
from lssd.media import resample

STAGE = stages.TRANSCRIBE
SAMPLE_RATE = 16_000  # what Whisper listens at
SEGMENT_PAUSE = 0.6  # seconds of silence between words that always end a segment
SENTENCE_PAUSE = 0.3  # ... that end one where Whisper ended a segment (usually a sentence)
MAX_SEGMENT = 15.0  # seconds: longer segments are cut between words, for synthesis and alignment
SEED = 0


def model_name(asr_model: str) -> str:
    """``--asr-model large-v3`` → catalog entry ``whisper-large-v3``."""
    return asr_model if asr_model.startswith("whisper-") else f"whisper-{asr_model}"


def whisper_code(language: str | None) -> str | None:
    """ISO 639 code → Whisper's language code; None (or ``und``) means detect."""
    from whisper.tokenizer import LANGUAGES

    if not language or language == "und":
        return None
    lang = get_language(language)
    if lang.iso1 not in LANGUAGES:
        raise BadInputError(f"openai-whisper cannot transcribe {lang.name}; give source subtitles instead")
    return lang.iso1


def iso3(code: str) -> str:
    """Whisper's code → ISO 639-2/T; a language lssd does not know keeps Whisper's code, for the pipeline to report."""
    lang = find(code)
    return lang.iso3 if lang else code


def _words(raw_segments: list[dict], duration: float) -> tuple[list[Word], list[str], set[int]]:
    """Whisper's words in time order, inside ``[0, duration]`` and not overlapping; their raw text (with
    Whisper's leading spaces, so that joining them is right for languages written without spaces); and the
    indices of words that end a Whisper segment."""
    words: list[Word] = []
    raw: list[str] = []
    ends: set[int] = set()
    for seg in raw_segments:
        for w in seg.get("words") or []:
            start = max(float(w["start"]), words[-1].end if words else 0.0)
            if not w["word"].strip() or start >= duration:  # Whisper pads the audio: words can fall past its end
                continue
            end = min(max(float(w["end"]), start), duration)
            words.append(Word(round(start, 3), round(end, 3), w["word"].strip()))
            raw.append(w["word"])
        if words:
            ends.add(len(words) - 1)
    return words, raw, ends


def group(words: list[Word], ends: set[int], min_piece: float) -> list[range]:
    """Word index ranges, one per segment: split at pauses, then long ones cut (see the module docstring)."""
    groups: list[range] = []
    first = 0
    for i in range(1, len(words) + 1):
        gap = words[i].start - words[i - 1].end if i < len(words) else None
        if gap is None or gap > SEGMENT_PAUSE or (i - 1 in ends and gap > SENTENCE_PAUSE):
            groups += _cut_long(words, range(first, i), min_piece)
            first = i
    return groups


def _cut_long(words: list[Word], span: range, min_piece: float) -> list[range]:
    if words[span[-1]].end - words[span[0]].start <= MAX_SEGMENT:
        return [span]

    def score(i: int) -> float:  # a cut after word i
        mark = words[i].word[-1]
        return words[i + 1].start - words[i].end + (1.0 if mark in ".?!。？！" else 0.5 if mark in ",;:、，" else 0.0)

    start, stop = words[span[0]].start, words[span[-1]].end
    cuts = [i for i in span[:-1] if words[i].end - start >= min_piece and stop - words[i + 1].start >= min_piece]
    if not cuts:
        return [span]
    cut = max(cuts, key=score) + 1
    return _cut_long(words, range(span.start, cut), min_piece) + _cut_long(words, range(cut, span.stop), min_piece)


def build_segments(raw_segments: list[dict], duration: float, min_piece: float) -> list[Segment]:
    """Whisper's ``transcribe()["segments"]`` (with words) → the pipeline's segments, snapped to word times."""
    words, raw, ends = _words(raw_segments, duration)
    segments = []
    for span in group(words, ends, min_piece) if words else []:
        seg_words = words[span.start : span.stop]
        if seg_words[-1].end > seg_words[0].start:  # a lone zero-length word is no stretch of speech
            text = "".join(raw[span.start : span.stop]).strip()
            segments.append(Segment(len(segments), seg_words[0].start, seg_words[-1].end, text, seg_words))
    return segments


def _heads_fit(heads: bytes, dims) -> bool:
    """Whether a tuned alignment-head mask (as whisper stores it) belongs to a model of these dimensions."""
    mask = np.frombuffer(gzip.decompress(base64.b85decode(heads)), dtype=bool)
    return mask.size == dims.n_text_layer * dims.n_text_head


def _load_model(checkpoint: Path, device: str):
    """The model on ``device`` and which cross-attention heads time its words, or one sentence."""
    import whisper

    from lssd.store.safe_load import explain

    try:  # whisper reads the file through torch's restricted unpickler (weights_only=True): no code runs
        model = whisper.load_model(str(checkpoint), device=device, download_root=str(checkpoint.parent))
    except Exception as exc:  # a refused, corrupt or foreign checkpoint, or no such device: one sentence
        reason = explain(checkpoint, exc)
        if isinstance(reason, LssdError):
            raise reason from None
        raise model_load_error(STAGE, f"the Whisper checkpoint {checkpoint}", checkpoint.parent.name, reason) from None
    # Loaded from a path, whisper does not know which model this is and times words with every head of
    # the upper half; the checkpoint's file name (large-v3.pt, ...) finds its tuned heads.
    heads = whisper._ALIGNMENT_HEADS.get(checkpoint.stem)
    if heads is not None and _heads_fit(heads, model.dims):
        model.set_alignment_heads(heads)
        return model, f"tuned for {checkpoint.stem}"
    return model, "default (upper half of the decoder)"


class WhisperRecognizer:
    """The loaded model; ``transcribe`` may be called for any number of clips."""

    def __init__(self, name: str, device: str, min_segment: float):
        from lssd.store import get_store

        store = get_store()
        entry = store.entry(name)
        folder = store.require(entry.name, stage=STAGE)
        checkpoint = next((folder / f.name for f in entry.files if f.name.endswith(".pt")), None)
        if checkpoint is None:
            raise LssdError(f"{STAGE}: catalog entry '{entry.name}' lists no Whisper .pt checkpoint")
        self.name = entry.name
        self._store = store.provenance(entry.name)
        self.model, self.alignment_heads = _load_model(checkpoint, device)
        self.device = device
        self.fp16 = device.startswith("cuda")  # whisper computes in fp16 only on a GPU
        self.min_segment = min_segment

    def detect_language(self, audio: np.ndarray) -> str:
        """Whisper's code for the language of the loudest 30 s of mono 16 kHz ``audio``."""
        import torch
        import whisper

        if not self.model.is_multilingual:
            return "en"
        window = whisper.pad_or_trim(torch.from_numpy(loudest_window(audio)))
        mel = whisper.log_mel_spectrogram(window, self.model.dims.n_mels).to(self.model.device)
        with torch.inference_mode():
            _, probs = self.model.detect_language(mel.half() if self.fp16 else mel)
        return max(probs, key=probs.get)

    def transcribe(self, vocals: np.ndarray, sr: int, language: str | None) -> Transcript:
        import torch
        import whisper

        audio = np.atleast_2d(np.asarray(vocals, dtype=np.float32)).mean(axis=0)
        audio = np.ascontiguousarray(resample(audio, sr, SAMPLE_RATE), dtype=np.float32)
        code = whisper_code(language) or self.detect_language(audio)
        if code != "en" and not self.model.is_multilingual:
            raise BadInputError(f"{self.name} is English-only and cannot transcribe {get_language(code).name}")
        gpus = [torch.device(self.device).index or 0] if self.fp16 else []
        with torch.random.fork_rng(devices=gpus):
            torch.manual_seed(SEED)
            result = whisper.transcribe(self.model, audio, language=code, task="transcribe", word_timestamps=True,
                                        condition_on_previous_text=False, fp16=self.fp16, verbose=None)
        segments = build_segments(result["segments"], audio.size / SAMPLE_RATE, self.min_segment)
        return Transcript(language=iso3(code), segments=segments, backend="whisper")

    def provenance(self) -> dict:
        import torch

        return {
            "backend": "whisper",
            "library": f"openai-whisper {version('openai-whisper')}, torch {torch.__version__}",
            "model": self.name,
            "files": self._store["files"],
            "source": self._store["source"],
            "licence": self._store["licence"],
            "settings": {"device": self.device, "fp16": self.fp16, "word_timestamps": True,
                         "alignment_heads": self.alignment_heads, "condition_on_previous_text": False,
                         "temperature": "whisper default fallback 0.0-1.0", "seed": SEED,
                         "language_detection": f"loudest {WINDOW_S:g} s", "segment_pause_s": SEGMENT_PAUSE,
                         "sentence_pause_s": SENTENCE_PAUSE, "max_segment_s": MAX_SEGMENT,
                         "min_piece_s": self.min_segment},
        }


def _load(cfg: DubConfig) -> WhisperRecognizer:
    from lssd.hf import torch_device

    return WhisperRecognizer(model_name(cfg.asr_model), torch_device(cfg.device), cfg.min_segment)


def _cache_key(cfg: DubConfig) -> tuple:
    from lssd.hf import torch_device
    from lssd.store import get_store

    return (torch_device(cfg.device), cfg.min_segment, str(get_store().path(model_name(cfg.asr_model))))


register(
    Backend(
        stage=STAGE,
        name="whisper",
        label="openai-whisper (word timestamps)",
        priority=90,
        load=_load,
        model=lambda cfg: model_name(cfg.asr_model),
        cache_key=_cache_key,
    )
)
