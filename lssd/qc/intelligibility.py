"""Can the dub be understood? Whisper base (multilingual, bundled: :mod:`lssd.langid`) transcribes a track
in the language it speaks, and the character error rate against the text lssd synthesized says how much of
it comes across. Characters, not words: a listener understands "barco" in "los barcos", and CER stays
meaningful for languages without spaces. jiwer (Apache-2.0, on RapidFuzz) computes it.

Pseudo-text has nothing to understand (n/a); a track without a sidecar has no reference text (n/a).
"""

from __future__ import annotations

import unicodedata

import numpy as np

from lssd.backends.faster_whisper import DECODING  # greedy beam search: the same CER on every run

SR = 16_000


def normalise(text: str) -> str:
    """Lower case, punctuation and symbols dropped, spaces collapsed: what a listener cannot hear."""
    kept = "".join(c if not unicodedata.category(c).startswith(("P", "S")) else " " for c in text.lower())
    return " ".join(kept.split())


def cer(hypothesis: str, reference: str) -> float | None:
    """Character error rate of ``hypothesis`` against ``reference`` after :func:`normalise`, capped at 1
    (insertions can push a raw CER past it); None without a reference."""
    import jiwer

    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return None
    return min(1.0, float(jiwer.cer(ref, hyp))) if hyp else 1.0


def transcribe(audio16k: np.ndarray, language: str) -> str:
    """What Whisper base hears in mono 16 kHz ``audio16k``, told the language (ISO 639 code)."""
    from lssd.langid import load_model, model_folder, whisper_code

    model = load_model(str(model_folder()))  # cached there: once per process
    pieces, _ = model.transcribe(np.asarray(audio16k, dtype=np.float32), language=whisper_code(language),
                                 vad_filter=True, condition_on_previous_text=False, **DECODING)
    return " ".join(p.text.strip() for p in pieces)


def measure(audio16k: np.ndarray, language: str | None, reference: str | None) -> tuple[float | None, str | None]:
    """(CER, what was heard) of one track; (None, None) when there is nothing to compare."""
    if not language or not reference or not normalise(reference) or audio16k.size < SR // 2 or not np.any(audio16k):
        return None, None
    heard = transcribe(audio16k, language)
    return cer(heard, reference), heard
