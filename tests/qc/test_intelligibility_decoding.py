"""QC's intelligibility transcribes with greedy beam search (faster-whisper's temperature fallback
samples from a generator seeded per run, so the same dub gave another CER on another run) and loads
Whisper base once per process, not once per track."""

from __future__ import annotations

import numpy as np

from lssd import langid
from lssd.qc import intelligibility


def test_transcription_is_greedy_and_the_model_loads_once(monkeypatch):
    loads, calls = [], []
    real_load = langid.load_model

    def counting_load(folder):
        model = real_load(folder)
        loads.append(folder)
        real_transcribe = model.transcribe

        def recording_transcribe(audio, **kwargs):
            calls.append(kwargs)
            return real_transcribe(audio, **kwargs)

        model.transcribe = recording_transcribe
        return model

    monkeypatch.setattr(langid, "load_model", counting_load)
    intelligibility._model.cache_clear()
    try:
        t = np.arange(intelligibility.SR) / intelligibility.SR
        tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        for _ in range(2):
            intelligibility.transcribe(tone, "spa")
    finally:
        intelligibility._model.cache_clear()
    assert len(loads) == 1
    assert [c.get("temperature") for c in calls] == [0.0, 0.0]
