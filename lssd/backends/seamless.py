"""SeamlessM4T v2 through transformers: the paper's translation step, producing speech as well as text.

One loaded model serves two backends named "seamless":

* translate — ``--seamless-mode t2st`` (the paper's default): each segment's transcript text → target
  text and target speech in one ``generate`` call per batch; ``s2st``: each segment's original speech
  (cut from the vocals, 16 kHz) → target speech and its text. A segment without source text gets no
  translation in T2ST mode (S2ST needs no text).
* synthesize — text from another translator (e.g. user subtitles) spoken by T2ST with the source
  language set to the target, so the text passes through unchanged in meaning.

SeamlessM4T v2 is published in one size (large, 2.3 B parameters; "medium" exists only for v1, another
architecture), so ``cfg.seamless_model`` names a catalog entry holding a v2 checkpoint. Its licence is
CC-BY-NC-4.0: every run that uses it says so (a notice from the registry, and ``licence_notice`` in the
provenance). Speech comes back at 16 kHz; the pipeline resamples.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from lssd import stages
from lssd.backends.registry import Backend, register
from lssd.config import SEAMLESS_MODES, DubConfig
from lssd.segments import KIND_TRANSLATION, Transcript
from lssd.sidecar import speaker_order
from lssd.errors import BadInputError, model_load_error
from lssd.languages import Language, find, get_language
from lssd.media import resample

SPEECH_SR = 16_000  # the model's input and output rate
BATCH_SIZE = 8  # segments per generate call; sorted by length so a batch pads little
MODES = SEAMLESS_MODES
MODEL_TYPE = "seamless_m4t_v2"

Result = tuple[str, np.ndarray]  # target text, target speech at SPEECH_SR


def _batches(sizes: list[int], size: int = BATCH_SIZE) -> Iterator[list[int]]:
    """Indices in batches of similar length (longest first)."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    for start in range(0, len(order), size):
        yield order[start : start + size]


class SeamlessM4T:
    """The model and its processor, loaded once per process for both backends."""

    def __init__(self, name: str, device: str):
        from lssd.store import get_store

        store = get_store()
        entry = store.entry(name)
        folder = store.require(entry.name, stage=stages.TRANSLATE)
        self.name = entry.name
        self.device = device
        self.licence_notice = entry.licence_notice()
        self._store_provenance = store.provenance(entry.name)
        try:
            self._load(folder)
        except Exception as exc:  # a corrupt or foreign checkpoint: one sentence, not a library traceback
            raise model_load_error(stages.TRANSLATE, f"SeamlessM4T v2 '{entry.name}' from {folder}", entry.name,
                                   exc) from None

    def _load(self, folder: Path) -> None:
        import torch
        from transformers import SeamlessM4TProcessor, SeamlessM4Tv2Model

        from lssd.hf import quiet_transformers

        self.dtype = torch.float16 if self.device == "cuda" else torch.float32  # fp16 halves 9 GB on a GPU
        with quiet_transformers():
            self.processor = SeamlessM4TProcessor.from_pretrained(folder)
            # safetensors only: no pickle in the folder is ever read, whatever else was copied there
            self.model = SeamlessM4Tv2Model.from_pretrained(folder, dtype=self.dtype, use_safetensors=True,
                                                            weights_only=True).to(self.device).eval()

    def text_to_speech(self, texts: list[str], src: str, tgt: str, speaker_id: int | None = None) -> list[Result]:
        """T2ST: texts in seamless language ``src`` → (text, speech) in ``tgt``, in input order;
        ``speaker_id`` picks the vocoder's voice (None: its default)."""
        def inputs(batch: list[str]) -> dict:
            return self.processor(text=batch, src_lang=src, return_tensors="pt", padding=True)

        return self._run(texts, [len(t) for t in texts], inputs, tgt, speaker_id)

    def speech_to_speech(self, audios: list[np.ndarray], tgt: str) -> list[Result]:
        """S2ST: mono 16 kHz speech → (text, speech) in ``tgt``, in input order."""
        def inputs(batch: list[np.ndarray]) -> dict:
            return self.processor(audio=batch, sampling_rate=SPEECH_SR, return_tensors="pt", padding=True)

        return self._run(audios, [a.size for a in audios], inputs, tgt)

    def _run(self, items: list, sizes: list[int], make_inputs: Callable[[list], dict], tgt: str,
             speaker_id: int | None = None) -> list[Result]:
        import torch

        results: list[Result | None] = [None] * len(items)
        for batch in _batches(sizes):
            inputs = {k: v.to(self.device) for k, v in make_inputs([items[i] for i in batch]).items()}
            if "input_features" in inputs:
                inputs["input_features"] = inputs["input_features"].to(self.dtype)
            with torch.inference_mode():
                voice = {} if speaker_id is None else {"speaker_id": speaker_id}
                out = self.model.generate(**inputs, tgt_lang=tgt, generate_speech=True,
                                          return_intermediate_token_ids=True, speech_do_sample=False, **voice)
            texts = self.processor.batch_decode(out.sequences, skip_special_tokens=True)
            waves = out.waveform.float().cpu().reshape(len(batch), -1).numpy()  # a batch of one comes squeezed
            lengths = out.waveform_lengths.reshape(-1).tolist()
            for row, i in enumerate(batch):
                length = int(lengths[row])
                results[i] = (texts[row].strip(), waves[row, :length].astype(np.float32))
        return results

    def provenance(self, settings: dict) -> dict:
        import torch

        return {
            **self._store_provenance,
            "backend": "seamless",
            "library": f"transformers {version('transformers')}, torch {torch.__version__}",
            "licence_notice": self.licence_notice,
            "settings": {"device": self.device, "dtype": str(self.dtype).removeprefix("torch."),
                         "batch_size": BATCH_SIZE, "speech_sr": SPEECH_SR, "speech_do_sample": False, **settings},
        }


