"""benchmarks/gpu_build.py (issue 20): its CPU smoke run prints what a worker spends in model vs CPU
stages, and its real sizes are the published architectures (counted on the meta device: no memory)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_build.py"


def _bench():
    spec = importlib.util.spec_from_file_location("gpu_build", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_build", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _millions(*models) -> float:
    return sum(p.numel() for m in models for p in m.parameters()) / 1e6


def test_real_sizes_are_the_published_architectures():
    from whisper.model import AudioEncoder, ModelDimensions, TextDecoder

    bench, meta = _bench(), torch.device("meta")
    d = ModelDimensions(**bench.SIZES["real"]["whisper"])
    with meta:  # Whisper's own __init__ makes a sparse buffer, which meta tensors lack: its two halves
        whisper = [AudioEncoder(d.n_mels, d.n_audio_ctx, d.n_audio_state, d.n_audio_head, d.n_audio_layer),
                   TextDecoder(d.n_vocab, d.n_text_ctx, d.n_text_state, d.n_text_head, d.n_text_layer)]
    assert _millions(*whisper) == pytest.approx(1550, rel=0.01)  # Whisper large-v3: 1550 M
    (demucs,) = bench.separate("real", meta)
    assert demucs.params / 1e6 == pytest.approx(42.0, rel=0.01)  # htdemucs: 80 MiB of fp16
    translate, synthesize = bench.seamless("real", meta)
    assert translate.params / 1e9 == pytest.approx(2.3, rel=0.02)  # seamless-m4t-v2-large: 2.3 B
    assert synthesize.params == 0  # the vocoder is part of the one SeamlessM4T model, counted once
    wavlm, vocoder = bench.knn_vc_models("real", meta)
    assert wavlm.config.hidden_size == 1024 and len(wavlm.encoder.layers) == 6  # WavLM-Large, up to layer 6
    assert vocoder.lin_pre.in_features == 1024  # kNN-VC's HiFi-GAN reads WavLM-Large features


def _run(tmp_path, *extra: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SCRIPT.parents[1]),
                                                                      os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(SCRIPT), "--size", "tiny", "--device", "cpu", "--audio-s", "2",
                          "--clip-s", "6", *extra], capture_output=True, text=True, env=env, timeout=500, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def _workers(out: str) -> list[tuple[str, str, str]]:
    return re.findall(r"  (\d) worker\(s\)/GPU: (\d+) clips/h .* ≈ ([\d.]+) h on one GPU", out)


def test_tiny_cpu_run_prints_model_stage_share(tmp_path):
    out = _run(tmp_path, "--save-cpu-profile", str(tmp_path / "profile.json"))
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert {"input", "align", "match-loudness", "remux", "transcribe"} <= set(profile["per_min"])
    for stage in ("separate", "transcribe", "translate", "synthesize", "voice-convert"):
        assert f'"stage": "{stage}"' in out
    share = re.search(r"worker wall time \(.*measured here\): model stages (\d+) %, CPU stages (\d+) %", out)
    assert share, out
    assert 98 <= int(share[1]) + int(share[2]) <= 102
    projected = re.findall(r"a worker spends (\d+) % of its time in model stages", out)
    assert len(projected) == 2, out  # one and three languages
    workers = _workers(out)
    assert "modelled (not measured" in out and [w[0] for w in workers] == ["1", "2", "4"], out
    assert float(workers[0][2]) >= float(workers[-1][2]) > 0  # more workers per GPU never slower


@pytest.mark.slow
def test_measured_workers_run_as_processes(tmp_path):
    """The path a GPU node takes (N worker processes, each loading its models), run on the CPU."""
    profile = tmp_path / "profile.json"  # a node without lssd's offline stack takes its CPU stages from a file
    profile.write_text(json.dumps({"machine": "elsewhere", "clip_s": 30, "clip_wall_s": 9.0, "per_min": {
        "input": 1.0, "separate": 2.0, "transcribe": 3.0, "align": 0.5, "match-loudness": 0.5, "remux": 1.0,
        "qc": 2.0, "other": 0.5}}))
    out = _run(tmp_path, "--measure", "--rounds", "1", "--cpu-profile", str(profile))
    assert "from " + str(profile) + ", measured on elsewhere" in out
    assert "measured: N worker processes on cpu" in out and [w[0] for w in _workers(out)] == ["1", "2", "4"], out


@pytest.mark.slow
def test_real_size_stages_run(monkeypatch):
    """Every real-size stage's code runs before a GPU is lent: the 2.3 B SeamlessM4T and WavLM-Large on
    the meta device (shapes only), htdemucs and the unit vocoder on the CPU, Whisper at large-v3's widths
    with one layer each side (the other 31 are the same code)."""
    bench = _bench()
    meta, cpu = torch.device("meta"), torch.device("cpu")
    with torch.inference_mode():
        translate, _ = bench.seamless("real", meta)
        translate.run(4.0)
        (convert,) = bench.voice_convert("real", meta)
        convert.run(4.0)
        (separate,) = bench.separate("real", cpu)
        separate.run(2.0)
        from transformers import SeamlessM4Tv2Config
        from transformers.models.seamless_m4t_v2.modeling_seamless_m4t_v2 import SeamlessM4Tv2CodeHifiGan

        vocoder = SeamlessM4Tv2CodeHifiGan(SeamlessM4Tv2Config()).eval()
        units = torch.randint(0, vocoder.config.unit_hifi_gan_vocab_size, (2, bench.UNITS_PER_S * 4))
        zero = torch.zeros(2, 1, dtype=torch.long)
        wave = vocoder(input_ids=units, speaker_id=zero, lang_id=zero)[0]
        assert wave.shape[0] == 2 and wave.shape[-1] > 16_000 * 3  # ≈4 s of 16 kHz speech per segment
        monkeypatch.setitem(bench.SIZES["real"], "whisper",
                            {**bench.SIZES["real"]["whisper"], "n_audio_layer": 1, "n_text_layer": 1})
        (transcribe,) = bench.transcribe("real", cpu)
        transcribe.run(2.0)
