"""QC's intelligibility transcribes with greedy beam search (faster-whisper's temperature fallback
samples from a generator seeded per run, so the same dub gave another CER on another run) and loads
Whisper base once per process, not once per track (``langid.load_model`` caches it)."""

from __future__ import annotations

import numpy as np

from lssd import langid
from lssd.qc import intelligibility


def test_transcription_is_greedy_and_the_model_loads_once(monkeypatch):
    langid.load_model.cache_clear()
    model = langid.load_model(str(langid.model_folder()))
    calls = []
    real_transcribe = model.transcribe

    def recording_transcribe(audio, **kwargs):
        calls.append(kwargs)
        return real_transcribe(audio, **kwargs)

    monkeypatch.setattr(model, "transcribe", recording_transcribe)
    t = np.arange(intelligibility.SR) / intelligibility.SR
    tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for _ in range(2):
        intelligibility.transcribe(tone, "spa")
    assert langid.load_model.cache_info().misses == 1  # the model loaded above, reused by both tracks
    assert [c.get("temperature") for c in calls] == [0.0, 0.0]