class SeamlessTranslator:
    """The translate engine: T2ST from segment texts, or S2ST from segment audio."""

    def __init__(self, model: SeamlessM4T, mode: str):
        if mode not in MODES:
            raise BadInputError(f"unknown --seamless-mode {mode!r}; choose from: {', '.join(MODES)}")
        self.model = model
        self.mode = mode

    def translate(self, transcript: Transcript, target: Language, vocals: np.ndarray, sr: int):
        from lssd.backends.protocols import TranslationResult

        segments = transcript.segments
        if self.mode == "t2st":
            todo = [s for s in segments if s.text.strip()]
            src = get_language(transcript.language).seamless
            results = self.model.text_to_speech([s.text.strip() for s in todo], src, target.seamless)
        else:
            mono = vocals.mean(axis=0) if vocals.ndim == 2 else vocals
            cuts = {s.id: mono[max(int(round(s.start * sr)), 0) : max(int(round(s.end * sr)), 0)] for s in segments}
            todo = [s for s in segments if cuts[s.id].size]
            audios = [resample(np.asarray(cuts[s.id], np.float32), sr, SPEECH_SR) for s in todo]
            results = self.model.speech_to_speech(audios, target.seamless)
        texts = {s.id: "" for s in segments}
        speech: dict[int, np.ndarray] = {}
        for seg, (text, wav) in zip(todo, results, strict=True):
            texts[seg.id] = text
            if wav.size:
                speech[seg.id] = wav
        return TranslationResult(texts=texts, kind=KIND_TRANSLATION, speech=speech, speech_sr=SPEECH_SR)

    def provenance(self) -> dict:
        return self.model.provenance({"mode": self.mode})


