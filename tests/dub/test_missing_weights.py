"""Model-backed stages without weights: an explicit choice stops before any work in one sentence; ``auto``
falls back and prints why."""

from __future__ import annotations

import pytest

from .helpers import run_cli

EXPLICIT = [
    ("--separator", "demucs", "htdemucs"),
    ("--asr", "whisper", "whisper-large-v3"),
    ("--translator", "seamless", "seamless-m4t-v2-large"),
    ("--tts", "seamless", "seamless-m4t-v2-large"),
    ("--vc", "knn-vc", "knn-vc-wavlm-large"),  # the vocoder needs its WavLM first
]


@pytest.mark.parametrize(("option", "backend", "model"), EXPLICIT)
def test_explicit_model_backend_without_weights_fails_in_one_sentence(short_clip, tmp_path, capsys,
                                                                     option, backend, model):
    workdir = tmp_path / "w"
    code, log = run_cli(["dub", short_clip.path, "--langs", "es", option, backend, "-o", tmp_path,
                         "--workdir", workdir], capsys)
    assert code == 3 and "Traceback" not in log
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    sentence = " ".join(log[log.index("error:"):].split())  # Rich may wrap the one line
    assert f"model '{model}'" in sentence and "is not in the model store" in sentence
    assert f"lssd models pull {model}" in sentence and f"lssd models import {model} DIR" in sentence
    assert not workdir.exists()  # stopped before any work


def test_auto_falls_back_with_a_printed_notice(short_clip, tmp_path, capsys):
    code, log = run_cli(["dub", short_clip.path, "--langs", "es", "-o", tmp_path, "--workdir", tmp_path / "w"],
                        capsys)
    assert code == 0, log
    flat = " ".join(log.split())
    assert "separate: using 'dsp' because 'htdemucs' is not in the model store" in flat
    assert "voice-convert: using 'world' because 'knn-vc' is not in the model store" in flat
    assert "translate: using 'apertium' because 'seamless-m4t-v2-large' is not in the model store" in flat
