"""Seconds per second of audio for the SeamlessM4T v2 engines (T2ST, S2ST, synthesize) and kNN-VC.

    .venv/bin/python benchmarks/seamless_vc.py [--seconds 20] [--device auto|cpu|cuda] [--real] [--threads N]

By default the models are tiny random ones in their libraries' own formats (lssd.testing.tiny_models),
installed in a temporary store: the figures then measure what lssd and transformers do around a model
(batching, generation loops, resampling, WavLM + vocoder plumbing), not the real models' cost. ``--real``
uses seamless-m4t-v2-large and knn-vc from ``LSSD_MODEL_DIR``. Segments are 2.5 s of a synthetic voice
with one sentence each; kNN-VC converts each segment against 10 s of another voice. Every engine loads
once, runs one warm-up call, then is timed; "s/s" is run seconds per second of segment audio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from lssd.backends import registry
from lssd.config import DubConfig
from lssd.segments import Segment, Transcript
from lssd.languages import get_language

SR = 48_000
SEGMENT_S = 2.5
SENTENCES = ("The harbour wakes up early.", "Fishermen count their nets.", "A child runs along the pier.",
             "Nobody knows where he went.", "By noon the market is full.", "In the evening the storm arrives.")
REPO = Path(__file__).resolve().parents[1]


def voice(seconds: float, f0: float, seed: int = 0) -> np.ndarray:
    """A buzzy vowel-like tone with a syllable-rate envelope: speech-shaped enough for timing."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.08 * np.sin(2 * np.pi * 2.5 * t))) / SR
    buzz = sum(np.sin(h * phase) / h for h in range(1, 10))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.15 * buzz * envelope + np.random.default_rng(seed).normal(0, 0.005, t.size)).astype(np.float32)


def install_tiny(root: Path) -> tuple[str, str]:
    """Tiny SeamlessM4T and kNN-VC in a store at ``root``, named by the environment; their model names."""
    from lssd.store import get_store
    from lssd.testing import tiny_models as tiny

    catalog = Path(shutil.copytree(REPO / "models", root / "catalog"))
    folders = {
        "seamless-tiny": tiny.build_seamless(root / "seamless"),
        "wavlm-tiny": tiny.build_wavlm(root / "wavlm", original_format=True),
        "knn-vc-tiny": tiny.build_knn_vocoder(root / "vocoder"),
    }
    tiny.write_catalog_entry(catalog, "seamless-tiny", folders["seamless-tiny"], stage="translate",
                             stages=["translate", "synthesize"], library="transformers", licence="CC-BY-NC-4.0",
                             non_commercial=True)
    tiny.write_catalog_entry(catalog, "wavlm-tiny", folders["wavlm-tiny"], stage="voice-convert", library="knn-vc")
    tiny.write_catalog_entry(catalog, "knn-vc-tiny", folders["knn-vc-tiny"], stage="voice-convert", library="knn-vc",
                             requires=["wavlm-tiny"])
    os.environ["LSSD_CATALOG_DIR"] = str(catalog)
    os.environ["LSSD_MODEL_DIR"] = str(root / "store")
    store = get_store(echo=lambda msg: None)
    for name, folder in folders.items():
        store.import_(name, folder)
    return "seamless-tiny", "knn-vc-tiny"


def measure(label: str, stage: str, cfg: DubConfig, warm: Callable, run: Callable, audio_s: float) -> None:
    t = time.perf_counter()
    engine = registry.engine(registry.select(stage, "seamless" if stage != "voice-convert" else "knn-vc", cfg,
                                             get_language("es")).backend, cfg)
    load_s = time.perf_counter() - t
    warm(engine)
    t = time.perf_counter()
    run(engine)
    run_s = time.perf_counter() - t
    print(f"{label:<22} load {load_s:6.2f} s   run {run_s:7.2f} s   {run_s / audio_s:7.3f} s/s")


def bench(cfg: DubConfig, seconds: float) -> None:
    spanish = get_language("es")
    n = max(1, int(seconds / SEGMENT_S))
    segments = [Segment(i, i * SEGMENT_S, (i + 1) * SEGMENT_S, SENTENCES[i % len(SENTENCES)]) for i in range(n)]
    vocals = np.concatenate([voice(SEGMENT_S, 110 + 15 * (i % 4), seed=i) for i in range(n)])[None]
    transcript, first = Transcript("eng", segments), Transcript("eng", segments[:1])
    audio_s = n * SEGMENT_S
    for mode in ("t2st", "s2st"):
        c = replace(cfg, seamless_mode=mode)
        measure(f"translate {mode}", "translate", c, lambda e: e.translate(first, spanish, vocals, SR),
                lambda e: e.translate(transcript, spanish, vocals, SR), audio_s)
    texts = [s.text for s in segments]
    measure("synthesize", "synthesize", cfg, lambda e: e.synthesize(texts[:1], spanish, [SEGMENT_S]),
            lambda e: e.synthesize(texts, spanish, [SEGMENT_S] * n), audio_s)
    reference = voice(10.0, 220, seed=99)
    pieces = [vocals[0, int(s.start * SR) : int(s.end * SR)] for s in segments]
    measure("voice-convert knn-vc", "voice-convert", cfg, lambda e: e.convert(pieces[0], reference, SR),
            lambda e: [e.convert(p, reference, SR) for p in pieces], audio_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of segment audio per engine")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--real", action="store_true", help="use the real weights in LSSD_MODEL_DIR")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    import torch

    from lssd.hf import torch_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch_device(args.device)
    print(f"{'real' if args.real else 'tiny random'} models, device {device}, {torch.get_num_threads()} CPU threads, "
          f"{args.seconds:g} s of audio in {SEGMENT_S:g} s segments")
    cfg = DubConfig(langs=[get_language("es")], source_language="eng", device=device)
    if args.real:
        bench(cfg, args.seconds)
        return
    with tempfile.TemporaryDirectory(prefix="lssd-bench-") as tmp:
        seamless, vc = install_tiny(Path(tmp))
        bench(replace(cfg, seamless_model=seamless, vc_model=vc), args.seconds)


if __name__ == "__main__":
    main()
