"""Silero VAD through ONNX Runtime (lssd.dsp.silero) against the silero-vad wheel's own TorchScript model
and span rule: same probabilities, same spans, and no torch in the process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lssd.dsp import silero
from lssd.dsp import testsignals as ts
from lssd.media import resample
from tests.dsp.conftest import need_espeak


@pytest.fixture(scope="module")
def speech16k() -> np.ndarray:
    need_espeak()
    voice = ts.espeak("The harbour wakes up early, long before the first ferry leaves.", sr=16_000)
    pause = np.zeros(16_000 // 2, dtype=np.float32)
    rng = np.random.default_rng(0)
    x = np.concatenate([pause, voice, pause, pause, voice[: voice.size // 2], pause])
    return (x + 0.003 * rng.standard_normal(x.size)).astype(np.float32)


def test_probabilities_match_the_torchscript_model(speech16k):
    import torch
    from silero_vad import load_silero_vad

    model = load_silero_vad()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = np.pad(speech16k, (0, -speech16k.size % silero.WINDOW))
        with torch.inference_mode():
            expected = np.array([float(model(torch.from_numpy(w.copy()), 16_000).item())
                                 for w in x.reshape(-1, silero.WINDOW)])
    finally:
        torch.set_num_threads(threads)
    # given in uneven blocks: the state carries across them
    cut = 7 * silero.WINDOW
    got = silero.load().probabilities([speech16k[:cut], speech16k[cut:]])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    assert np.array_equal(got >= 0.5, expected >= 0.5)
    assert (expected >= 0.5).sum() > 20 and (expected < 0.35).sum() > 20  # speech and silence both present


def _random_probabilities(rng: np.random.Generator, n: int) -> np.ndarray:
    """Runs of speech and silence with noisy edges, like a VAD's output."""
    out, level = [], rng.random() < 0.5
    while len(out) < n:
        run = int(rng.integers(1, 60))
        base = 0.8 if level else 0.1
        out.extend(np.clip(base + rng.normal(0, 0.2, run), 0, 1))
        level = not level
    return np.asarray(out[:n])


@pytest.mark.parametrize("kwargs", [
    {},
    {"min_silence_s": 0.3},
    {"max_speech_s": 2.0},
    {"max_speech_s": 0.9, "min_silence_s": 0.05},
])
def test_spans_are_silero_vads_own_rule(kwargs):
    from silero_vad import get_speech_timestamps_from_probs

    names = {"min_silence_s": "min_silence_duration_ms", "max_speech_s": "max_speech_duration_s"}
    theirs_kwargs = {names[k]: (int(v * 1000) if k == "min_silence_s" else v) for k, v in kwargs.items()}
    rng = np.random.default_rng(1)
    spans = 0
    for trial in range(60):
        probs = _random_probabilities(rng, int(rng.integers(1, 400)))
        n = probs.size * silero.WINDOW - int(rng.integers(0, silero.WINDOW))
        theirs = get_speech_timestamps_from_probs(list(probs), audio_length_samples=n, **theirs_kwargs)
        ours = silero.speech_timestamps(probs, n, **kwargs)
        assert ours == [(s["start"], s["end"]) for s in theirs], f"trial {trial}"
        spans += len(ours)
    assert spans > 100  # the comparison covered many spans, not empty lists


def test_vad_runs_without_importing_torch():
    code = ("import sys, numpy as np; from lssd.backends import vad; "
            "x = np.zeros(16000, np.float32); x[4000:12000] = np.sin(np.arange(8000) / 3); "
            "vad.speech_spans(x); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_resampled_input_gives_the_same_spans_as_native_16k(speech16k):
    """A 48 kHz copy (what the pipeline holds) goes through the same model after resampling."""
    from lssd.backends import vad

    at48 = resample(speech16k, 16_000, 48_000)
    assert vad.speech_spans(vad.to_mono16k(at48, 48_000)) == vad.speech_spans(speech16k)


def test_streamed_spans_of_a_track_are_the_whole_signals(speech16k, tmp_path, monkeypatch):
    """track_speech_spans never builds the 16 kHz signal, and finds what speech_spans finds on it."""
    from lssd.backends import vad
    from lssd.media import open_wav, write_audio

    stereo = np.stack([resample(speech16k, 16_000, 48_000)] * 2)
    write_audio(tmp_path / "v.wav", stereo, 48_000)
    mapped = open_wav(tmp_path / "v.wav", 48_000)
    monkeypatch.setattr("lssd.dsp.mono16k.BLOCK", 48_000 + 17)  # many blocks, none a whole number of windows
    whole = vad.speech_spans(vad.to_mono16k(mapped, 48_000), max_speech=1.5)
    assert len(whole) >= 2
    assert vad.track_speech_spans(mapped, 48_000, max_speech=1.5) == whole