class SeamlessSynthesizer:
    """The synthesize engine: T2ST with source = target language. SeamlessM4T has no speaking-rate
    control, so ``durations`` are left to the alignment stage's stretching."""

    def __init__(self, model: SeamlessM4T):
        self.model = model

    def choose_voices(self, lang: Language, speakers: list[dict]) -> dict[str, int]:
        """Speaker id → vocoder speaker: the n-th speaker (by id) gets id n − 1, wrapping at the vocoder's
        count; the first keeps SeamlessM4T's default voice (0)."""
        count = max(1, int(getattr(self.model.model.config, "vocoder_num_spkrs", 1)))
        return {s["id"]: i % count for i, s in enumerate(sorted(speakers, key=lambda s: speaker_order(s["id"])))}

    def synthesize(self, texts: list[str], lang: Language, durations: list[float],
                   voices: list[int] | None = None) -> tuple[list[np.ndarray], int]:
        audio = [np.zeros(0, np.float32) for _ in texts]
        ids = voices or [None] * len(texts)
        for voice in dict.fromkeys(ids):  # one generate call per voice (speaker_id is per call)
            spoken = [i for i, t in enumerate(texts) if t.strip() and ids[i] == voice]
            if not spoken:
                continue
            results = self.model.text_to_speech([texts[i].strip() for i in spoken], lang.seamless, lang.seamless,
                                                speaker_id=voice)
            for i, (_, wav) in zip(spoken, results, strict=True):
                audio[i] = wav
        return audio, SPEECH_SR

    def provenance(self) -> dict:
        return self.model.provenance({"mode": "t2st (source = target language)"})


_MODELS: dict[tuple[str, str], SeamlessM4T] = {}


def _model(cfg: DubConfig) -> SeamlessM4T:
    """One SeamlessM4T per model and device in this process, whichever stage asks first."""
    from lssd.hf import torch_device

    key = (cfg.seamless_model, torch_device(cfg.device))
    if key not in _MODELS:
        _MODELS[key] = SeamlessM4T(*key)
    return _MODELS[key]


@lru_cache(maxsize=4)
def _read_languages(folder: Path, stamp: int) -> tuple[frozenset[str], frozenset[str]] | str:
    try:
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
        gen = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"its configuration cannot be read ({type(exc).__name__})"
    if model_type != MODEL_TYPE:
        return f"it is not a SeamlessM4T v2 checkpoint (model_type {model_type!r})"
    return frozenset(gen.get("text_decoder_lang_to_code_id", {})), frozenset(gen.get("vocoder_lang_code_to_id", {}))


def _languages(name: str) -> tuple[frozenset[str], frozenset[str]] | str:
    """(languages it reads and writes as text, languages it speaks), from the model's own generation
    config — or why it cannot be used."""
    from lssd.store import get_store

    folder = get_store().path(name)
    gen = folder / "generation_config.json"
    return _read_languages(folder, gen.stat().st_mtime_ns if gen.is_file() else 0)


def _check_translate(cfg: DubConfig, lang: Language | None) -> str | None:
    langs = _languages(cfg.seamless_model)
    if isinstance(langs, str):
        return langs
    text_langs, speech_langs = langs
    if lang is not None and lang.seamless not in speech_langs:
        return f"{cfg.seamless_model} does not speak {lang.name} ({lang.seamless})"
    if cfg.seamless_mode == "t2st":
        source = cfg.source_language
        known = find(source)
        code = known.seamless if known else None
        if code is None or code not in text_langs:
            return (f"T2ST needs a source language {cfg.seamless_model} reads, not {source or 'unknown'} "
                    "(--seamless-mode s2st translates the speech instead)")
    return None


def _check_synthesize(cfg: DubConfig, lang: Language | None) -> str | None:
    langs = _languages(cfg.seamless_model)
    if isinstance(langs, str):
        return langs
    text_langs, speech_langs = langs
    if lang is not None and not (lang.seamless in speech_langs and lang.seamless in text_langs):
        return f"{cfg.seamless_model} does not speak {lang.name} ({lang.seamless})"
    return None


LABEL = "SeamlessM4T v2 (text or speech → speech)"

register(
    Backend(
        stage=stages.TRANSLATE,
        name="seamless",
        label=LABEL,
        priority=90,
        load=lambda cfg: SeamlessTranslator(_model(cfg), cfg.seamless_mode),
        model=lambda cfg: cfg.seamless_model,
        check=_check_translate,
        cache_key=lambda cfg: (cfg.seamless_mode, cfg.device),
        needs_text=lambda cfg: cfg.seamless_mode == "t2st",  # S2ST translates the speech itself
    )
)
register(
    Backend(
        stage=stages.SYNTHESIZE,
        name="seamless",
        label=LABEL,
        priority=90,
        load=lambda cfg: SeamlessSynthesizer(_model(cfg)),
        model=lambda cfg: cfg.seamless_model,
        check=_check_synthesize,
        cache_key=lambda cfg: (cfg.device,),
    )
)
